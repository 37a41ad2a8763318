package hls

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Segment is one media segment of a media playlist.
type Segment struct {
	URI      string  // as written, usually relative to the playlist
	Duration float64 // seconds, from #EXTINF
}

// MediaPlaylist is what ParseMediaPlaylist reads from a media playlist.
type MediaPlaylist struct {
	Version         int       // #EXT-X-VERSION
	TargetDuration  int       // #EXT-X-TARGETDURATION, seconds
	MediaSequence   int       // #EXT-X-MEDIA-SEQUENCE
	InitURI         string    // URI of the first #EXT-X-MAP, e.g. "init.mp4"
	Segments        []Segment // in playlist order
	Ended           bool      // #EXT-X-ENDLIST present
	PlaylistType    string    // #EXT-X-PLAYLIST-TYPE: "VOD", "EVENT" or ""
	Discontinuities int       // count of #EXT-X-DISCONTINUITY
}

// ParseMediaPlaylist parses a media playlist such as FFmpeg's hls muxer
// writes. It fails if the playlist does not start with #EXTM3U, if a known
// tag has a malformed value, if an #EXTINF is not followed by a segment URI
// or a segment URI is not preceded by one, or if it is a master playlist.
// Comments and unknown tags are ignored.
func ParseMediaPlaylist(data []byte) (*MediaPlaylist, error) {
	p, err := parseMediaPlaylist(data)
	if err != nil {
		return nil, fmt.Errorf("hls: media playlist: %w", err)
	}
	return p, nil
}

func parseMediaPlaylist(data []byte) (*MediaPlaylist, error) {
	lines := strings.Split(strings.TrimPrefix(string(data), "\uFEFF"), "\n")
	if strings.TrimSpace(lines[0]) != "#EXTM3U" {
		return nil, errors.New("missing #EXTM3U header")
	}
	p := &MediaPlaylist{}
	var (
		dur    float64
		hasInf bool // dur is waiting for its segment URI
	)
	for i, line := range lines[1:] {
		n := i + 2
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			if !hasInf {
				return nil, fmt.Errorf("line %d: segment URI %q without #EXTINF", n, line)
			}
			p.Segments = append(p.Segments, Segment{URI: line, Duration: dur})
			hasInf = false
			continue
		}
		tag, value, _ := strings.Cut(line, ":")
		var err error
		switch tag {
		case "#EXTINF":
			if hasInf {
				return nil, fmt.Errorf("line %d: #EXTINF after an #EXTINF without segment URI", n)
			}
			d, _, _ := strings.Cut(value, ",")
			dur, err = parseDuration(d)
			hasInf = true
		case "#EXT-X-VERSION":
			p.Version, err = parseCount(value)
		case "#EXT-X-TARGETDURATION":
			p.TargetDuration, err = parseCount(value)
		case "#EXT-X-MEDIA-SEQUENCE":
			p.MediaSequence, err = parseCount(value)
		case "#EXT-X-PLAYLIST-TYPE":
			if value != "VOD" && value != "EVENT" {
				err = fmt.Errorf("unknown type %q", value)
			}
			p.PlaylistType = value
		case "#EXT-X-MAP":
			if p.InitURI == "" {
				p.InitURI, err = mapURI(value)
			}
		case "#EXT-X-DISCONTINUITY":
			p.Discontinuities++
		case "#EXT-X-ENDLIST":
			p.Ended = true
		case "#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF":
			err = errors.New("master playlist tag in a media playlist")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, tag, err)
		}
	}
	if hasInf {
		return nil, errors.New("last #EXTINF without segment URI")
	}
	return p, nil
}

// parseDuration parses an #EXTINF duration in seconds.
func parseDuration(s string) (float64, error) {
	d, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

// parseCount parses a non-negative decimal integer.
func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return n, nil
}

// mapURI returns the URI attribute of an #EXT-X-MAP attribute list.
func mapURI(list string) (string, error) {
	for list != "" {
		name, rest, ok := strings.Cut(list, "=")
		if !ok || name == "" {
			return "", fmt.Errorf("malformed attribute list %q", list)
		}
		var value string
		if q, quoted := strings.CutPrefix(rest, `"`); quoted {
			end := strings.IndexByte(q, '"')
			if end < 0 || (end+1 < len(q) && q[end+1] != ',') {
				return "", fmt.Errorf("malformed quoted string in %q", list)
			}
			value, rest = q[:end], strings.TrimPrefix(q[end+1:], ",")
		} else {
			value, rest, _ = strings.Cut(rest, ",")
		}
		if name == "URI" {
			if value == "" {
				return "", errors.New("empty URI")
			}
			return value, nil
		}
		list = rest
	}
	return "", errors.New("no URI attribute")
}

// Bandwidth measures a rendition on disk: dir holds the media playlist named
// playlist and the segments it lists. peak is the highest segment bitrate,
// size*8/duration, and average is the total size*8 over the total duration,
// both in bits/s rounded up; the init segment counts towards neither. It fails
// if the playlist has no segments, a segment has no duration, or a segment
// file is missing.
func Bandwidth(dir, playlist string) (peak, average int64, err error) {
	name := filepath.Join(dir, playlist)
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, 0, fmt.Errorf("hls: bandwidth: %w", err)
	}
	p, err := parseMediaPlaylist(data)
	if err != nil {
		return 0, 0, fmt.Errorf("hls: bandwidth of %s: %w", name, err)
	}
	if len(p.Segments) == 0 {
		return 0, 0, fmt.Errorf("hls: bandwidth of %s: no segments", name)
	}
	var (
		maxRate, seconds float64
		size             int64
	)
	for _, s := range p.Segments {
		if strings.Contains(s.URI, "://") || path.IsAbs(s.URI) {
			return 0, 0, fmt.Errorf("hls: bandwidth of %s: segment %q is not a relative path", name, s.URI)
		}
		if s.Duration <= 0 {
			return 0, 0, fmt.Errorf("hls: bandwidth of %s: segment %q has no duration", name, s.URI)
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(s.URI)))
		if err != nil {
			return 0, 0, fmt.Errorf("hls: bandwidth of %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return 0, 0, fmt.Errorf("hls: bandwidth of %s: segment %q is not a regular file", name, s.URI)
		}
		maxRate = max(maxRate, float64(fi.Size()*8)/s.Duration)
		size += fi.Size()
		seconds += s.Duration
	}
	return int64(math.Ceil(maxRate)), int64(math.Ceil(float64(size*8) / seconds)), nil
}
