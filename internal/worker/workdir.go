package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// workDir is this process's directory under the configured WorkDir,
// worker-<pid>, with a lock file beside it held (flock) for the life of the
// process. Job directories live inside it. At start, the directories of
// workers that died without cleaning up (lock free and pid gone) are
// removed; workers sharing a WorkDir never touch each other's.
type workDir struct {
	dir  string
	lock *os.File
}

func openWorkDir(root string, log *slog.Logger) (*workDir, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("worker: work directory: %w", err)
	}
	name := "worker-" + strconv.Itoa(os.Getpid())
	lock, err := os.OpenFile(filepath.Join(root, name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("worker: work directory lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("worker: lock %s: %w", lock.Name(), err)
	}
	d := &workDir{dir: filepath.Join(root, name), lock: lock}
	if err := os.RemoveAll(d.dir); err != nil { // a previous process with our pid
		d.Close()
		return nil, fmt.Errorf("worker: clear work directory: %w", err)
	}
	if err := os.Mkdir(d.dir, 0o700); err != nil {
		d.Close()
		return nil, fmt.Errorf("worker: work directory: %w", err)
	}
	sweep(root, name, log)
	return d, nil
}

// sweep removes the work directories of dead workers.
func sweep(root, self string, log *slog.Logger) {
	locks, _ := filepath.Glob(filepath.Join(root, "worker-*.lock"))
	for _, l := range locks {
		name := strings.TrimSuffix(filepath.Base(l), ".lock")
		pid, err := strconv.Atoi(strings.TrimPrefix(name, "worker-"))
		if name == self || err != nil || processAlive(pid) {
			continue
		}
		f, err := os.OpenFile(l, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.RemoveAll(filepath.Join(root, name)); err == nil {
				os.Remove(l)
				log.Info("removed a dead worker's work directory", "dir", filepath.Join(root, name))
			}
		}
		f.Close()
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Close removes the directory and releases the lock.
func (d *workDir) Close() error {
	err := os.RemoveAll(d.dir)
	os.Remove(d.lock.Name())
	d.lock.Close() // releases the flock
	return err
}
