package transcode

import (
	"errors"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
)

// prefilter is the one filter graph a frame crosses, once, before the rungs, when the source
// needs it: deinterlace (bwdif) when interlaced, rotate upright when it carries a display
// matrix. Sources that need neither skip it.
type prefilter struct {
	graph *astiav.FilterGraph
	src   *astiav.BuffersrcFilterContext
	sink  *astiav.BuffersinkFilterContext
	out   *astiav.Frame
	desc  string
}

// prefilterChain renders the filter chain for a source, "" when it needs none.
func prefilterChain(deinterlace bool, rotation int) string {
	var chain []string
	if deinterlace {
		chain = append(chain, "bwdif=mode=send_frame:parity=auto:deint=interlaced")
	}
	switch ((rotation % 360) + 360) % 360 {
	case 90:
		chain = append(chain, "transpose=clock")
	case 180:
		chain = append(chain, "hflip", "vflip")
	case 270:
		chain = append(chain, "transpose=cclock")
	}
	return strings.Join(chain, ",")
}

// newPrefilter builds the graph for frames shaped like first, with timestamps in tb.
func newPrefilter(first *astiav.Frame, tb astiav.Rational, chain string) (_ *prefilter, err error) {
	p := &prefilter{desc: chain}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	op := "prefilter " + chain
	if p.graph = astiav.AllocFilterGraph(); p.graph == nil {
		return nil, newError(CodeInternal, op, errors.New("allocate graph"))
	}
	p.graph.SetThreadCount(1) // one graph, one thread: the rungs are where parallelism pays
	buffer, buffersink := astiav.FindFilterByName("buffer"), astiav.FindFilterByName("buffersink")
	if buffer == nil || buffersink == nil {
		return nil, newError(CodeInternal, op, errors.New("buffer or buffersink filter missing"))
	}
	if p.src, err = p.graph.NewBuffersrcFilterContext(buffer, "in"); err != nil {
		return nil, newError(CodeInternal, op, err)
	}
	if p.sink, err = p.graph.NewBuffersinkFilterContext(buffersink, "out"); err != nil {
		return nil, newError(CodeInternal, op, err)
	}
	params := astiav.AllocBuffersrcFilterContextParameters()
	defer params.Free()
	params.SetWidth(first.Width())
	params.SetHeight(first.Height())
	params.SetPixelFormat(first.PixelFormat())
	params.SetSampleAspectRatio(first.SampleAspectRatio())
	params.SetColorRange(first.ColorRange())
	params.SetColorSpace(first.ColorSpace())
	params.SetTimeBase(tb)
	if err := p.src.SetParameters(params); err != nil {
		return nil, newError(CodeInternal, op, err)
	}
	if err := p.src.Initialize(nil); err != nil {
		return nil, newError(CodeInternal, op, err)
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	defer outputs.Free()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(p.src.FilterContext())
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(p.sink.FilterContext())
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if err := p.graph.Parse(chain, inputs, outputs); err != nil {
		return nil, newError(CodeInternal, op, err)
	}
	if err := p.graph.Configure(); err != nil {
		return nil, newError(CodeInternal, op, err)
	}
	if p.out = astiav.AllocFrame(); p.out == nil {
		return nil, newError(CodeInternal, op, errors.New("allocate frame"))
	}
	return p, nil
}

// timeBase is the time base of the frames the graph emits.
func (p *prefilter) timeBase() astiav.Rational { return p.sink.TimeBase() }

// push feeds f (nil flushes) and calls fn for every frame out of the graph.
func (p *prefilter) push(f *astiav.Frame, fn func(*astiav.Frame) error) error {
	if err := p.src.AddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return newError(CodeInternal, "prefilter: add frame", err)
	}
	for {
		if err := p.sink.GetFrame(p.out, astiav.NewBuffersinkFlags()); err != nil {
			if isAgainOrEOF(err) {
				return nil
			}
			return newError(CodeInternal, "prefilter: get frame", err)
		}
		err := fn(p.out)
		p.out.Unref()
		if err != nil {
			return err
		}
	}
}

// Close frees the graph and its frame. Nil-safe.
func (p *prefilter) Close() {
	if p == nil {
		return
	}
	if p.out != nil {
		p.out.Free()
	}
	if p.graph != nil {
		p.graph.Free() // frees the filter contexts too
	}
}

// scaler converts frames to one size and pixel format with libswscale (a rung's: yuv420p). Each rung has
// its own, run by its own goroutine.
type scaler struct {
	ssc        *astiav.SoftwareScaleContext
	w, h       int
	fmt        astiav.PixelFormat
	srcW, srcH int
	srcFmt     astiav.PixelFormat
	flags      astiav.SoftwareScaleContextFlags
}

// encoderPixFmt is what every rung is encoded in: 8-bit 4:2:0, which every player decodes.
const encoderPixFmt = astiav.PixelFormatYuv420P

func newScaler(w, h int) *scaler {
	return &scaler{w: w, h: h, fmt: encoderPixFmt, flags: astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic)}
}

// scale makes dst the picture for src at the scaler's size and format: a new reference when src
// already has them, a scaled copy otherwise.
func (s *scaler) scale(src, dst *astiav.Frame) error {
	if src.Width() == s.w && src.Height() == s.h && src.PixelFormat() == s.fmt {
		return dst.Ref(src)
	}
	if s.ssc == nil || src.Width() != s.srcW || src.Height() != s.srcH || src.PixelFormat() != s.srcFmt {
		s.Close()
		ssc, err := astiav.CreateSoftwareScaleContext(src.Width(), src.Height(), src.PixelFormat(), s.w, s.h, s.fmt, s.flags)
		if err != nil {
			return newError(CodeInternal, fmt.Sprintf("scaler %dx%d %s -> %dx%d", src.Width(), src.Height(), src.PixelFormat(), s.w, s.h), err)
		}
		s.ssc, s.srcW, s.srcH, s.srcFmt = ssc, src.Width(), src.Height(), src.PixelFormat()
	}
	dst.SetWidth(s.w)
	dst.SetHeight(s.h)
	dst.SetPixelFormat(s.fmt)
	if err := dst.AllocBuffer(0); err != nil {
		return newError(CodeInternal, "allocate scaled frame", err)
	}
	if err := s.ssc.ScaleFrame(src, dst); err != nil {
		return newError(CodeInternal, fmt.Sprintf("scale to %dx%d", s.w, s.h), err)
	}
	dst.SetPts(src.Pts())
	dst.SetSampleAspectRatio(astiav.NewRational(1, 1))
	return nil
}

// Close frees the scale context. Nil-safe.
func (s *scaler) Close() {
	if s != nil && s.ssc != nil {
		s.ssc.Free()
		s.ssc = nil
	}
}
