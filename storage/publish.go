package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Publisher publishes a finished local output directory atomically.
type Publisher interface {
	// Publish makes the tree under dir visible at dst. jobID makes it
	// idempotent: publishing the same jobID again is a no-op returning
	// ErrAlreadyPublished; a dst holding another job's output is ErrConflict.
	Publish(ctx context.Context, dir string, dst Location, jobID string) error
}

// validJobID keeps job IDs safe as file names and HTTP header values.
func validJobID(id string) error {
	if id == "" || len(id) > 255 || id == "." || id == ".." {
		return fmt.Errorf("%w: job ID %q", ErrInvalidLocation, id)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("%w: job ID %q: want [a-zA-Z0-9._-]", ErrInvalidLocation, id)
		}
	}
	return nil
}

type localPublisher struct{}

// NewLocalPublisher publishes by copying dir to the sibling staging directory
// dst.tmp-<jobID>, fsyncing every file and directory, writing the marker
// .published-<jobID> last, and renaming the staging directory to dst. dir
// is left untouched.
//
// dst only ever appears by rename(2), complete and marked, so a crash at any
// point leaves nothing or everything visible. The marker inside a staging
// directory proves it complete: a retry renames a marked leftover into place
// and discards an unmarked one (renamed aside first, so that an attempt still
// writing it can only fail). Publishes of one jobID are expected not to
// overlap (the task queue's lease); if they do, the loser fails or returns
// ErrAlreadyPublished.
func NewLocalPublisher() Publisher { return localPublisher{} }

func (localPublisher) Publish(ctx context.Context, dir string, dst Location, jobID string) error {
	if err := localPublish(ctx, dir, dst, jobID); err != nil {
		return opErr("publish", dst.String(), err)
	}
	return nil
}

func localPublish(ctx context.Context, dir string, dst Location, jobID string) error {
	if dst.Scheme != "file" || !filepath.IsAbs(dst.Path) {
		return fmt.Errorf("%w: want a local destination", ErrInvalidLocation)
	}
	if err := validJobID(jobID); err != nil {
		return err
	}
	target := filepath.Clean(dst.Path)
	tmp := target + ".tmp-" + jobID
	marker := ".published-" + jobID
	if err := publishedState(target, jobID); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(tmp, marker)); errors.Is(err, fs.ErrNotExist) {
		if err := discard(tmp); err != nil {
			return err
		}
		if err := stage(ctx, dir, tmp, marker, jobID); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} // else: a complete staging directory from an earlier attempt; finish it.

	if err := os.Rename(tmp, target); err != nil {
		if serr := publishedState(target, jobID); serr != nil { // lost a race
			if errors.Is(serr, ErrAlreadyPublished) {
				os.RemoveAll(tmp) // ours, complete and redundant
			}
			return serr
		}
		return err
	}
	return syncDir(filepath.Dir(target))
}

// publishedState is nil when target is absent, ErrAlreadyPublished when it
// carries jobID's marker, and ErrConflict otherwise.
func publishedState(target, jobID string) error {
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(target, ".published-"+jobID)); err == nil {
		return ErrAlreadyPublished
	}
	var others []string
	entries, _ := os.ReadDir(target)
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), ".published-"); ok {
			others = append(others, id)
		}
	}
	return fmt.Errorf("%w: published by %q", ErrConflict, others)
}

// discard removes an incomplete staging directory, renaming it aside first
// so that whoever may still be writing it fails instead of completing it.
func discard(tmp string) error {
	aside := fmt.Sprintf("%s.discard-%d", tmp, time.Now().UnixNano())
	if err := os.Rename(tmp, aside); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return os.RemoveAll(aside)
}

// stage copies dir to tmp durably, then writes the marker. It works through
// an os.Root on tmp, so if a concurrent attempt discards tmp, the remaining
// writes land in the discarded tree, never in a successor's.
func stage(ctx context.Context, dir, tmp, marker, jobID string) (err error) {
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil { // exclusive
		return err
	}
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && sameDir(root, tmp) == nil {
			os.RemoveAll(tmp) // don't leave a permanent failure's copy behind
		}
		root.Close()
	}()
	dirs := []string{"."}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		switch {
		case err != nil || rel == ".":
			return err
		case d.IsDir():
			dirs = append(dirs, rel)
			return root.Mkdir(rel, 0o755)
		case d.Type().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			return createSynced(root, rel, ctxReader{ctx, in})
		}
		return fmt.Errorf("%s: not a regular file or directory", p)
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := syncIn(root, d); err != nil {
			return err
		}
	}
	if err := createSynced(root, marker, strings.NewReader(jobID+"\n")); err != nil {
		return err
	}
	if err := syncIn(root, "."); err != nil {
		return err
	}
	return sameDir(root, tmp)
}

// sameDir checks that path still names root's directory.
func sameDir(root *os.Root, path string) error {
	a, err := root.Stat(".")
	if err != nil {
		return err
	}
	b, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !os.SameFile(a, b) {
		return fmt.Errorf("%s: replaced by a concurrent attempt", path)
	}
	return nil
}

func createSynced(root *os.Root, name string, r io.Reader) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncIn(root *os.Root, name string) error {
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
