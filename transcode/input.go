package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// InputOptions bound what opening and decoding an input may do.
type InputOptions struct {
	// FormatWhitelist is FFmpeg's format_whitelist: the demuxers allowed (comma-separated).
	// Default: empty, every demuxer.
	FormatWhitelist string
	// ProtocolWhitelist is FFmpeg's protocol_whitelist. Default: empty, FFmpeg's default.
	ProtocolWhitelist string
	// ProbeSize bounds the bytes read to probe the input. Default 0: FFmpeg's 5 MB.
	ProbeSize int64
	// AnalyzeDuration bounds the media time read to find stream parameters. Default 0: FFmpeg's 5 s.
	AnalyzeDuration time.Duration
	// MaxPixels rejects video larger than this many pixels per frame, before decoding
	// starts. Default 0: 8192x4320.
	MaxPixels int64
	// ReadTimeout ends the input when no data arrives for this long (FFmpeg's rw_timeout, for
	// network protocols): a live feed that goes silent. Default 0: wait for ever.
	ReadTimeout time.Duration
	// MaxDuration rejects inputs whose probed duration is longer (CodeInputTooLarge). Default
	// 0: no limit.
	MaxDuration time.Duration
	// MaxInputBytes rejects a local file (file protocol, /dev/fd/N included) larger than this
	// before FFmpeg opens it (CodeInputTooLarge); with a limit set, a local input that is not a
	// regular file (a FIFO, a device) is refused too (CodeInputInvalid). Default 0: no limit.
	MaxInputBytes int64
	// TLSVerify makes FFmpeg verify the server's certificate on https and tls inputs, against
	// TLSCAFile or else the system's trust store. Default false: FFmpeg 8 does not verify.
	TLSVerify bool
	// TLSCAFile is a PEM file of the certificate authorities TLSVerify trusts. Default "": the
	// system's.
	TLSCAFile string
	// DecodeThreads is the video decoder's thread count. Default 0: one per core.
	DecodeThreads int
	// HWDecode selects NVDEC: "" or "none" decodes on the CPU; "cuda" requires a CUDA device
	// and fails with CodeNVDECUnavailable without one; "auto" uses CUDA when present.
	HWDecode string
}

// DefaultMaxPixels is 8192x4320 (8K UHD).
const DefaultMaxPixels = 8192 * 4320

func (o InputOptions) maxPixels() int64 {
	if o.MaxPixels > 0 {
		return o.MaxPixels
	}
	return DefaultMaxPixels
}

// demuxer owns an opened input: the format context, its I/O interrupter and the decoders of
// the chosen video stream and first audio stream.
type demuxer struct {
	url           string
	fc            *astiav.FormatContext
	ii            *astiav.IOInterrupter
	stopInterrupt func()
	video         *decoder
	audio         *decoder // nil when the input has no decodable audio
	pkt           *astiav.Packet
}

// openInput opens url (a path, a URL or a synthetic: source), finds its streams and opens the
// decoders. Every failure is a typed *Error; ctx cancellation interrupts blocking I/O.
func openInput(ctx context.Context, url string, o InputOptions) (_ *demuxer, err error) {
	d := &demuxer{url: url}
	if !isSynthetic(url) {
		if err := o.checkBeforeOpen(url); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	openURL, format := url, (*astiav.InputFormat)(nil)
	if isSynthetic(url) {
		spec, err := ParseSynthetic(url)
		if err != nil {
			return nil, newError(CodeInputInvalid, "parse synthetic source", err)
		}
		registerDevices()
		if format = astiav.FindInputFormat("lavfi"); format == nil {
			return nil, newError(CodeInternal, "find input format lavfi", errors.New("libavdevice has no lavfi"))
		}
		openURL = spec.graph()
	}

	if err := d.openContainer(ctx, openURL, format, o); err != nil {
		return nil, err
	}
	// Sizes the container declares are checked before FindStreamInfo decodes anything.
	if err := checkDeclaredSizes(d.fc, o.maxPixels()); err != nil {
		return nil, err
	}
	if err := findStreamInfo(d.fc, o.maxPixels()); err != nil {
		var ae astiav.Error
		if !errors.As(err, &ae) {
			return nil, newError(CodeInternal, "find stream info", err)
		}
		return nil, d.inputError(ctx, "find stream info", err)
	}
	if err := checkDuration(d.fc, o.MaxDuration); err != nil {
		return nil, err
	}

	vs, _, err := d.fc.FindBestStream(astiav.MediaTypeVideo, -1, -1)
	if err != nil {
		if errors.Is(err, astiav.ErrDecoderNotFound) {
			return nil, newError(CodeUnsupportedCodec, "find video decoder", err)
		}
		return nil, newError(CodeNoVideoStream, "find video stream", err)
	}
	cp := vs.CodecParameters()
	if w, h := cp.Width(), cp.Height(); w <= 0 || h <= 0 {
		return nil, newError(CodeInputInvalid, "video stream", fmt.Errorf("no dimensions (%dx%d)", w, h))
	} else if int64(w)*int64(h) > o.maxPixels() {
		return nil, newError(CodeInputTooLarge, "video stream", fmt.Errorf("%dx%d is over the limit of %d pixels", w, h, o.maxPixels()))
	}
	if d.video, err = openDecoder(d.fc, vs, o); err != nil {
		return nil, err
	}
	// Audio is optional: a stream we cannot decode is dropped, not fatal.
	if as, _, err := d.fc.FindBestStream(astiav.MediaTypeAudio, -1, vs.Index()); err == nil {
		if d.audio, err = openDecoder(d.fc, as, InputOptions{}); err != nil {
			d.audio = nil
		}
	}
	for _, s := range d.fc.Streams() {
		// Stream values are wrappers made afresh by each call: compare indexes, not pointers.
		if s.Index() != d.video.st.Index() && (d.audio == nil || s.Index() != d.audio.st.Index()) {
			s.SetDiscard(astiav.DiscardAll)
		}
	}
	return d, nil
}

// openContainer opens the container (no decoders yet): the format context with its I/O
// interrupter, the input options, and the packet reads go into. Inspect stops here.
func (d *demuxer) openContainer(ctx context.Context, url string, format *astiav.InputFormat, o InputOptions) error {
	if o.ReadTimeout > 0 && strings.HasPrefix(url, "udp://") {
		url = udpURL(url, o.ReadTimeout)
	}
	if d.fc = astiav.AllocFormatContext(); d.fc == nil {
		return newError(CodeInternal, "allocate format context", nil)
	}
	d.ii = astiav.NewIOInterrupter()
	d.fc.SetIOInterrupter(d.ii)
	d.stopInterrupt = interruptOnDone(ctx, d.ii)

	var kv []string
	if o.FormatWhitelist != "" {
		kv = append(kv, "format_whitelist", o.FormatWhitelist)
	}
	if o.ProtocolWhitelist != "" {
		kv = append(kv, "protocol_whitelist", o.ProtocolWhitelist)
	}
	if o.ReadTimeout > 0 {
		kv = append(kv, "rw_timeout", strconv.FormatInt(o.ReadTimeout.Microseconds(), 10))
	}
	if o.ProbeSize > 0 {
		kv = append(kv, "probesize", strconv.FormatInt(o.ProbeSize, 10))
	}
	if o.AnalyzeDuration > 0 {
		kv = append(kv, "analyzeduration", strconv.FormatInt(o.AnalyzeDuration.Microseconds(), 10))
	}
	if o.TLSVerify {
		// Handed down by the https protocol to tls, and kept across redirects.
		kv = append(kv, "tls_verify", "1")
		if o.TLSCAFile != "" {
			kv = append(kv, "ca_file", o.TLSCAFile)
		}
	}
	dict, err := dictionary(kv...)
	if err != nil {
		return newError(CodeInternal, "input options", err)
	}
	defer dict.Free()

	if err := d.fc.OpenInput(url, format, dict); err != nil {
		if ctx.Err() == nil && errors.Is(err, errEinval) && (o.FormatWhitelist != "" || o.ProtocolWhitelist != "") {
			// What FFmpeg returns for a demuxer off format_whitelist, or a protocol off
			// protocol_whitelist (a redirect, a nested open): its log names which.
			return newError(CodeInputInvalid, "open input", fmt.Errorf("its demuxer, or a protocol it needs, is not allowed: %w", err))
		}
		return d.inputError(ctx, "open input", err)
	}
	if d.pkt = astiav.AllocPacket(); d.pkt == nil {
		return newError(CodeInternal, "allocate packet", nil)
	}
	return nil
}

// maxUDPTimeout is the longest timeout FFmpeg's udp protocol takes: an int
// of microseconds.
const maxUDPTimeout = math.MaxInt32 * time.Microsecond

// udpURL is the udp:// input u with the read timeout in its query. FFmpeg's
// udp protocol sets its read timeout from its own timeout option, replacing
// rw_timeout (InputOptions.ReadTimeout); it reads the query in order, so a
// timeout of the submitter's own is overridden. A timeout over 35 minutes is
// cut to maxUDPTimeout, which FFmpeg would otherwise reject. (The option cannot
// go in the options dictionary: for rtmp, timeout means "listen".)
func udpURL(u string, idle time.Duration) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "timeout=" + strconv.FormatInt(min(idle, maxUDPTimeout).Microseconds(), 10)
}

// inputError classifies an open/read failure: interrupted by ctx, unreadable (I/O, missing
// file, network) or invalid (not media).
func (d *demuxer) inputError(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctxError(ctx, op)
	case errors.Is(err, astiav.ErrInvaliddata), errors.Is(err, astiav.ErrEof),
		errors.Is(err, astiav.ErrDemuxerNotFound), errors.Is(err, astiav.ErrPatchwelcome),
		errors.Is(err, astiav.ErrProtocolNotFound):
		return newError(CodeInputInvalid, op, err)
	case errors.Is(err, astiav.ErrDecoderNotFound):
		return newError(CodeUnsupportedCodec, op, err)
	case errors.Is(err, errENOMEM):
		// What FFmpeg returns both for tables a header declares absurdly large (an stts of 4
		// billion entries) and for allocations over the process's memory limit: either way
		// the same input under the same limit fails again.
		return newError(CodeInputTooLarge, op, fmt.Errorf("the input needs more memory than allowed: %w", err))
	default:
		return newError(CodeInputUnreadable, op, err)
	}
}

// Close frees everything the demuxer owns, in reverse order of allocation. Nil-safe.
func (d *demuxer) Close() {
	if d == nil {
		return
	}
	d.audio.Close()
	d.video.Close()
	if d.pkt != nil {
		d.pkt.Free()
	}
	if d.fc != nil {
		d.fc.CloseInput() // frees the format context too
		d.fc.Free()
	}
	if d.stopInterrupt != nil {
		d.stopInterrupt()
	}
	if d.ii != nil {
		d.ii.Free()
	}
}

// startSeconds is the input's start time, the origin every output timestamp is relative to.
func (d *demuxer) startSeconds() float64 {
	if st := d.fc.StartTime(); st != noPTS {
		return float64(st) / float64(astiav.TimeBase)
	}
	return 0
}

// durationSeconds is the container's duration, 0 when unknown (live, synthetic).
func (d *demuxer) durationSeconds() float64 {
	if du := d.fc.Duration(); du > 0 {
		return float64(du) / float64(astiav.TimeBase)
	}
	return 0
}

// run reads every packet and decodes it, calling onVideo and onAudio for each decoded frame
// (valid only during the call), then flushes both decoders. A nil onAudio skips the audio. Corrupt packets are skipped as the
// ffmpeg CLI skips them; an input that yields no video frame at all is invalid.
func (d *demuxer) run(ctx context.Context, onVideo, onAudio func(*astiav.Frame) error) error {
	var videoFrames int64
	countVideo := func(f *astiav.Frame) error { videoFrames++; return onVideo(f) }
	for {
		if err := ctx.Err(); err != nil {
			return ctxError(ctx, "read input")
		}
		err := d.fc.ReadFrame(d.pkt)
		if err != nil {
			if ctx.Err() != nil {
				return ctxError(ctx, "read input")
			}
			if !errors.Is(err, astiav.ErrEof) && videoFrames == 0 {
				return d.inputError(ctx, "read input", err)
			}
			break // EOF, or a read error after media was decoded: end of input as the CLI does
		}
		var derr error
		switch {
		case d.pkt.StreamIndex() == d.video.st.Index():
			derr = d.video.decode(d.pkt, countVideo)
		case d.audio != nil && onAudio != nil && d.pkt.StreamIndex() == d.audio.st.Index():
			derr = d.audio.decode(d.pkt, onAudio)
		}
		d.pkt.Unref()
		if derr != nil {
			return derr
		}
	}
	if err := d.video.decode(nil, countVideo); err != nil {
		return err
	}
	if d.audio != nil && onAudio != nil {
		if err := d.audio.decode(nil, onAudio); err != nil {
			return err
		}
	}
	if videoFrames == 0 {
		return newError(CodeInputInvalid, "decode video", errors.New("no frame could be decoded"))
	}
	return nil
}

// decoder owns one stream's codec context and its reusable frames.
type decoder struct {
	st      *astiav.Stream
	cc      *astiav.CodecContext
	frame   *astiav.Frame
	hw      *astiav.HardwareDeviceContext // NVDEC device, nil on the CPU path
	hwFmt   astiav.PixelFormat
	swFrame *astiav.Frame // system-memory copy of a hardware frame
	lastPTS int64
	errors  int // corrupt packets skipped
}

// errEinval is AVERROR(EINVAL), which some decoders return for damaged packets.
const errEinval = astiav.Error(-22)

// errENOMEM is AVERROR(ENOMEM).
const errENOMEM = astiav.Error(-12)

// maxCorruptPackets is how many undecodable packets a stream may have before the input is
// declared invalid rather than damaged.
const maxCorruptPackets = 100

func openDecoder(fc *astiav.FormatContext, st *astiav.Stream, o InputOptions) (_ *decoder, err error) {
	d := &decoder{st: st, lastPTS: noPTS}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	cp := st.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, newError(CodeUnsupportedCodec, fmt.Sprintf("stream %d: find decoder for %s", st.Index(), cp.CodecID()), astiav.ErrDecoderNotFound)
	}
	if d.cc = astiav.AllocCodecContext(codec); d.cc == nil {
		return nil, newError(CodeInternal, "allocate decoder "+codec.Name(), nil)
	}
	if err := cp.ToCodecContext(d.cc); err != nil {
		return nil, newError(CodeInputInvalid, "decoder parameters "+codec.Name(), err)
	}
	d.cc.SetTimeBase(st.TimeBase())
	var kv []string
	if cp.MediaType() == astiav.MediaTypeVideo {
		d.cc.SetFramerate(fc.GuessFrameRate(st, nil))
		d.cc.SetThreadCount(o.DecodeThreads)
		d.cc.SetThreadType(astiav.ThreadTypeFrame | astiav.ThreadTypeSlice)
		kv = append(kv, "max_pixels", strconv.FormatInt(o.maxPixels(), 10))
		if err := d.setupHW(o.HWDecode); err != nil {
			return nil, err
		}
	}
	dict, err := dictionary(kv...)
	if err != nil {
		return nil, newError(CodeInternal, "decoder options", err)
	}
	defer dict.Free()
	if err := d.cc.Open(codec, dict); err != nil {
		return nil, newError(CodeUnsupportedCodec, "open decoder "+codec.Name(), err)
	}
	if d.frame = astiav.AllocFrame(); d.frame == nil {
		return nil, newError(CodeInternal, "allocate frame", nil)
	}
	return d, nil
}

// setupHW attaches a CUDA device to the decoder when mode asks for one.
func (d *decoder) setupHW(mode string) error {
	switch mode {
	case "", "none":
		return nil
	case "cuda", "auto":
	default:
		return newError(CodeInternal, "hardware decode", fmt.Errorf("unknown mode %q (want none, cuda or auto)", mode))
	}
	hw, err := astiav.CreateHardwareDeviceContext(astiav.HardwareDeviceTypeCUDA, "", nil, 0)
	if err != nil {
		if mode == "auto" {
			return nil
		}
		return newError(CodeNVDECUnavailable, "create CUDA device", err)
	}
	d.hw = hw
	d.hwFmt = astiav.PixelFormatCuda
	d.cc.SetHardwareDeviceContext(hw)
	d.cc.SetPixelFormatCallback(func(pfs []astiav.PixelFormat) astiav.PixelFormat {
		for _, pf := range pfs {
			if pf == d.hwFmt {
				return pf
			}
		}
		return pfs[0] // the decoder has no CUDA path for this stream: its software format
	})
	if d.swFrame = astiav.AllocFrame(); d.swFrame == nil {
		return newError(CodeInternal, "allocate frame", nil)
	}
	return nil
}

// Close frees the decoder's objects. Nil-safe.
func (d *decoder) Close() {
	if d == nil {
		return
	}
	if d.swFrame != nil {
		d.swFrame.Free()
	}
	if d.frame != nil {
		d.frame.Free()
	}
	if d.cc != nil {
		d.cc.Free()
	}
	if d.hw != nil {
		d.hw.Free()
	}
}

// decode sends pkt (nil flushes) and calls fn for every frame it yields. Frames get a
// timestamp even when the stream has none, so later stages can rely on pts.
func (d *decoder) decode(pkt *astiav.Packet, fn func(*astiav.Frame) error) error {
	if err := d.cc.SendPacket(pkt); err != nil && !isAgainOrEOF(err) {
		if errors.Is(err, astiav.ErrInvaliddata) || errors.Is(err, errEinval) {
			if d.errors++; d.errors > maxCorruptPackets {
				return newError(CodeInputInvalid, fmt.Sprintf("decode stream %d", d.st.Index()), err)
			}
			return nil
		}
		return newError(CodeInputInvalid, fmt.Sprintf("decode stream %d", d.st.Index()), err)
	}
	for {
		if err := d.cc.ReceiveFrame(d.frame); err != nil {
			if isAgainOrEOF(err) {
				return nil
			}
			if d.errors++; d.errors > maxCorruptPackets {
				return newError(CodeInputInvalid, fmt.Sprintf("decode stream %d", d.st.Index()), err)
			}
			continue
		}
		err := d.deliver(fn)
		d.frame.Unref()
		if err != nil {
			return err
		}
	}
}

func (d *decoder) deliver(fn func(*astiav.Frame) error) error {
	f := d.frame
	pts := f.Pts()
	if pts == noPTS {
		pts = f.PktDts()
	}
	if pts == noPTS || (d.lastPTS != noPTS && pts <= d.lastPTS) {
		pts = d.nextPTS()
	}
	f.SetPts(pts)
	if frameDuration(f) <= 0 {
		// Without a duration the last frame of a stream has no end, and CFR conversion would
		// drop it: assume the nominal frame (or audio frame) duration.
		setFrameDuration(f, d.step())
	}
	d.lastPTS = pts
	if d.hw != nil && f.PixelFormat() == d.hwFmt {
		if err := f.TransferHardwareData(d.swFrame); err != nil {
			return newError(CodeInternal, "download CUDA frame", err)
		}
		defer d.swFrame.Unref()
		d.swFrame.SetPts(pts)
		setFrameDuration(d.swFrame, frameDuration(f))
		return fn(d.swFrame)
	}
	return fn(f)
}

// nextPTS invents a timestamp one frame (or one audio frame) after the last one.
func (d *decoder) nextPTS() int64 {
	if d.lastPTS == noPTS {
		return 0
	}
	return d.lastPTS + d.step()
}

// step is one nominal frame (video) or the current frame's samples (audio) in the stream's
// time base, at least 1.
func (d *decoder) step() int64 {
	tb := d.st.TimeBase()
	step := int64(1)
	if fr := d.cc.Framerate(); fr.Num() > 0 && fr.Den() > 0 && tb.Num() > 0 {
		step = max(1, int64(math.Round(float64(tb.Den())*float64(fr.Den())/(float64(tb.Num())*float64(fr.Num())))))
	} else if sr := d.cc.SampleRate(); sr > 0 && d.frame.NbSamples() > 0 && tb.Num() > 0 {
		step = max(1, int64(d.frame.NbSamples())*int64(tb.Den())/(int64(tb.Num())*int64(sr)))
	}
	return step
}
