package transcode

import (
	"errors"
	"fmt"
	"strings"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/asticode/go-astiav"
)

// encoder owns one opened codec context and the packet it receives into.
type encoder struct {
	name string // FFmpeg encoder name, e.g. libx264
	cc   *astiav.CodecContext
	pkt  *astiav.Packet
}

// videoParams is what an encoder needs to know about its frames.
type videoParams struct {
	Width, Height int
	FPS           ladder.Rational
	PixFmt        astiav.PixelFormat
	Threads       int // 0: the encoder's default (x264: 1.5 per core; x265: a pool of one per core)
}

// openVideoEncoder opens cfg.Encoder for frames described by p, with cfg's options. An option
// FFmpeg does not consume is an error: a silently ignored rate-control setting would make every
// figure we publish wrong.
func openVideoEncoder(cfg ladder.EncoderConfig, p videoParams) (_ *encoder, err error) {
	e := &encoder{name: cfg.Encoder}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	codec := astiav.FindEncoderByName(cfg.Encoder)
	if codec == nil {
		return nil, newError(CodeInternal, "find encoder "+cfg.Encoder, astiav.ErrEncoderNotFound)
	}
	if e.cc = astiav.AllocCodecContext(codec); e.cc == nil {
		return nil, newError(CodeInternal, "allocate encoder "+cfg.Encoder, nil)
	}
	e.cc.SetWidth(p.Width)
	e.cc.SetHeight(p.Height)
	e.cc.SetPixelFormat(p.PixFmt)
	e.cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	e.cc.SetFramerate(astiav.NewRational(p.FPS.Num, p.FPS.Den))
	e.cc.SetTimeBase(astiav.NewRational(p.FPS.Den, p.FPS.Num))
	e.cc.SetFlags(e.cc.Flags().Add(astiav.CodecContextFlagGlobalHeader)) // fMP4 and MP4 both want out-of-band headers
	kv := make([]string, 0, 2*len(cfg.Options)+2)
	for _, o := range cfg.Options {
		if o.Key == "x265-params" && p.Threads > 0 {
			// x265 ignores threads: its worker pool size is its own parameter. It changes
			// scheduling only; the bitstream does not depend on it.
			o.Value += fmt.Sprintf(":pools=%d", p.Threads)
		}
		kv = append(kv, o.Key, o.Value)
	}
	if p.Threads > 0 && cfg.Encoder == "libx264" {
		e.cc.SetThreadCount(p.Threads)
	}
	dict, err := dictionary(kv...)
	if err != nil {
		return nil, newError(CodeInternal, "encoder options", err)
	}
	defer dict.Free()
	if err := e.cc.Open(codec, dict); err != nil {
		if strings.HasSuffix(cfg.Encoder, "_nvenc") {
			return nil, newError(CodeNVENCUnavailable, "open encoder "+cfg.Encoder, err)
		}
		return nil, newError(CodeInternal, "open encoder "+cfg.Encoder, err)
	}
	if rest := leftover(dict); len(rest) > 0 {
		return nil, newError(CodeInternal, "open encoder "+cfg.Encoder, fmt.Errorf("options not recognised: %s", strings.Join(rest, " ")))
	}
	if e.pkt = astiav.AllocPacket(); e.pkt == nil {
		return nil, newError(CodeInternal, "allocate packet", nil)
	}
	return e, nil
}

// AAC output: AAC-LC stereo 48 kHz 128 kb/s, encoded once and muxed into every rung.
const (
	audioSampleRate = 48000
	audioBitRate    = 128_000
)

func openAudioEncoder() (_ *encoder, err error) {
	e := &encoder{name: "aac"}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	codec := astiav.FindEncoderByName("aac")
	if codec == nil {
		return nil, newError(CodeInternal, "find encoder aac", astiav.ErrEncoderNotFound)
	}
	if e.cc = astiav.AllocCodecContext(codec); e.cc == nil {
		return nil, newError(CodeInternal, "allocate encoder aac", nil)
	}
	e.cc.SetSampleRate(audioSampleRate)
	e.cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	e.cc.SetSampleFormat(astiav.SampleFormatFltp)
	e.cc.SetBitRate(audioBitRate)
	e.cc.SetTimeBase(astiav.NewRational(1, audioSampleRate))
	e.cc.SetProfile(astiav.ProfileAacLow)
	e.cc.SetFlags(e.cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if err := e.cc.Open(codec, nil); err != nil {
		return nil, newError(CodeInternal, "open encoder aac", err)
	}
	if e.pkt = astiav.AllocPacket(); e.pkt == nil {
		return nil, newError(CodeInternal, "allocate packet", nil)
	}
	return e, nil
}

// Close frees the encoder. Nil-safe.
func (e *encoder) Close() {
	if e == nil {
		return
	}
	if e.pkt != nil {
		e.pkt.Free()
	}
	if e.cc != nil {
		e.cc.Free()
	}
}

// encode sends f (nil flushes) and calls fn for every packet it yields. The packet is valid
// only during the call; fn may take its reference with MoveRef.
func (e *encoder) encode(f *astiav.Frame, fn func(*astiav.Packet) error) error {
	if err := e.cc.SendFrame(f); err != nil && !errors.Is(err, astiav.ErrEof) {
		return newError(CodeInternal, "encode "+e.name, err)
	}
	for {
		if err := e.cc.ReceivePacket(e.pkt); err != nil {
			if isAgainOrEOF(err) {
				return nil
			}
			return newError(CodeInternal, "encode "+e.name, err)
		}
		err := fn(e.pkt)
		e.pkt.Unref()
		if err != nil {
			return err
		}
	}
}

// ProbeEncoder opens codec's encoder on a small frame size and closes it: the startup probe of
// which encoders work on this host (NVENC needs a GPU and its driver). A nil error means the
// encoder opens here.
func ProbeEncoder(codec ladder.Codec, preset string) error {
	t := ladder.Target{Name: "probe", Width: 256, Height: 144, FPS: ladder.Rational{Num: 30, Den: 1},
		BitrateKbps: 300, HEVCBitrateKbps: 200, GOPFrames: 60}
	cfg, err := ladder.EncoderSettings(codec, preset, ladder.Batch, t)
	if err != nil {
		return newError(CodeInternal, "probe "+string(codec), err)
	}
	e, err := openVideoEncoder(cfg, videoParams{Width: t.Width, Height: t.Height, FPS: t.FPS, PixFmt: astiav.PixelFormatYuv420P})
	e.Close()
	return err
}
