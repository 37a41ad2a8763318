package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/transcode"
)

// The child protocol. The worker starts `worker _child` for each transcode
// (and once for the encoder probe), writes one ChildSpec as JSON on its
// stdin and reads ChildMessages, one JSON document per line, from its
// stdout: progress lines, then exactly one result, error or probe line. The
// child logs JSON to stderr. Exit status 0 goes with a result or probe, 1
// with an error line; anything else (a signal, a Go panic's 2, an exit
// without a final line) is a crash.

// ChildSpec is one job for the child.
type ChildSpec struct {
	// ParentPID is the worker's pid. The child exits at once if its parent
	// is already someone else: the worker died between fork and the
	// child's death signal being armed.
	ParentPID int    `json:"parent_pid"`
	JobID     string `json:"job_id"`
	Attempt   int    `json:"attempt"`
	LogLevel  string `json:"log_level"`
	// Probe, when set, asks for an encoder probe of these codecs instead of
	// a transcode.
	Probe []ladder.Codec `json:"probe,omitempty"`

	Input            string                 `json:"input"`
	InputName        string                 `json:"input_name,omitempty"` // as submitted, for manifest.json: Input may be /dev/fd/3 or a fetched copy
	OutputDir        string                 `json:"output_dir"`
	Codec            ladder.Codec           `json:"codec"`
	Preset           string                 `json:"preset,omitempty"`
	Mode             ladder.Mode            `json:"mode"`
	Ladder           ladder.Ladder          `json:"ladder"`
	HLS              bool                   `json:"hls"`
	MP4              bool                   `json:"mp4"`
	FallbackToCPU    bool                   `json:"fallback_to_cpu"`
	Realtime         bool                   `json:"realtime"`
	Timeout          time.Duration          `json:"timeout_ns"`
	ProgressInterval time.Duration          `json:"progress_interval_ns"`
	InputOptions     transcode.InputOptions `json:"input_options"`
	ResumeHLS        bool                   `json:"resume_hls,omitempty"` // continue OutputDir's playlists: a live stream taken over

	// MemoryBytes and CPUSeconds are set as RLIMIT_AS and RLIMIT_CPU before
	// anything else runs; 0 leaves a limit alone.
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	CPUSeconds  uint64 `json:"cpu_seconds,omitempty"`
}

// ChildMessage is one line of the child's stdout; exactly one field is set.
type ChildMessage struct {
	Progress *transcode.Progress `json:"progress,omitempty"`
	Result   *transcode.Result   `json:"result,omitempty"`
	Error    *ChildError         `json:"error,omitempty"`
	// Probe maps each probed codec to "" when its encoder opens here, else
	// to the error.
	Probe map[ladder.Codec]string `json:"probe,omitempty"`
}

// ChildError is a transcode failure, with its stable code.
type ChildError struct {
	Code    transcode.Code `json:"code"`
	Message string         `json:"message"`
}

// maxSpecBytes bounds the spec read from stdin (an inline ladder is small).
const maxSpecBytes = 1 << 20

// errReported is returned once the failure has been written as an error
// line: the process must exit 1 and say no more.
var errReported = errors.New("transcode failed (reported on stdout)")

// RunChild is `worker _child`: it reads a ChildSpec from stdin, applies the
// resource limits, runs the transcode (or the probe) and writes
// ChildMessages to stdout.
func RunChild(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	var spec ChildSpec
	if err := json.NewDecoder(io.LimitReader(stdin, maxSpecBytes)).Decode(&spec); err != nil {
		return fmt.Errorf("child: read spec: %w", err)
	}
	if spec.ParentPID != 0 && os.Getppid() != spec.ParentPID {
		return fmt.Errorf("child: parent %d is gone", spec.ParentPID)
	}
	if err := setLimits(spec.MemoryBytes, spec.CPUSeconds); err != nil {
		return fmt.Errorf("child: %w", err)
	}
	level, _ := parseLevel(spec.LogLevel)
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).
		With("component", "child", "pid", os.Getpid(), "job_id", spec.JobID, "attempt", spec.Attempt)
	// FFmpeg's info level is a line per stream and per segment: warnings up.
	transcode.RouteFFmpegLogs(logger.With("component", "ffmpeg"), max(level, slog.LevelWarn))

	out := &lineWriter{enc: json.NewEncoder(stdout)}
	if len(spec.Probe) > 0 {
		found := map[ladder.Codec]string{}
		for _, c := range spec.Probe {
			found[c] = ""
			if err := transcode.ProbeEncoder(c, ""); err != nil {
				found[c] = err.Error()
			}
		}
		return out.write(ChildMessage{Probe: found})
	}

	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	o := transcode.Options{
		Input: spec.Input, InputName: spec.InputName, OutputDir: spec.OutputDir, Codec: spec.Codec, Preset: spec.Preset,
		Mode: spec.Mode, Ladder: spec.Ladder, HLS: spec.HLS, MP4: spec.MP4,
		FallbackToCPU: spec.FallbackToCPU, Realtime: spec.Realtime, InputOptions: spec.InputOptions,
		ResumeHLS: spec.ResumeHLS, ProgressInterval: spec.ProgressInterval, Logger: logger,
		Progress: func(p transcode.Progress) {
			if err := out.write(ChildMessage{Progress: &p}); err != nil {
				logger.Warn("write progress", "err", err)
			}
		},
	}
	logger.Info("transcode start", "input", spec.Input, "codec", spec.Codec, "mode", spec.Mode, "resume_hls", spec.ResumeHLS)
	res, err := transcode.Run(ctx, o)
	if err != nil {
		if werr := out.write(ChildMessage{Error: &ChildError{Code: transcode.CodeOf(err), Message: err.Error()}}); werr != nil {
			return fmt.Errorf("child: report %w: %w", err, werr)
		}
		return errReported
	}
	logger.Info("transcode done", "frames", res.SourceFrames, "fps", res.FPS)
	return out.write(ChildMessage{Result: res})
}

// IsReported tells main that err was already written as an error line.
func IsReported(err error) bool { return errors.Is(err, errReported) }

// lineWriter serializes messages from the progress goroutine and the main one.
type lineWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *lineWriter) write(m ChildMessage) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(m) // one line: JSON escapes newlines in strings, Encode ends with one
}

// setLimits lowers RLIMIT_AS and RLIMIT_CPU for this process, never above
// the hard limits it inherited. CPU: the soft limit sends SIGXCPU (the Go
// runtime dies of it), the hard one 10 s later SIGKILL.
func setLimits(memoryBytes, cpuSeconds uint64) error {
	set := func(name string, res int, soft, hard uint64) error {
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(res, &cur); err != nil {
			return fmt.Errorf("getrlimit %s: %w", name, err)
		}
		lim := syscall.Rlimit{Cur: min(soft, cur.Max), Max: min(hard, cur.Max)}
		if err := syscall.Setrlimit(res, &lim); err != nil {
			return fmt.Errorf("setrlimit %s %d/%d: %w", name, lim.Cur, lim.Max, err)
		}
		return nil
	}
	if memoryBytes > 0 {
		if err := set("RLIMIT_AS", syscall.RLIMIT_AS, memoryBytes, memoryBytes); err != nil {
			return err
		}
	}
	if cpuSeconds > 0 {
		if err := set("RLIMIT_CPU", syscall.RLIMIT_CPU, cpuSeconds, cpuSeconds+10); err != nil {
			return err
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func parseCodec(s string) (ladder.Codec, error) { return ladder.ParseCodec(s) }
