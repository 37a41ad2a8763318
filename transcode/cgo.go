package transcode

// The few FFmpeg fields and functions go-astiav does not expose.

//#cgo pkg-config: libavutil libavcodec
//#include <libavutil/avutil.h>
//#include <libavutil/frame.h>
//#include <libavutil/pixdesc.h>
//#include <libavcodec/avcodec.h>
//static int pix_fmt_depth(int f) {
//	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f);
//	return d ? d->comp[0].depth : 0;
//}
//static int64_t frame_duration(void *f) { return ((AVFrame *)f)->duration; }
//static void set_frame_duration(void *f, int64_t d) { ((AVFrame *)f)->duration = d; }
import "C"

import "github.com/asticode/go-astiav"

// FFmpegVersion returns the version string of the linked FFmpeg libraries, e.g. "8.1.2".
func FFmpegVersion() string { return C.GoString(C.av_version_info()) }

// FFmpegConfiguration returns the configure flags the linked libavcodec was built with.
func FFmpegConfiguration() string { return C.GoString(C.avcodec_configuration()) }

// pixFmtDepth is the bit depth of a pixel format's first component (8, 10, 12...), 0 if unknown.
func pixFmtDepth(f astiav.PixelFormat) int { return int(C.pix_fmt_depth(C.int(f))) }

// frameDuration is AVFrame.duration, in the frame's time base.
func frameDuration(f *astiav.Frame) int64 { return int64(C.frame_duration(f.UnsafePointer())) }

func setFrameDuration(f *astiav.Frame, d int64) {
	C.set_frame_duration(f.UnsafePointer(), C.int64_t(d))
}
