package transcode

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// FFmpeg's own log, at warning and above, through slog to stderr: encoder statistics at
	// info level would bury the test output.
	RouteFFmpegLogs(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), slog.LevelWarn)
	code := m.Run()
	if os.Getenv("ABRFLEET_LSAN") != "" {
		// make leakcheck: every C allocation must be freed by now.
		switch lsanCheck() {
		case -1:
			fmt.Fprintln(os.Stderr, "ABRFLEET_LSAN set but LeakSanitizer is not preloaded")
			code = 1
		case 1:
			fmt.Fprintln(os.Stderr, "LeakSanitizer found leaks (above)")
			code = 1
		default:
			fmt.Fprintln(os.Stderr, "LeakSanitizer: no leaks")
		}
	}
	os.Exit(code)
}
