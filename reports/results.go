package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/abrfleet/abrfleet/internal/atomicfile"
)

// SchemaVersion is the version of the results file format written by Save
// and the only one Load accepts.
const SchemaVersion = 1

// Results is what one machine measured in one bench run.
type Results struct {
	Schema  int         `json:"schema"`
	RunID   string      `json:"run_id"`
	Started time.Time   `json:"started"`
	Profile string      `json:"profile"` // quick | study | custom
	Machine Machine     `json:"machine"`
	Batch   []BatchCase `json:"batch"`
	Live    []LiveCase  `json:"live"`
}

// Machine describes the machine a run measured.
type Machine struct {
	InstanceType        string   `json:"instance_type"` // "" when unknown
	Region              string   `json:"region"`
	InstanceSource      string   `json:"instance_source"` // imds | flag | unknown
	CPUModel            string   `json:"cpu_model"`
	Cores               int      `json:"cores"`
	MemoryMB            int      `json:"memory_mb"`
	GPUs                []string `json:"gpus"`
	FFmpegVersion       string   `json:"ffmpeg_version"`
	FFmpegConfiguration string   `json:"ffmpeg_configuration"`
	ProjectVersion      string   `json:"project_version"`
	GoVersion           string   `json:"go_version"`
	OS                  string   `json:"os"`
}

// BatchCase is the throughput of one encoder configuration at one level of
// parallelism, encoding one source into the whole ladder.
type BatchCase struct {
	Source      string        `json:"source"` // still | medium | high | a file name
	Width       int           `json:"width"`
	Height      int           `json:"height"`
	FPS         float64       `json:"fps"`
	Frames      int           `json:"frames"`
	Codec       string        `json:"codec"`
	Preset      string        `json:"preset"`
	Mode        string        `json:"mode"`     // batch | live: the rate control of the run
	Parallel    int           `json:"parallel"` // jobs run at once
	Unavailable bool          `json:"unavailable"`
	Reason      string        `json:"reason"`
	Runs        []float64     `json:"runs"`       // source frames/s over all jobs, one per repeat
	Throughput  Stats         `json:"throughput"` // Summarize(Runs)
	Rungs       []RungFigures `json:"rungs"`
}

// RungFigures is the output of one ladder rung.
type RungFigures struct {
	Name        string   `json:"name"`
	Width       int      `json:"width"`
	Height      int      `json:"height"`
	Bytes       int64    `json:"bytes"`
	BitrateKbps float64  `json:"bitrate_kbps"`
	PSNR        float64  `json:"psnr"`
	SSIM        float64  `json:"ssim"`
	XPSNR       float64  `json:"xpsnr"`
	VMAF        *float64 `json:"vmaf,omitempty"`
}

// LiveCase is how many live streams of one configuration a machine sustains.
type LiveCase struct {
	Source         string      `json:"source"`
	Width          int         `json:"width"`
	Height         int         `json:"height"`
	FPS            float64     `json:"fps"`
	Codec          string      `json:"codec"`
	Preset         string      `json:"preset"`
	SegmentSeconds float64     `json:"segment_seconds"`
	WindowSeconds  float64     `json:"window_seconds"`
	Unavailable    bool        `json:"unavailable"`
	Reason         string      `json:"reason"`
	Levels         []LiveLevel `json:"levels"`
	MaxSustained   int         `json:"max_sustained"`
}

// LiveLevel is one try at running Streams live streams at once.
type LiveLevel struct {
	Streams        int             `json:"streams"`
	Sustained      bool            `json:"sustained"`
	OnTime         float64         `json:"on_time"` // worst stream's fraction of segments done before their deadline
	MaxLagSegments float64         `json:"max_lag_segments"`
	Segments       []SegmentTiming `json:"segments"`
}

// SegmentTiming is when one segment was due and when it was done, in seconds
// since its level started.
type SegmentTiming struct {
	Stream   int     `json:"stream"`
	Index    int     `json:"index"`
	Deadline float64 `json:"deadline"`
	Done     float64 `json:"done"`
}

// Load reads and validates results files. Errors name the file.
func Load(paths ...string) ([]*Results, error) {
	if len(paths) == 0 {
		return nil, errors.New("no results files")
	}
	var (
		out  []*Results
		errs []error
	)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := decode(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// decode parses one results file: its syntax and schema version first, so
// that a newer file fails on its version rather than on a field it added,
// then the whole file, rejecting unknown fields.
func decode(data []byte) (*Results, error) {
	var v struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	switch {
	case v.Schema == nil:
		return nil, errors.New("no schema version")
	case *v.Schema != SchemaVersion:
		return nil, fmt.Errorf("schema %d is not supported (want %d)", *v.Schema, SchemaVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	r := new(Results)
	if err := dec.Decode(r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate reports every problem it finds, one a line.
func (r *Results) Validate() error {
	var c checker
	if r.Schema != SchemaVersion {
		c.addf("schema %d is not supported (want %d)", r.Schema, SchemaVersion)
	}
	if r.RunID == "" {
		c.addf("run_id is empty")
	}
	if r.Started.IsZero() {
		c.addf("started is not set")
	}
	c.oneOf("profile", r.Profile, "quick", "study", "custom")
	m := r.Machine
	c.oneOf("machine.instance_source", m.InstanceSource, "imds", "flag", "unknown")
	c.nonNegInt("machine.cores", m.Cores)
	c.nonNegInt("machine.memory_mb", m.MemoryMB)

	seen := map[string]int{}
	for i, b := range r.Batch {
		p := fmt.Sprintf("batch[%d]", i)
		c.oneOf(p+".mode", b.Mode, "batch", "live")
		c.caseCommon(p, b.Codec, b.Width, b.Height, b.FPS, b.Unavailable, b.Reason)
		c.nonNegInt(p+".frames", b.Frames)
		c.nonNegInt(p+".parallel", b.Parallel)
		k := fmt.Sprintf("%s %s %s %s parallel %d", b.Source, b.Codec, b.Preset, b.Mode, b.Parallel)
		if j, ok := seen[k]; ok {
			c.addf("%s repeats batch[%d] (%s)", p, j, k)
		} else {
			seen[k] = i
		}
		if b.Unavailable {
			continue
		}
		if b.Parallel < 1 {
			c.addf("%s.parallel is %d, want at least 1", p, b.Parallel)
		}
		if len(b.Runs) == 0 {
			c.addf("%s has no runs", p)
		}
		for j, v := range b.Runs {
			c.nonNeg(fmt.Sprintf("%s.runs[%d]", p, j), v)
		}
		if b.Throughput.N != len(b.Runs) {
			c.addf("%s.throughput.n is %d, want %d (len(runs))", p, b.Throughput.N, len(b.Runs))
		}
		for j, g := range b.Rungs {
			q := fmt.Sprintf("%s.rungs[%d]", p, j)
			c.nonNegInt(q+".width", g.Width)
			c.nonNegInt(q+".height", g.Height)
			if g.Bytes < 0 {
				c.addf("%s.bytes is %d, want at least 0", q, g.Bytes)
			}
			c.nonNeg(q+".bitrate_kbps", g.BitrateKbps)
			c.nonNeg(q+".psnr", g.PSNR)
			c.unit(q+".ssim", g.SSIM)
			c.nonNeg(q+".xpsnr", g.XPSNR)
			if g.VMAF != nil {
				c.nonNeg(q+".vmaf", *g.VMAF)
			}
		}
	}

	seen = map[string]int{}
	for i, l := range r.Live {
		p := fmt.Sprintf("live[%d]", i)
		c.caseCommon(p, l.Codec, l.Width, l.Height, l.FPS, l.Unavailable, l.Reason)
		c.nonNeg(p+".segment_seconds", l.SegmentSeconds)
		c.nonNeg(p+".window_seconds", l.WindowSeconds)
		c.nonNegInt(p+".max_sustained", l.MaxSustained)
		k := fmt.Sprintf("%s %s %s", l.Source, l.Codec, l.Preset)
		if j, ok := seen[k]; ok {
			c.addf("%s repeats live[%d] (%s)", p, j, k)
		} else {
			seen[k] = i
		}
		for j, v := range l.Levels {
			q := fmt.Sprintf("%s.levels[%d]", p, j)
			c.nonNegInt(q+".streams", v.Streams)
			c.unit(q+".on_time", v.OnTime)
			c.nonNeg(q+".max_lag_segments", v.MaxLagSegments)
			for k, s := range v.Segments {
				sp := fmt.Sprintf("%s.segments[%d]", q, k)
				c.nonNegInt(sp+".stream", s.Stream)
				c.nonNegInt(sp+".index", s.Index)
				c.nonNeg(sp+".deadline", s.Deadline)
				c.nonNeg(sp+".done", s.Done)
			}
		}
	}
	return c.err()
}

// Save writes r as indented JSON, atomically: readers see the old file or
// the whole new one. It does not validate.
func (r *Results) Save(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}

// checker collects validation problems.
type checker struct{ errs []error }

func (c *checker) addf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *checker) err() error { return errors.Join(c.errs...) }

func (c *checker) nonNeg(path string, v float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		c.addf("%s is %v, want a finite number", path, v)
	case v < 0:
		c.addf("%s is %v, want at least 0", path, v)
	}
}

func (c *checker) nonNegInt(path string, v int) {
	if v < 0 {
		c.addf("%s is %d, want at least 0", path, v)
	}
}

func (c *checker) unit(path string, v float64) {
	if !(v >= 0 && v <= 1) {
		c.addf("%s is %v, want within [0, 1]", path, v)
	}
}

func (c *checker) oneOf(path, v string, known ...string) {
	if !slices.Contains(known, v) {
		c.addf("%s is %q, want one of %s", path, v, strings.Join(known, ", "))
	}
}

func (c *checker) caseCommon(p, codec string, w, h int, fps float64, unavailable bool, reason string) {
	if codec == "" {
		c.addf("%s.codec is empty", p)
	}
	c.nonNegInt(p+".width", w)
	c.nonNegInt(p+".height", h)
	c.nonNeg(p+".fps", fps)
	if unavailable && reason == "" {
		c.addf("%s is unavailable without a reason", p)
	}
}
