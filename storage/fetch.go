package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Fetch copies src to the local file dst and returns its size. dst appears
// atomically (temp file in dst's directory, fsync, rename) with mode 0600;
// its directory is created if needed. S3 objects are downloaded in parallel
// byte ranges by the transfer manager (16 MiB, 4 in flight); client may be
// nil for file sources. A source over maxBytes (0: unlimited) is
// ErrTooLarge; a missing one is ErrNotFound.
func Fetch(ctx context.Context, client *s3.Client, src Location, dst string, maxBytes int64) (int64, error) {
	var (
		n   int64
		err error
	)
	switch {
	case src.Scheme == "file":
		n, err = fetchFile(ctx, src.Path, dst, maxBytes)
	case src.Scheme == "s3" && client == nil:
		err = fmt.Errorf("%w: s3 source needs a client", ErrInvalidLocation)
	case src.Scheme == "s3" && (src.Key == "" || strings.HasSuffix(src.Key, "/")):
		err = fmt.Errorf("%w: want an object key, not a prefix", ErrInvalidLocation)
	case src.Scheme == "s3":
		n, err = fetchS3(ctx, client, src, dst, maxBytes)
	default:
		err = fmt.Errorf("%w: scheme %q", ErrInvalidLocation, src.Scheme)
	}
	if err != nil {
		return 0, opErr("fetch", src.String(), err)
	}
	return n, nil
}

func fetchFile(ctx context.Context, src, dst string, maxBytes int64) (int64, error) {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	} else if err != nil {
		return 0, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%w: not a regular file", ErrInvalidLocation)
	}
	if err := checkSize(fi.Size(), maxBytes); err != nil {
		return 0, err
	}
	return writeAtomic(dst, func(f *os.File) (int64, error) {
		r := io.Reader(in)
		if maxBytes > 0 {
			r = io.LimitReader(in, maxBytes+1) // the file may grow while we copy
		}
		n, err := io.Copy(f, ctxReader{ctx, r})
		if err == nil {
			err = checkSize(n, maxBytes)
		}
		return n, err
	})
}

func fetchS3(ctx context.Context, client *s3.Client, src Location, dst string, maxBytes int64) (int64, error) {
	h, err := head(ctx, client, src.Bucket, src.Key)
	if err != nil {
		return 0, err
	}
	size := aws.ToInt64(h.ContentLength)
	if err := checkSize(size, maxBytes); err != nil {
		return 0, err
	}
	return writeAtomic(dst, func(f *os.File) (int64, error) {
		if size == 0 {
			return 0, nil
		}
		w := &boundedWriterAt{f: f, limit: maxBytes}
		out, err := newTransfer(client, S3Config{}).DownloadObject(ctx, &tm.DownloadObjectInput{
			Bucket:   aws.String(src.Bucket),
			Key:      aws.String(src.Key),
			WriterAt: w,
			IfMatch:  h.ETag, // the object we sized, or 412
		})
		if lerr := w.localErr(); lerr != nil {
			return 0, lerr // the manager hides WriterAt errors behind its own type
		}
		if err != nil {
			return 0, downloadErr(err)
		}
		if n := aws.ToInt64(out.ContentLength); n != size {
			return n, retryableError{fmt.Errorf("object changed during download: got %d of %d bytes", n, size)}
		}
		return size, nil
	})
}

// downloadErr classifies a transfer-manager download failure.
func downloadErr(err error) error {
	var (
		api  smithy.APIError
		resp interface{ HTTPStatusCode() int }
	)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusPreconditionFailed:
		return retryableError{fmt.Errorf("object changed during download: %w", err)}
	case errors.As(err, &api) || errors.As(err, &resp):
		return notFound(err)
	default: // an interrupted body or a range mismatch, after the manager's retries
		return retryableError{err}
	}
}

func checkSize(n, maxBytes int64) error {
	if maxBytes > 0 && n > maxBytes {
		return fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, n, maxBytes)
	}
	return nil
}

// boundedWriterAt refuses writes past limit (0: unlimited) and remembers
// the first local failure.
type boundedWriterAt struct {
	f     *os.File
	limit int64
	mu    sync.Mutex
	err   error
}

func (w *boundedWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if err := checkSize(off+int64(len(p)), w.limit); err != nil {
		w.setErr(err)
		return 0, err
	}
	n, err := w.f.WriteAt(p, off)
	if err != nil {
		w.setErr(err)
	}
	return n, err
}

func (w *boundedWriterAt) setErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *boundedWriterAt) localErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// writeAtomic creates dst from a temp file in its directory: fill writes the
// content, which is synced and renamed into place; on error dst is untouched.
func writeAtomic(dst string, fill func(*os.File) (int64, error)) (int64, error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return 0, err
	}
	n, err := fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
