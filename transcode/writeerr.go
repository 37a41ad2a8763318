package transcode

// FFmpeg's hls muxer closes every segment and playlist it writes without looking at the result
// (hlsenc_io_close ignores ff_format_io_close's), and avio only keeps a failed write in the
// context's error field, which avio_close returns. A full disk therefore truncates segments (an
// 8 KiB first segment, an empty second one) while every call returns success, and the playlists
// list them. writeErrors catches those failures: it installs an io_close2 on the muxer's format
// context, which FFmpeg hands down to the contexts the hls muxer creates (with the opaque that
// holds the first error), and the muxer checks it after every packet and at the end.

//#cgo pkg-config: libavformat libavutil
//#include <libavformat/avformat.h>
//#include <libavutil/mem.h>
//
//typedef struct { int err; } abrfleet_write_errors;
//
//// Closes pb as FFmpeg's default io_close2 does, keeping the first error of a written file.
//static int abrfleet_io_close2(AVFormatContext *s, AVIOContext *pb) {
//	int written = pb && pb->write_flag;
//	int ret = avio_close(pb);
//	abrfleet_write_errors *we = s->opaque;
//	if (written && ret < 0 && we && !we->err)
//		we->err = ret;
//	return ret;
//}
//
//static void *abrfleet_track_write_errors(AVFormatContext *fc) {
//	abrfleet_write_errors *we = av_mallocz(sizeof(*we));
//	if (!we)
//		return NULL;
//	fc->opaque = we;
//	fc->io_close2 = abrfleet_io_close2;
//	return we;
//}
//
//static int abrfleet_write_error(void *we) { return we ? ((abrfleet_write_errors *)we)->err : 0; }
import "C"

import (
	"unsafe"

	"github.com/asticode/go-astiav"
)

// writeErrors records the first failed close of a file written by a muxer's format context.
type writeErrors struct{ p unsafe.Pointer }

// trackWriteErrors installs the close hook on fc. Call free after fc is freed: FFmpeg may close
// files while freeing it.
func trackWriteErrors(fc *astiav.FormatContext) (*writeErrors, error) {
	p := formatContextC(fc)
	if p == nil {
		return nil, newError(CodeInternal, "track output write errors", nil)
	}
	we := C.abrfleet_track_write_errors(p)
	if we == nil {
		return nil, newError(CodeInternal, "track output write errors", astiav.Error(-12)) // ENOMEM
	}
	return &writeErrors{p: we}, nil
}

// err is the first failed close so far, as an astiav.Error, or nil.
func (w *writeErrors) err() error {
	if w == nil {
		return nil
	}
	if ret := C.abrfleet_write_error(w.p); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

func (w *writeErrors) free() {
	if w != nil && w.p != nil {
		C.av_free(w.p)
		w.p = nil
	}
}
