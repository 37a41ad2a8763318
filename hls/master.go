package hls

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/abrfleet/abrfleet/internal/atomicfile"
)

// Variant is one EXT-X-STREAM-INF entry of a master playlist.
type Variant struct {
	URI              string   // relative, e.g. "720p/index.m3u8"
	Bandwidth        int64    // bits/s, peak segment bitrate (video+audio)
	AverageBandwidth int64    // bits/s
	Codecs           []string // e.g. ["avc1.64001f", "mp4a.40.2"]
	Width, Height    int
	FrameRate        float64 // written with 3 decimals, e.g. 29.970
}

// Master renders a master playlist: #EXTM3U, #EXT-X-VERSION:7 and
// #EXT-X-INDEPENDENT-SEGMENTS, then an EXT-X-STREAM-INF tag with BANDWIDTH,
// AVERAGE-BANDWIDTH, CODECS, RESOLUTION and FRAME-RATE, followed by the URI
// line, for each variant in the given order.
//
// It fails if there are no variants or a variant is invalid: an empty URI or
// one with quotes or line breaks, a non-positive bandwidth or average
// bandwidth, an average above the peak, a non-positive size or frame rate, no
// codecs, or a codec with quotes or commas.
func Master(variants []Variant) ([]byte, error) {
	if len(variants) == 0 {
		return nil, errors.New("hls: master playlist: no variants")
	}
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, v := range variants {
		if err := v.validate(); err != nil {
			return nil, fmt.Errorf("hls: master playlist: variant %d (%q): %w", i, v.URI, err)
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\",RESOLUTION=%dx%d,FRAME-RATE=%.3f\n%s\n",
			v.Bandwidth, v.AverageBandwidth, strings.Join(v.Codecs, ","), v.Width, v.Height, v.FrameRate, v.URI)
	}
	return b.Bytes(), nil
}

func (v *Variant) validate() error {
	switch {
	case v.URI == "" || strings.ContainsAny(v.URI, "\"\r\n") || strings.HasPrefix(v.URI, "#"):
		return errors.New("URI must be non-empty, without quotes or line breaks, and not start with #")
	case v.Bandwidth <= 0:
		return fmt.Errorf("bandwidth %d is not positive", v.Bandwidth)
	case v.AverageBandwidth <= 0 || v.AverageBandwidth > v.Bandwidth:
		return fmt.Errorf("average bandwidth %d is not in (0, %d]", v.AverageBandwidth, v.Bandwidth)
	case v.Width <= 0 || v.Height <= 0:
		return fmt.Errorf("resolution %dx%d is not positive", v.Width, v.Height)
	case !(v.FrameRate > 0) || math.IsInf(v.FrameRate, 0):
		return fmt.Errorf("frame rate %v is not positive and finite", v.FrameRate)
	case len(v.Codecs) == 0:
		return errors.New("no codecs")
	}
	for _, c := range v.Codecs {
		if c == "" || strings.ContainsAny(c, "\",\r\n") {
			return fmt.Errorf("codec %q is empty or holds quotes, commas or line breaks", c)
		}
	}
	return nil
}

// WriteFileAtomic writes data to path so that readers never see a partial file (see
// internal/atomicfile); errors name the path.
func WriteFileAtomic(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("hls: write %s: %w", path, err)
	}
	return nil
}
