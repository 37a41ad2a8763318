package transcode

//#cgo pkg-config: libavutil
//void abrfleet_set_log_callback(void);
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

// ffmpegLogger receives FFmpeg's log. FFmpeg's log callback is process-wide, so this is the one
// piece of package state: set once by RouteFFmpegLogs, read by the callback.
var ffmpegLogger atomic.Pointer[slog.Logger]

// RouteFFmpegLogs sends FFmpeg's own log to logger, mapping FFmpeg levels to slog levels. Call
// it once from main; messages below level are dropped inside FFmpeg before they reach Go.
func RouteFFmpegLogs(logger *slog.Logger, level slog.Level) {
	ffmpegLogger.Store(logger)
	astiav.SetLogLevel(ffmpegLevel(level))
	C.abrfleet_set_log_callback()
}

//export goFFmpegLog
func goFFmpegLog(class *C.char, level C.int, msg *C.char) {
	logger := ffmpegLogger.Load()
	if logger == nil {
		return
	}
	text := strings.TrimSpace(C.GoString(msg))
	if text == "" {
		return
	}
	attrs := []any{}
	if c := C.GoString(class); c != "" {
		attrs = append(attrs, "class", c)
	}
	logger.Log(context.Background(), slogLevel(astiav.LogLevel(level)), text, attrs...)
}

func ffmpegLevel(l slog.Level) astiav.LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return astiav.LogLevelVerbose
	case l <= slog.LevelInfo:
		return astiav.LogLevelInfo
	case l <= slog.LevelWarn:
		return astiav.LogLevelWarning
	default:
		return astiav.LogLevelError
	}
}

func slogLevel(l astiav.LogLevel) slog.Level {
	switch {
	case l <= astiav.LogLevelError:
		return slog.LevelError
	case l <= astiav.LogLevelWarning:
		return slog.LevelWarn
	case l <= astiav.LogLevelInfo:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
