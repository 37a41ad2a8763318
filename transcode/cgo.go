package transcode

// The few FFmpeg fields and functions go-astiav does not expose.

//#cgo pkg-config: libavutil libavcodec
//#define _GNU_SOURCE
//#include <dlfcn.h>
//#include <libavutil/avutil.h>
//#include <libavutil/frame.h>
//#include <libavutil/pixdesc.h>
//#include <libavcodec/avcodec.h>
//static int pix_fmt_depth(int f) {
//	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f);
//	return d ? d->comp[0].depth : 0;
//}
//static const char *libavcodec_path(void) {
//	Dl_info info;
//	return dladdr((void *)avcodec_version, &info) && info.dli_fname ? info.dli_fname : "";
//}
//static int64_t frame_duration(void *f) { return ((AVFrame *)f)->duration; }
//static void set_frame_duration(void *f, int64_t d) { ((AVFrame *)f)->duration = d; }
//
//// LeakSanitizer's entry point, present only when liblsan is preloaded (make leakcheck).
//extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
//static int lsan_check(void) {
//	return __lsan_do_recoverable_leak_check ? __lsan_do_recoverable_leak_check() : -1;
//}
import "C"

import (
	"path/filepath"

	"github.com/asticode/go-astiav"
)

// FFmpegVersion returns the version string of the linked FFmpeg libraries, e.g. "8.1.2".
func FFmpegVersion() string { return C.GoString(C.av_version_info()) }

// FFmpegConfiguration returns the configure flags the linked libavcodec was built with.
func FFmpegConfiguration() string { return C.GoString(C.avcodec_configuration()) }

// FFmpegPrefix is the installation prefix of the linked libavcodec (the directory above its
// lib/), where the same build's ffmpeg CLI lives in bin/. "" if it cannot be told.
func FFmpegPrefix() string {
	lib := C.GoString(C.libavcodec_path())
	if lib == "" {
		return ""
	}
	return filepath.Dir(filepath.Dir(lib))
}

// pixFmtDepth is the bit depth of a pixel format's first component (8, 10, 12...), 0 if unknown.
func pixFmtDepth(f astiav.PixelFormat) int { return int(C.pix_fmt_depth(C.int(f))) }

// frameDuration is AVFrame.duration, in the frame's time base.
func frameDuration(f *astiav.Frame) int64 { return int64(C.frame_duration(f.UnsafePointer())) }

func setFrameDuration(f *astiav.Frame, d int64) {
	C.set_frame_duration(f.UnsafePointer(), C.int64_t(d))
}

// lsanCheck runs LeakSanitizer's leak check now, when liblsan is preloaded: Go's os.Exit skips
// the atexit hook LSan normally reports from. It returns 1 if leaks were found, 0 if none, -1 if
// LeakSanitizer is not loaded.
func lsanCheck() int { return int(C.lsan_check()) }
