package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"
)

// Quality is a rendition's fidelity to its source, scaled to the rendition's size.
type Quality struct {
	Frames int      `json:"frames"`
	PSNR   float64  `json:"psnr"`           // dB, mean of per-frame PSNR over Y, U and V (identical frames count as 100)
	SSIM   float64  `json:"ssim"`           // mean of per-frame SSIM (All)
	XPSNR  float64  `json:"xpsnr"`          // dB, mean of per-frame luma XPSNR (identical frames count as 100)
	VMAF   *float64 `json:"vmaf,omitempty"` // only when the linked FFmpeg has libvmaf
}

// HasVMAF reports whether the linked FFmpeg was built with libvmaf.
func HasVMAF() bool { return astiav.FindFilterByName("libvmaf") != nil }

// MeasureQuality compares distorted (a rendition) against reference (its source) in-process:
// one filter graph reads both with movie sources, scales the reference to the rendition's size
// (bicubic, as the ladder does), and runs psnr, ssim and xpsnr side by side, plus libvmaf when
// present. Both files must be local and trusted: this is a benchmark tool, not an input path.
func MeasureQuality(ctx context.Context, reference, distorted string, width, height int) (Quality, error) {
	var q Quality
	metrics := []string{"psnr", "ssim", "xpsnr"}
	if HasVMAF() {
		metrics = append(metrics, "libvmaf")
	}
	n := len(metrics)
	graph := fmt.Sprintf("movie=%s,setpts=PTS-STARTPTS,format=yuv420p,split=%d%s;"+
		"movie=%s,setpts=PTS-STARTPTS,scale=%d:%d:flags=bicubic,format=yuv420p,split=%d%s",
		filterQuote(distorted), n, labels("d", n), filterQuote(reference), width, height, n, labels("r", n))
	for i, m := range metrics {
		graph += fmt.Sprintf(";[d%d][r%d]%s[o%d]", i, i, m, i)
	}

	g := astiav.AllocFilterGraph()
	if g == nil {
		return q, newError(CodeInternal, "quality: allocate graph", nil)
	}
	defer g.Free()
	sinkFilter := astiav.FindFilterByName("buffersink")
	if sinkFilter == nil {
		return q, newError(CodeInternal, "quality", errors.New("no buffersink filter"))
	}
	inputs := astiav.AllocFilterInOut()
	defer inputs.Free()
	sinks := make([]*astiav.BuffersinkFilterContext, n)
	var next *astiav.FilterInOut
	for i := n - 1; i >= 0; i-- {
		s, err := g.NewBuffersinkFilterContext(sinkFilter, fmt.Sprintf("out%d", i))
		if err != nil {
			return q, newError(CodeInternal, "quality: sink", err)
		}
		sinks[i] = s
		io := inputs
		if i > 0 {
			io = astiav.AllocFilterInOut() // owned by the list; freed with inputs
		}
		io.SetName(fmt.Sprintf("o%d", i))
		io.SetFilterContext(s.FilterContext())
		io.SetPadIdx(0)
		io.SetNext(next)
		next = io
	}
	if err := g.Parse(graph, inputs, nil); err != nil {
		return q, newError(CodeInternal, "quality: parse graph", err)
	}
	if err := g.Configure(); err != nil {
		return q, newError(CodeInputInvalid, "quality: configure graph", err)
	}
	frame := astiav.AllocFrame()
	if frame == nil {
		return q, newError(CodeInternal, "quality: allocate frame", nil)
	}
	defer frame.Free()

	sums := make([]float64, 4)
	counts := make([]int, 4)
	done := make([]bool, n)
	for remaining := n; remaining > 0; {
		if ctx.Err() != nil {
			return q, ctxError(ctx, "quality")
		}
		for i, s := range sinks {
			if done[i] {
				continue
			}
			err := s.GetFrame(frame, astiav.NewBuffersinkFlags())
			if errors.Is(err, astiav.ErrEof) {
				done[i] = true
				remaining--
				continue
			}
			if errors.Is(err, astiav.ErrEagain) {
				continue
			}
			if err != nil {
				return q, newError(CodeInternal, "quality: "+metrics[i], err)
			}
			md := frame.Metadata()
			switch metrics[i] {
			case "psnr":
				q.Frames++
				addMeta(md, "lavfi.psnr.psnr_avg", &sums[0], &counts[0])
			case "ssim":
				addMeta(md, "lavfi.ssim.All", &sums[1], &counts[1])
			case "xpsnr":
				addMeta(md, "lavfi.xpsnr.xpsnr.y", &sums[2], &counts[2])
			case "libvmaf":
				addMeta(md, "lavfi.vmaf.vmaf", &sums[3], &counts[3])
			}
			frame.Unref()
		}
	}
	mean := func(i int) float64 {
		if counts[i] == 0 {
			return 0
		}
		return sums[i] / float64(counts[i])
	}
	q.PSNR, q.SSIM, q.XPSNR = mean(0), mean(1), mean(2)
	if counts[3] > 0 {
		v := mean(3)
		q.VMAF = &v
	}
	if q.Frames == 0 {
		return q, newError(CodeInputInvalid, "quality", errors.New("no frame compared"))
	}
	return q, nil
}

// addMeta adds a per-frame metric, counting an infinite value (identical pictures) as 100 dB.
func addMeta(md *astiav.Dictionary, key string, sum *float64, count *int) {
	if md == nil {
		return
	}
	e := md.Get(key, nil, 0)
	if e == nil {
		return
	}
	v, err := strconv.ParseFloat(e.Value(), 64)
	if err != nil || math.IsNaN(v) {
		return
	}
	if math.IsInf(v, 1) || v > 100 {
		v = 100
	}
	*sum += v
	*count++
}

func labels(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[%s%d]", prefix, i)
	}
	return b.String()
}

// filterQuote escapes a value for a filter option inside a filter graph description: quoted
// for the option parser, then escaped again for the graph parser.
func filterQuote(s string) string {
	inner := "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, `[`, `\[`, `]`, `\]`, `,`, `\,`, `;`, `\;`, `:`, `\:`)
	return r.Replace(inner)
}
