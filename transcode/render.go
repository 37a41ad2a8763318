package transcode

import (
	"context"
	"fmt"
	"os"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/asticode/go-astiav"
)

// RenderOptions describe a single-rendition encode of a source to a file: the mezzanine
// inputs of the benchmarks, and the difficult fixtures of the tests (10-bit HEVC, interlaced
// MPEG-2, variable frame rate, rotated, odd-sized).
type RenderOptions struct {
	Source  string          // synthetic: URL or a file
	Output  string          // the container is guessed from the extension
	Encoder string          // FFmpeg encoder name; default libx264
	PixFmt  string          // encoder pixel format; default yuv420p
	Width   int             // default: the source's
	Height  int             // default: the source's
	Options []ladder.Option // encoder AVOptions
	// Interlaced marks every frame as interlaced, top field first (encode with +ilme+ildct).
	Interlaced bool
	// Rotation is recorded as the stream's display matrix: clockwise degrees a player must
	// turn the picture.
	Rotation int
	// DropEvery > 1 leaves out frames 1, 1+N, 1+2N... while keeping the others' timestamps,
	// in a millisecond time base: a variable frame rate stream whose first and last frames stay.
	DropEvery int
	// NoAudio leaves the source's audio out.
	NoAudio bool
}

// Render encodes o.Source to o.Output. It is not the product path (Run is); it exists so that
// benchmarks and tests can make their inputs with the same FFmpeg build, in-process.
func Render(ctx context.Context, o RenderOptions) (err error) {
	in, err := openInput(ctx, o.Source, InputOptions{})
	if err != nil {
		return err
	}
	defer in.Close()
	src := describeSource(in)
	if o.Encoder == "" {
		o.Encoder = "libx264"
	}
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = src.Width, src.Height
	}
	pixFmt := encoderPixFmt
	if o.PixFmt != "" {
		if pixFmt = astiav.FindPixelFormatByName(o.PixFmt); pixFmt == astiav.PixelFormatNone {
			return newError(CodeInternal, "render", fmt.Errorf("unknown pixel format %q", o.PixFmt))
		}
	}
	fps := ladder.Rational{Num: src.FPSNum, Den: src.FPSDen}
	if fps.Num <= 0 || fps.Den <= 0 {
		fps = ladder.Rational{Num: 30, Den: 1}
	}
	encFPS := fps
	if o.DropEvery > 1 {
		encFPS = ladder.Rational{Num: 1000, Den: 1} // time base 1/1000
	}
	enc, err := openVideoEncoder(ladder.EncoderConfig{Encoder: o.Encoder, Options: o.Options},
		videoParams{Width: o.Width, Height: o.Height, FPS: encFPS, PixFmt: pixFmt})
	if err != nil {
		return err
	}
	defer enc.Close()
	if o.DropEvery > 1 {
		enc.cc.SetFramerate(astiav.NewRational(0, 1)) // no nominal rate: it varies
	}
	var audio *audioPath
	var audioEnc *encoder
	if in.audio != nil && !o.NoAudio {
		if audio, err = newAudioPath(in.audio.st.TimeBase(), 0); err != nil {
			return err
		}
		defer audio.Close()
		audioEnc = audio.enc
	}
	m, err := openMuxer(muxConfig{kind: "", path: o.Output, video: enc, audio: audioEnc, rotation: o.Rotation})
	if err != nil {
		return err
	}
	defer m.Close()
	defer func() {
		if err != nil {
			_ = os.Remove(o.Output)
		}
	}()

	sc := newScaler(o.Width, o.Height)
	sc.fmt = pixFmt
	defer sc.Close()
	frame := astiav.AllocFrame()
	if frame == nil {
		return newError(CodeInternal, "allocate frame", nil)
	}
	defer frame.Free()
	writeVideo := func(pkt *astiav.Packet) error {
		if pkt.Duration() <= 0 && o.DropEvery <= 1 {
			pkt.SetDuration(1) // CFR in a 1/fps time base
		}
		return m.write(pkt, false)
	}
	writeAudio := func(pkt *astiav.Packet) error { return m.write(pkt, true) }
	var n int64
	onVideo := func(f *astiav.Frame) error {
		defer func() { n++ }()
		if audio != nil {
			audio.advance(float64(n+1) * float64(fps.Den) / float64(fps.Num))
		}
		if o.DropEvery > 1 && n%int64(o.DropEvery) == 1 {
			return nil
		}
		if err := sc.scale(f, frame); err != nil {
			return err
		}
		defer frame.Unref()
		pts := n
		if o.DropEvery > 1 {
			pts = n * 1000 * int64(fps.Den) / int64(fps.Num)
		}
		frame.SetPts(pts)
		frame.SetPictureType(astiav.PictureTypeNone)
		if o.Interlaced {
			frame.SetFlags(frame.Flags().Add(astiav.FrameFlagInterlaced).Add(astiav.FrameFlagTopFieldFirst))
		}
		return enc.encode(frame, writeVideo)
	}
	var onAudio func(*astiav.Frame) error
	if audio != nil {
		onAudio = func(f *astiav.Frame) error { return audio.push(f, writeAudio) }
	}
	if err := in.run(ctx, onVideo, onAudio); err != nil {
		return err
	}
	if err := enc.encode(nil, writeVideo); err != nil {
		return err
	}
	if audio != nil {
		if err := audio.push(nil, writeAudio); err != nil {
			return err
		}
	}
	return m.finish()
}
