package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/transcode"
)

// childRunner starts `worker _child` processes and speaks the child protocol.
type childRunner struct {
	command   []string      // the child's argv, e.g. [/proc/self/exe _child]
	stderr    io.Writer     // the children's logs go here: the worker's own stderr
	killGrace time.Duration // from SIGTERM to SIGKILL when a job is canceled
	logger    *slog.Logger
}

// CrashError reports a child that died without saying why: killed by a
// signal, or exited without a final line (a Go panic exits 2).
type CrashError struct {
	PID      int
	Signal   syscall.Signal // 0 when it exited
	ExitCode int            // -1 when signaled
	Tail     string         // the end of its stderr
}

func (e *CrashError) Error() string {
	how := fmt.Sprintf("exited with status %d", e.ExitCode)
	if e.Signal != 0 {
		how = "killed by signal " + e.Signal.String()
	}
	if e.Tail != "" {
		return fmt.Sprintf("transcode child %d %s: %s", e.PID, how, e.Tail)
	}
	return fmt.Sprintf("transcode child %d %s", e.PID, how)
}

// run runs spec in a child process and returns its final message. extra
// files become the child's fds 3, 4, ... onProgress sees each progress line.
// A canceled ctx sends SIGTERM to the child's process group, then SIGKILL
// after killGrace (a live job handed back: SIGKILL at once); the error is
// then ctx's cause.
func (r *childRunner) run(ctx context.Context, spec ChildSpec, extra []*os.File, onProgress func(transcode.Progress)) (*ChildMessage, error) {
	spec.ParentPID = os.Getpid()
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, &JobError{Code: queue.CodeInternal, Op: "encode child spec", Err: err}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, &JobError{Code: queue.CodeInternal, Op: "child stdout pipe", Err: err}
	}
	defer pr.Close()
	tail := &tailWriter{max: 2048}
	cmd := exec.CommandContext(ctx, r.command[0], r.command[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = pw // an *os.File: the child writes the pipe directly, Wait need not drain it
	cmd.Stderr = io.MultiWriter(r.stderr, tail)
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // its own group: a terminal's ^C reaches the worker only, which decides
		Pdeathsig: syscall.SIGKILL, // dies with the worker, even on kill -9
	}
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		if spec.Mode == ladder.Live && errors.Is(context.Cause(ctx), errHandback) {
			// A stream handed back must not look ended: asked to stop,
			// the HLS muxer would write EXT-X-ENDLIST and players would
			// stop before the next attempt continues the playlists. Killed,
			// it leaves them as a dead worker does, losing the segment
			// being written.
			sig = syscall.SIGKILL
		}
		return syscall.Kill(-cmd.Process.Pid, sig)
	}
	cmd.WaitDelay = r.killGrace

	// Pdeathsig fires when the thread that forked the child exits, not the
	// process. Go may retire an idle thread, so fork and wait on one locked
	// thread that lives at least as long as the child.
	started, waited := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		pw.Close()
		return nil, &JobError{Code: queue.CodeInternal, Op: "start transcode child " + r.command[0], Err: err}
	}
	pw.Close() // ours; the child has its copy
	pid := cmd.Process.Pid
	r.logger.Debug("child started", "pid", pid, "job_id", spec.JobID)

	var final *ChildMessage
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var m ChildMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			r.logger.Warn("child wrote a line that is not a message", "pid", pid, "err", err)
			continue
		}
		if m.Progress != nil {
			if onProgress != nil {
				onProgress(*m.Progress)
			}
			continue
		}
		final = &m
	}
	if err := sc.Err(); err != nil {
		r.logger.Warn("read child stdout", "pid", pid, "err", err)
		_, _ = io.Copy(io.Discard, pr) // never leave the child blocked on a full pipe
	}
	werr := <-waited

	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case final != nil && final.Error != nil:
		code := final.Error.Code
		// Bad input fails the same way every time; so does running out of
		// the job's own timeout.
		return nil, &JobError{Code: queue.Code(code), Op: "transcode", Err: errors.New(final.Error.Message),
			Permanent: code.BadInput() || code == transcode.CodeTimeout}
	case werr == nil && final != nil:
		return final, nil
	}
	crash := &CrashError{PID: pid, ExitCode: -1, Tail: tail.String()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		crash.Signal = ws.Signal()
	} else {
		crash.ExitCode = cmd.ProcessState.ExitCode()
	}
	return nil, crash
}

// tailWriter keeps the last max bytes written, trimmed to whole lines.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	if len(t.buf) == t.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimSpace(s)
}
