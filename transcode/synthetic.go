package transcode

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Synthetic describes a test source generated in-process by libavfilter (through the lavfi
// device), so benchmarks and tests need no media files. Its URL form is
//
//	synthetic:<kind>?size=1920x1080&fps=30&frames=300&audio=1
//
// with kind still, medium or high (the study's three motion classes). duration=10s may stand
// for frames; audio=0 drops the 440 Hz tone.
type Synthetic struct {
	Kind   string // still | medium | high
	Width  int    // default 1920
	Height int    // default 1080
	FPSNum int    // default 30
	FPSDen int    // default 1
	Frames int    // default 300
	Audio  bool   // default true: 48 kHz stereo sine
}

// SyntheticKinds are the motion classes, in the study's order.
var SyntheticKinds = []string{"still", "medium", "high"}

const syntheticScheme = "synthetic:"

func isSynthetic(u string) bool { return strings.HasPrefix(u, syntheticScheme) }

// URL renders s in the form ParseSynthetic reads.
func (s Synthetic) URL() string {
	return fmt.Sprintf("%s%s?size=%dx%d&fps=%d/%d&frames=%d&audio=%d", syntheticScheme, s.Kind,
		s.Width, s.Height, s.FPSNum, s.FPSDen, s.Frames, map[bool]int{false: 0, true: 1}[s.Audio])
}

// Duration is the source's length.
func (s Synthetic) Duration() time.Duration {
	return time.Duration(float64(s.Frames) * float64(s.FPSDen) / float64(s.FPSNum) * float64(time.Second))
}

// ParseSynthetic reads a synthetic: URL.
func ParseSynthetic(raw string) (Synthetic, error) {
	s := Synthetic{Width: 1920, Height: 1080, FPSNum: 30, FPSDen: 1, Frames: 300, Audio: true}
	rest, ok := strings.CutPrefix(raw, syntheticScheme)
	if !ok {
		return s, fmt.Errorf("synthetic source %q: want %s<kind>?...", raw, syntheticScheme)
	}
	kind, query, _ := strings.Cut(rest, "?")
	switch kind {
	case "still", "medium", "high":
		s.Kind = kind
	default:
		return s, fmt.Errorf("synthetic source: unknown kind %q (want still, medium or high)", kind)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return s, fmt.Errorf("synthetic source: %w", err)
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "size":
			w, h, ok := strings.Cut(v, "x")
			if s.Width, err = strconv.Atoi(w); err == nil && ok {
				s.Height, err = strconv.Atoi(h)
			}
			if err != nil || !ok || s.Width < 16 || s.Height < 16 || s.Width > 8192 || s.Height > 8192 {
				return s, fmt.Errorf("synthetic source: size %q: want WxH, each 16 to 8192", v)
			}
		case "fps":
			num, den, hasDen := strings.Cut(v, "/")
			if !hasDen {
				den = "1"
			}
			s.FPSNum, err = strconv.Atoi(num)
			if err == nil {
				s.FPSDen, err = strconv.Atoi(den)
			}
			if err != nil || s.FPSNum <= 0 || s.FPSDen <= 0 || float64(s.FPSNum)/float64(s.FPSDen) > 240 {
				return s, fmt.Errorf("synthetic source: fps %q: want N or N/D, at most 240", v)
			}
		case "frames":
			if s.Frames, err = strconv.Atoi(v); err != nil || s.Frames <= 0 {
				return s, fmt.Errorf("synthetic source: frames %q: want a positive integer", v)
			}
		case "duration":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return s, fmt.Errorf("synthetic source: duration %q: want e.g. 10s", v)
			}
			defer func() { s.Frames = max(1, int(d.Seconds()*float64(s.FPSNum)/float64(s.FPSDen)+0.5)) }()
		case "audio":
			s.Audio = v != "0" && v != "false"
		default:
			return s, fmt.Errorf("synthetic source: unknown parameter %q", key)
		}
	}
	return s, nil
}

// graph is the lavfi filter graph: out0 is video, out1 audio.
func (s Synthetic) graph() string {
	rate := fmt.Sprintf("%d/%d", s.FPSNum, s.FPSDen)
	size := fmt.Sprintf("%dx%d", s.Width, s.Height)
	var v string
	switch s.Kind {
	case "still":
		v = fmt.Sprintf("smptehdbars=size=%s:rate=%s", size, rate)
	case "medium":
		v = fmt.Sprintf("testsrc2=size=%s:rate=%s", size, rate)
	case "high":
		// Moving pattern under strong temporal noise: every pixel changes every frame, which
		// encoders find as hard as high motion.
		v = fmt.Sprintf("testsrc2=size=%s:rate=%s,noise=alls=40:allf=t+u", size, rate)
	}
	g := fmt.Sprintf("%s,format=yuv420p,trim=end_frame=%d[out0]", v, s.Frames)
	if s.Audio {
		secs := float64(s.Frames) * float64(s.FPSDen) / float64(s.FPSNum)
		g += fmt.Sprintf(";sine=frequency=440:beep_factor=4:sample_rate=48000,pan=stereo|c0=c0|c1=c0,atrim=end=%.6f[out1]", secs)
	}
	return g
}
