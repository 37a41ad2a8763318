package transcode

//#cgo pkg-config: libavformat libavcodec libavutil
//#include <libavformat/avformat.h>
//#include <libavutil/dict.h>
//#include <libavutil/mem.h>
//
//static unsigned fc_nb_streams(const AVFormatContext *fc) { return fc->nb_streams; }
//
//// avformat_find_stream_info with max_pixels given to the decoder it opens on each stream
//// present now (FFmpeg passes no options to streams found later).
//static int find_stream_info_max_pixels(AVFormatContext *fc, int64_t max_pixels) {
//	unsigned n = fc->nb_streams;
//	AVDictionary **opts = n ? av_calloc(n, sizeof(*opts)) : NULL;
//	if (n && !opts)
//		return AVERROR(ENOMEM);
//	int ret = 0;
//	for (unsigned i = 0; i < n && ret >= 0; i++)
//		ret = av_dict_set_int(&opts[i], "max_pixels", max_pixels, 0);
//	if (ret >= 0)
//		ret = avformat_find_stream_info(fc, opts);
//	for (unsigned i = 0; i < n; i++)
//		av_dict_free(&opts[i]);
//	av_free(opts);
//	return ret;
//}
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// InputKind says where an input comes from. It selects what DefaultInputOptions lets FFmpeg
// do with it: which protocols it may open and which demuxers may read it.
type InputKind string

// The kinds of input a worker hands to transcode.
const (
	// InputFile is a local file, also one the worker opened and passes as /dev/fd/N (FFmpeg
	// reopens that path with its file protocol), or one it downloaded from S3.
	InputFile InputKind = "file"
	// InputHTTPS is a file read over HTTPS.
	InputHTTPS InputKind = "https"
	// InputSRT is a live MPEG-TS feed over SRT.
	InputSRT InputKind = "srt"
	// InputRTMP is a live FLV feed over RTMP.
	InputRTMP InputKind = "rtmp"
	// InputUDP is a live MPEG-TS feed over UDP.
	InputUDP InputKind = "udp"
)

// Live reports whether k is a real-time network feed.
func (k InputKind) Live() bool { return k == InputSRT || k == InputRTMP || k == InputUDP }

// FileFormats are the demuxers DefaultInputOptions allows for file and HTTPS inputs:
// ordinary media containers and raw video elementary streams, each of which reads only the
// bytes of its own input. Left out on purpose:
//   - demuxers that open other files or URLs named inside the input: hls, dash, concat,
//     image2 (numbered sequences), imf, sdp, rtsp, webm_dash_manifest, ...;
//   - still images (png_pipe, jpeg_pipe, gif, webp_pipe, ...): a single picture is not a
//     video to make a ladder of, and image decoders size their frame from a header the
//     container does not vouch for;
//   - audio-only containers (wav, mp3, aac, flac, ...): a ladder needs video, and an MP3's
//     cover art would pass for a one-frame video stream;
//   - the long tail of game, legacy and niche formats FFmpeg can read: attack surface with no
//     customer.
//
// "mov,mp4,m4a,3gp,3g2,mj2" and "matroska,webm" are each one demuxer with several names;
// FFmpeg's whitelist check (av_match_list) matches any one of them.
const FileFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,mpeg,avi,flv,asf,ogg,mxf,dv,ivf,yuv4mpegpipe," +
	"h264,hevc,m4v,mpegvideo"

// Defaults and bounds of the input limits.
const (
	// DefaultProbeSize is the probesize DefaultInputOptions sets for files and HTTPS: 10 MiB.
	DefaultProbeSize = 10 << 20
	// DefaultAnalyzeDuration is the analyzeduration DefaultInputOptions sets for files and HTTPS.
	DefaultAnalyzeDuration = 10 * time.Second
	// DefaultLiveProbeSize and DefaultLiveAnalyzeDuration are FFmpeg's own defaults, kept for
	// live feeds: a feed arrives in real time, so analysing longer delays its start.
	DefaultLiveProbeSize       = 5_000_000
	DefaultLiveAnalyzeDuration = 5 * time.Second
	// DefaultMaxDuration is the longest input DefaultInputOptions accepts for files and HTTPS.
	DefaultMaxDuration = 24 * time.Hour
	// DefaultMaxInputBytes is the largest local file DefaultInputOptions accepts: 64 GiB, the
	// worker's limit on S3 downloads.
	DefaultMaxInputBytes = 64 << 30
	// DefaultLiveReadTimeout ends a live feed that stays silent this long (the worker sets
	// the job's own idle timeout over it).
	DefaultLiveReadTimeout = 30 * time.Second

	// MaxProbeSize and MaxAnalyzeDuration bound what InputOptions.Validate accepts: FFmpeg
	// buffers what it reads while probing, so these bound memory too.
	MaxProbeSize       = 100 << 20
	MaxAnalyzeDuration = time.Minute
	// minProbeSize is FFmpeg's own lower bound on probesize.
	minProbeSize = 32
)

// DefaultInputOptions returns the input defences for an input of kind k:
//   - the protocols it may use, and nothing else: file for files (no pipe, fd, concat,
//     subfile, data, http...); https, tls and tcp for HTTPS (a redirect to http:// is
//     refused); the feed's own protocol for live inputs (srt; rtmp over tcp; udp);
//   - the demuxers that may read it: FileFormats for files and HTTPS, mpegts for SRT and
//     UDP, flv and live_flv for RTMP;
//   - probesize and analyzeduration bounded (DefaultProbeSize, DefaultAnalyzeDuration; for
//     live feeds FFmpeg's own 5 MB and 5 s);
//   - MaxPixels 8192x4320; MaxDuration 24 h and, for local files, MaxInputBytes 64 GiB (no
//     duration limit on live feeds, whose duration is unknown);
//   - HTTPS certificates verified against the system's trust store;
//   - live feeds end after DefaultLiveReadTimeout of silence.
//
// An unknown kind gets options that refuse every protocol. Callers may override any field,
// then Validate.
func DefaultInputOptions(k InputKind) InputOptions {
	o := InputOptions{
		ProbeSize:       DefaultProbeSize,
		AnalyzeDuration: DefaultAnalyzeDuration,
		MaxPixels:       DefaultMaxPixels,
		MaxDuration:     DefaultMaxDuration,
		FormatWhitelist: FileFormats,
	}
	switch k {
	case InputFile:
		o.ProtocolWhitelist = "file"
		o.MaxInputBytes = DefaultMaxInputBytes
	case InputHTTPS:
		o.ProtocolWhitelist = "https,tls,tcp"
		o.TLSVerify = true
	case InputSRT, InputRTMP, InputUDP:
		o.ProbeSize, o.AnalyzeDuration = DefaultLiveProbeSize, DefaultLiveAnalyzeDuration
		o.MaxDuration = 0
		o.ReadTimeout = DefaultLiveReadTimeout
		switch k {
		case InputSRT:
			// libsrt does its own UDP: FFmpeg's udp protocol is not needed.
			o.ProtocolWhitelist, o.FormatWhitelist = "srt", "mpegts"
		case InputRTMP:
			o.ProtocolWhitelist, o.FormatWhitelist = "rtmp,tcp", "flv,live_flv"
		case InputUDP:
			o.ProtocolWhitelist, o.FormatWhitelist = "udp", "mpegts"
		}
	default:
		// No protocol is called "none": FFmpeg refuses them all.
		o.ProtocolWhitelist = "none"
	}
	return o
}

// Validate reports options FFmpeg would reject or that defeat their purpose: negative
// limits, and probesize or analyzeduration outside their bounds.
func (o InputOptions) Validate() error {
	var errs []error
	if o.ProbeSize < 0 || o.ProbeSize > 0 && o.ProbeSize < minProbeSize || o.ProbeSize > MaxProbeSize {
		errs = append(errs, fmt.Errorf("probe size %d: want 0 (FFmpeg's default) or %d to %d bytes", o.ProbeSize, minProbeSize, MaxProbeSize))
	}
	if o.AnalyzeDuration < 0 || o.AnalyzeDuration > MaxAnalyzeDuration {
		errs = append(errs, fmt.Errorf("analyze duration %v: want 0 (FFmpeg's default) to %v", o.AnalyzeDuration, MaxAnalyzeDuration))
	}
	for _, l := range []struct {
		name string
		v    int64
	}{{"max pixels", o.MaxPixels}, {"max duration", int64(o.MaxDuration)}, {"max input bytes", o.MaxInputBytes},
		{"read timeout", int64(o.ReadTimeout)}, {"decode threads", int64(o.DecodeThreads)}} {
		if l.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d: negative", l.name, l.v))
		}
	}
	if o.TLSCAFile != "" && !o.TLSVerify {
		errs = append(errs, errors.New("TLS CA file without TLS verification"))
	}
	return errors.Join(errs...)
}

// checkBeforeOpen runs the checks that need no FFmpeg: the options themselves, the input's
// protocol against the whitelist (FFmpeg checks it again; this gives a clear error), and a
// local file's type and size.
func (o InputOptions) checkBeforeOpen(url string) error {
	if err := o.Validate(); err != nil {
		return newError(CodeInternal, "input options", err)
	}
	proto := inputProtocol(url)
	if o.ProtocolWhitelist != "" && !protocolAllowed(proto, o.ProtocolWhitelist) {
		return newError(CodeInputInvalid, "open input", fmt.Errorf("protocol %q is not allowed (allowed: %s)", proto, o.ProtocolWhitelist))
	}
	if o.MaxInputBytes <= 0 || proto != "file" {
		return nil
	}
	path := strings.TrimPrefix(url, "file:") // as FFmpeg's file protocol does
	fi, err := os.Stat(path)
	if err != nil {
		return nil // FFmpeg's open reports it, classified as it classifies any other
	}
	switch {
	case !fi.Mode().IsRegular():
		// A FIFO can block the open for ever (no interrupt reaches open(2)) and a device
		// never ends; neither has a size to check.
		return newError(CodeInputInvalid, "open input", fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type()))
	case fi.Size() > o.MaxInputBytes:
		return newError(CodeInputTooLarge, "open input", fmt.Errorf("%d bytes is over the limit of %d", fi.Size(), o.MaxInputBytes))
	}
	return nil
}

// checkDeclaredSizes rejects an input any of whose video streams declares, in its container
// header, a frame over the pixel limit. It runs before FindStreamInfo, whose probing decoders
// get no max_pixels (go-astiav cannot pass them per-stream options).
func checkDeclaredSizes(fc *astiav.FormatContext, maxPixels int64) error {
	for _, s := range fc.Streams() {
		cp := s.CodecParameters()
		if cp.MediaType() != astiav.MediaTypeVideo {
			continue
		}
		if w, h := cp.Width(), cp.Height(); w > 0 && h > 0 && int64(w)*int64(h) > maxPixels {
			return newError(CodeInputTooLarge, fmt.Sprintf("stream %d", s.Index()),
				fmt.Errorf("%dx%d is over the limit of %d pixels", w, h, maxPixels))
		}
	}
	return nil
}

// checkDuration rejects an input whose probed duration is over max (0: no limit).
func checkDuration(fc *astiav.FormatContext, max time.Duration) error {
	if max <= 0 {
		return nil
	}
	if du := fc.Duration(); du > 0 && du > max.Microseconds() { // AV_TIME_BASE is 1 µs
		return newError(CodeInputTooLarge, "input duration", fmt.Errorf("%.0f s is over the limit of %v", float64(du)/1e6, max))
	}
	return nil
}

// inputProtocol is the protocol FFmpeg picks for url, as libavformat/avio.c
// url_find_protocol does: the leading scheme characters when a ':' follows them, else
// "file"; a nested scheme ("crypto+file:") is named by its outer protocol.
func inputProtocol(url string) string {
	n := 0
	for n < len(url) && isSchemeChar(url[n]) {
		n++
	}
	subfile := strings.HasPrefix(url, "subfile,") && strings.Contains(url[min(n+1, len(url)):], ":")
	if n == len(url) || url[n] != ':' && !subfile {
		return "file"
	}
	return url[:n]
}

func isSchemeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// protocolAllowed reports whether FFmpeg would let proto through whitelist: an exact,
// case-sensitive match of one comma-separated entry (av_match_list), by its full name or,
// for a nested scheme such as "crypto+file", by its outer name.
func protocolAllowed(proto, whitelist string) bool {
	outer, _, _ := strings.Cut(proto, "+")
	for _, w := range strings.Split(whitelist, ",") {
		if w != "" && (w == proto || w == outer) {
			return true
		}
	}
	return false
}

// findStreamInfo is FormatContext.FindStreamInfo with max_pixels set on the decoders it opens
// to probe the streams: without it, a frame larger than its container declares (a 16000x16000
// PNG in a MOV that says 96x54) is decoded at full size before any check of ours sees it.
// go-astiav passes FindStreamInfo one dictionary where FFmpeg wants one per stream, so this
// calls FFmpeg itself.
func findStreamInfo(fc *astiav.FormatContext, maxPixels int64) error {
	p := formatContextC(fc)
	if p == nil || int(C.fc_nb_streams(p)) != fc.NbStreams() {
		return errors.New("cannot reach the AVFormatContext of go-astiav's FormatContext")
	}
	if ret := C.find_stream_info_max_pixels(p, C.int64_t(maxPixels)); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

// formatContextC is the AVFormatContext a go-astiav FormatContext wraps: its only field (go-astiav
// v0.42.0, format_context.go), which go-astiav does not export. TestFormatContextC checks it
// against the address go-astiav prints, so that an upgrade changing the layout fails a test.
func formatContextC(fc *astiav.FormatContext) *C.AVFormatContext {
	return *(**C.AVFormatContext)(unsafe.Pointer(fc))
}
