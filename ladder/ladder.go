// Package ladder defines ABR ladders (the set of renditions one input becomes),
// fits them to a probed source, and chooses the encoder AVOptions for each
// rendition.
//
// A ladder is written in landscape terms; [Ladder.Fit] turns it into concrete
// [Target]s in the source's display orientation, and [EncoderSettings] turns a
// target into the options passed to avcodec_open2.
package ladder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"
)

// Limits enforced by [Ladder.Validate].
const (
	maxRungs       = 10
	minDim         = 2
	maxDim         = 8192
	minShortSide   = 100 // below this the long side's ±1 px rounding can exceed the 1% aspect tolerance
	maxBitrateKbps = 200000
	minMaxFPS      = 1
	maxMaxFPS      = 240
	minGOPSeconds  = 0.5
	maxGOPSeconds  = 10

	defaultMaxFPS     = 60
	defaultGOPSeconds = 2
	hevcBitrateRatio  = 0.65
)

// Ladder and rung names end up in file names, playlist entries and metric
// labels, so they are restricted to namePattern.
const namePatternText = `[a-z0-9][a-z0-9_-]{0,31}`

var namePattern = regexp.MustCompile(`^` + namePatternText + `$`)

// Rung is one rendition as the ladder defines it, in landscape terms (Width >=
// Height for the default 16:9 ladder). Only the short side, which must be at
// least 100, decides the output size; [Ladder.Fit] derives the long side from
// the source's aspect ratio.
type Rung struct {
	// Name labels the rendition, e.g. "1080p"; it must match
	// [a-z0-9][a-z0-9_-]{0,31} and be unique within the ladder.
	Name string `json:"name" yaml:"name"`
	// Width in pixels, even, 2 to 8192.
	Width int `json:"width" yaml:"width"`
	// Height in pixels, even, 2 to 8192.
	Height int `json:"height" yaml:"height"`
	// BitrateKbps is the H.264 target in live mode and the VBV cap in batch
	// mode, 1 to 200000 kb/s.
	BitrateKbps int `json:"bitrate_kbps" yaml:"bitrate_kbps"`
	// HEVCBitrateKbps is the same figure for x265 and hevc_nvenc.
	// Default (0): round(0.65 * BitrateKbps).
	HEVCBitrateKbps int `json:"hevc_bitrate_kbps,omitempty" yaml:"hevc_bitrate_kbps,omitempty"`
}

// ShortSide returns the smaller of Width and Height, the dimension that
// decides the rung's output size.
func (r Rung) ShortSide() int { return min(r.Width, r.Height) }

// hevcKbps resolves the HEVCBitrateKbps default.
func (r Rung) hevcKbps() int {
	if r.HEVCBitrateKbps != 0 {
		return r.HEVCBitrateKbps
	}
	return max(1, int(math.Round(hevcBitrateRatio*float64(r.BitrateKbps))))
}

// Ladder is an ordered set of rungs plus the frame-rate and keyframe policy
// shared by all of them.
type Ladder struct {
	// Name identifies the ladder; same rules as [Rung.Name].
	Name string `json:"name" yaml:"name"`
	// Rungs lists 1 to 10 renditions, conventionally largest first.
	Rungs []Rung `json:"rungs" yaml:"rungs"`
	// MaxFPS caps the output frame rate, 1 to 240. Default (0): 60.
	MaxFPS float64 `json:"max_fps,omitempty" yaml:"max_fps,omitempty"`
	// GOPSeconds is the keyframe interval, 0.5 to 10 s. Default (0): 2.
	GOPSeconds float64 `json:"gop_seconds,omitempty" yaml:"gop_seconds,omitempty"`
}

func (l Ladder) maxFPS() float64 {
	if l.MaxFPS == 0 {
		return defaultMaxFPS
	}
	return l.MaxFPS
}

func (l Ladder) gopSeconds() float64 {
	if l.GOPSeconds == 0 {
		return defaultGOPSeconds
	}
	return l.GOPSeconds
}

// Default returns the built-in five-rung 16:9 ladder named "default":
// 1080p 1920x1080 6000, 720p 1280x720 3000, 480p 854x480 1500,
// 360p 640x360 800 and 160p 284x160 250 kb/s, with the default MaxFPS (60)
// and GOPSeconds (2). Each call returns a fresh copy.
func Default() Ladder {
	return Ladder{
		Name: "default",
		Rungs: []Rung{
			{Name: "1080p", Width: 1920, Height: 1080, BitrateKbps: 6000},
			{Name: "720p", Width: 1280, Height: 720, BitrateKbps: 3000},
			{Name: "480p", Width: 854, Height: 480, BitrateKbps: 1500},
			{Name: "360p", Width: 640, Height: 360, BitrateKbps: 800},
			{Name: "160p", Width: 284, Height: 160, BitrateKbps: 250},
		},
	}
}

// Named returns a built-in ladder by name. The only built-in is "default".
func Named(name string) (Ladder, error) {
	switch name {
	case "default":
		return Default(), nil
	}
	return Ladder{}, fmt.Errorf("ladder: unknown ladder %q (want default)", name)
}

// Validate reports the first problem with l, or nil. Zero MaxFPS, GOPSeconds
// and HEVCBitrateKbps are valid and mean their documented defaults.
func (l Ladder) Validate() error {
	switch {
	case l.Name == "":
		return errors.New("ladder: empty name")
	case !namePattern.MatchString(l.Name):
		return fmt.Errorf("ladder: name %q must match %s", l.Name, namePatternText)
	}
	// Written as !(in range) so that NaN is rejected too.
	if l.MaxFPS != 0 && !(l.MaxFPS >= minMaxFPS && l.MaxFPS <= maxMaxFPS) {
		return fmt.Errorf("ladder: max_fps %v must be between %d and %d", l.MaxFPS, minMaxFPS, maxMaxFPS)
	}
	if l.GOPSeconds != 0 && !(l.GOPSeconds >= minGOPSeconds && l.GOPSeconds <= maxGOPSeconds) {
		return fmt.Errorf("ladder: gop_seconds %v must be between %v and %v", l.GOPSeconds, minGOPSeconds, maxGOPSeconds)
	}
	switch {
	case len(l.Rungs) == 0:
		return errors.New("ladder: no rungs")
	case len(l.Rungs) > maxRungs:
		return fmt.Errorf("ladder: more than %d rungs (got %d)", maxRungs, len(l.Rungs))
	}
	seen := make(map[string]bool, len(l.Rungs))
	for i, r := range l.Rungs {
		if r.Name == "" {
			return fmt.Errorf("ladder: rung %d: empty name", i+1)
		}
		if err := r.validate(); err != nil {
			return fmt.Errorf("ladder: rung %d (%q): %w", i+1, r.Name, err)
		}
		if seen[r.Name] {
			return fmt.Errorf("ladder: rung %d (%q): duplicate name", i+1, r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

// validate checks a rung whose name is known to be non-empty; uniqueness is
// the ladder's business.
func (r Rung) validate() error {
	if !namePattern.MatchString(r.Name) {
		return fmt.Errorf("name must match %s", namePatternText)
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"width", r.Width}, {"height", r.Height}} {
		if d.v < minDim || d.v > maxDim {
			return fmt.Errorf("%s %d must be between %d and %d", d.name, d.v, minDim, maxDim)
		}
		if d.v%2 != 0 {
			return fmt.Errorf("%s %d is odd", d.name, d.v)
		}
	}
	if s := r.ShortSide(); s < minShortSide {
		return fmt.Errorf("short side %d must be at least %d", s, minShortSide)
	}
	if r.BitrateKbps < 1 || r.BitrateKbps > maxBitrateKbps {
		return fmt.Errorf("bitrate_kbps %d must be between 1 and %d", r.BitrateKbps, maxBitrateKbps)
	}
	if r.HEVCBitrateKbps < 0 || r.HEVCBitrateKbps > maxBitrateKbps {
		return fmt.Errorf("hevc_bitrate_kbps %d must be 0 or between 1 and %d", r.HEVCBitrateKbps, maxBitrateKbps)
	}
	return nil
}

// Parse reads a ladder from YAML, or from JSON if the first non-space byte is
// '{', and validates it. Unknown fields and anything after the first document
// are errors. Zero-valued optional fields are left zero and mean their
// documented defaults.
func Parse(data []byte) (Ladder, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Ladder{}, errors.New("ladder: empty document")
	}
	var (
		l   Ladder
		err error
	)
	if trimmed[0] == '{' {
		err = decodeJSON(trimmed, &l)
	} else {
		err = decodeYAML(data, &l)
	}
	if err != nil {
		return Ladder{}, err
	}
	if err := l.Validate(); err != nil {
		return Ladder{}, err
	}
	return l, nil
}

func decodeJSON(data []byte, l *Ladder) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(l); err != nil {
		return fmt.Errorf("ladder: parse: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the JSON document")
		}
		return fmt.Errorf("ladder: parse: %w", err)
	}
	return nil
}

func decodeYAML(data []byte, l *Ladder) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(l); err != nil {
		if err == io.EOF { // only comments or document markers
			return errors.New("ladder: empty document")
		}
		return fmt.Errorf("ladder: parse: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err == nil {
			err = errors.New("more than one YAML document")
		}
		return fmt.Errorf("ladder: parse: %w", err)
	}
	// yaml.v3 truncates a float stored into an int (width: 640.5 gives 640)
	// where encoding/json refuses it. Every rung field is an int or a string,
	// so refuse floats there too.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("ladder: parse: %w", err)
	}
	if n := rungFloat(&doc); n != nil {
		return fmt.Errorf("ladder: parse: line %d: %s is not an integer", n.Line, n.Value)
	}
	return nil
}

// rungFloat returns the first float-valued rung field in a ladder document.
func rungFloat(doc *yaml.Node) *yaml.Node {
	deref := func(n *yaml.Node) *yaml.Node {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		return n
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := deref(doc.Content[0])
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "rungs" {
			continue
		}
		for _, rung := range deref(root.Content[i+1]).Content {
			rung = deref(rung)
			for j := 1; j < len(rung.Content); j += 2 {
				if v := deref(rung.Content[j]); v.ShortTag() == "!!float" {
					return v
				}
			}
		}
	}
	return nil
}

// Load reads and parses the ladder file at path; errors name the path.
func Load(path string) (Ladder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Ladder{}, fmt.Errorf("ladder: %w", err)
	}
	l, err := Parse(data)
	if err != nil {
		return Ladder{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}
