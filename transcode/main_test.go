package transcode

import (
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// FFmpeg's own log, at warning and above, through slog to stderr: encoder statistics at
	// info level would bury the test output.
	RouteFFmpegLogs(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), slog.LevelWarn)
	os.Exit(m.Run())
}
