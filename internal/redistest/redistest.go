// Package redistest starts a real, private redis-server for tests.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server started by Start or StartWith. Its process can be
// stopped (Kill, Shutdown) and started again (Restart) on the same port and
// data directory, to test what clients do while Redis is away.
type Server struct {
	Addr string // host:port
	URL  string // redis://host:port/0
	Dir  string // data directory: redis.log, and the append-only files when on

	bin  string
	args []string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// Options configure StartWith.
type Options struct {
	// AppendOnly turns the append-only file on. Without it (the default)
	// the server keeps nothing on disk, and a restart comes back empty:
	// every queued, scheduled, retrying or retained task is gone, and a
	// running task's completion has nowhere to go. That is what Redis does
	// when its operator configures no persistence (or RDB snapshots only,
	// which lose what was written since the last one); no worker or client
	// can make up for it. A deployment that must not lose jobs runs Redis
	// with appendonly yes (and appendfsync always to survive a crash of
	// the host, not only of the process), or a replica to fail over to.
	AppendOnly bool
	// AppendFsync is the appendfsync policy with AppendOnly: "always"
	// (the default here: every write Redis acknowledged is on disk before
	// the reply, so kill -9 loses nothing a client was told succeeded),
	// "everysec" (Redis's default: up to a second of writes lost when the
	// host crashes; a kill -9 of the process alone loses nothing the
	// kernel has) or "no".
	AppendFsync string
}

// Start runs redis-server on a free loopback port with persistence off, in a
// temporary directory, waits until it answers PING and stops it on cleanup.
// The test is skipped when redis-server is not installed (make setup installs
// it); it never uses a server it did not start.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options (persistence).
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (make setup installs it)")
	}
	persist := []string{"--appendonly", "no"}
	if o.AppendOnly {
		fsync := o.AppendFsync
		if fsync == "" {
			fsync = "always"
		}
		persist = []string{"--appendonly", "yes", "--appendfsync", fsync}
	}
	deadline := time.Now().Add(20 * time.Second)
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err == nil {
			dir := t.TempDir()
			s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, bin: bin,
				args: append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
					"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, persist...)}
			s.URL = "redis://" + s.Addr + "/0"
			if s.proc, err = s.start(); err == nil {
				t.Cleanup(func() { s.Kill() })
				return s
			}
		}
		// Another process may take the port between our probe and redis binding it.
		if attempt == 5 || time.Now().After(deadline) {
			t.Fatalf("start redis-server: %v", err)
		}
	}
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done
}

// start runs redis-server with s.args and waits until it answers PING
// (after loading its append-only file, when there is one).
func (s *Server) start() (*process, error) {
	p := &process{cmd: exec.Command(s.bin, s.args...), done: make(chan struct{})}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr) == nil {
			return p, nil
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			return nil, fmt.Errorf("redis-server exited: %v\n%s", p.err, log)
		case <-time.After(20 * time.Millisecond): // poll interval of the readiness check
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s", s.Addr)
		}
	}
}

// Kill stops the server with SIGKILL (a crash: no chance to flush
// anything) and waits until it has exited. It does nothing when the server
// is stopped.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.done
	s.proc = nil
}

// Shutdown stops the server gracefully with the SHUTDOWN command (it
// flushes the append-only file, when on, before exiting) and waits until it
// has exited, at most 10 s.
func (s *Server) Shutdown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("SHUTDOWN\r\n")); err != nil {
		return err
	}
	// Success closes the connection without a reply; a failure answers -ERR.
	if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		return fmt.Errorf("SHUTDOWN answered %q", strings.TrimSpace(line))
	}
	select {
	case <-s.proc.done:
		s.proc = nil
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("redis-server still running 10s after SHUTDOWN")
	}
}

// Restart starts the server again on the same port and data directory and
// waits until it answers PING, which it does once it has loaded what it
// kept. It fails when the server is running, or when it could not take its
// port back within 10 s.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("redis-server is running")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := s.start()
		if err == nil {
			s.proc = p
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restart redis-server on %s: %w", s.Addr, err)
		}
		time.Sleep(100 * time.Millisecond) // the port may still be held by someone else
	}
}

// Running says whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends an inline PING and expects +PONG (a server still loading its
// data answers -LOADING).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
