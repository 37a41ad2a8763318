package storage

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFetch(t *testing.T) {
	f := newFakeS3(t)
	small, big := pattern(1000, 1), pattern(35<<20, 2) // big: three 16 MiB ranges
	f.put("in/small.mp4", small)
	f.put("in/big.mp4", big)
	f.put("in/empty.mp4", nil)
	local := filepath.Join(t.TempDir(), "local.mp4")
	writeTree(t, filepath.Dir(local), map[string][]byte{"local.mp4": small})

	s3loc := func(key string) Location { return Location{Scheme: "s3", Bucket: testBucket, Key: key} }
	for _, tc := range []struct {
		name     string
		src      Location
		maxBytes int64
		want     []byte
		err      error
		ranges   int // minimum ranged GETs
	}{
		{"small", s3loc("in/small.mp4"), 0, small, nil, 0},
		{"small at limit", s3loc("in/small.mp4"), 1000, small, nil, 0},
		{"multipart-sized", s3loc("in/big.mp4"), 0, big, nil, 3},
		{"empty", s3loc("in/empty.mp4"), 10, []byte{}, nil, 0},
		{"missing", s3loc("in/nope.mp4"), 0, nil, ErrNotFound, 0},
		{"missing bucket", Location{Scheme: "s3", Bucket: "nobucket", Key: "x"}, 0, nil, ErrNotFound, 0},
		{"over limit", s3loc("in/small.mp4"), 999, nil, ErrTooLarge, 0},
		{"big over limit", s3loc("in/big.mp4"), 1 << 20, nil, ErrTooLarge, 0},
		{"prefix", s3loc("in/"), 0, nil, ErrInvalidLocation, 0},
		{"file", Location{Scheme: "file", Path: local}, 0, small, nil, 0},
		{"file over limit", Location{Scheme: "file", Path: local}, 10, nil, ErrTooLarge, 0},
		{"file missing", Location{Scheme: "file", Path: local + ".nope"}, 0, nil, ErrNotFound, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "sub", "input.mp4")
			_, before := f.snapshot()
			n, err := Fetch(t.Context(), f.client, tc.src, dst, tc.maxBytes)
			_, after := f.snapshot()
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
					t.Errorf("left %v behind", entries)
				}
				return
			}
			got, err := os.ReadFile(dst)
			if err != nil || n != int64(len(tc.want)) || !bytes.Equal(got, tc.want) {
				t.Fatalf("n=%d len=%d err=%v, want %d bytes", n, len(got), err, len(tc.want))
			}
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 1 {
				t.Errorf("temp files left: %v", entries)
			}
			ranged := 0
			for _, r := range after[len(before):] {
				if r.Method == http.MethodGet && r.Header.Get("Range") != "" {
					ranged++
				}
			}
			if ranged < tc.ranges {
				t.Errorf("%d ranged GETs, want >= %d", ranged, tc.ranges)
			}
		})
	}
}

func TestFetchTransient(t *testing.T) {
	f := newFakeS3(t)
	f.put("in/a.mp4", pattern(100, 3))
	f.set(func() { f.fail = func(r *http.Request) bool { return r.Method == http.MethodGet } })
	dst := filepath.Join(t.TempDir(), "a.mp4")
	_, err := Fetch(t.Context(), f.client, Location{Scheme: "s3", Bucket: testBucket, Key: "in/a.mp4"}, dst, 0)
	var op *OpError
	if !errors.Is(err, ErrTransient) || !errors.As(err, &op) || op.Op != "fetch" {
		t.Fatalf("err = %v, want a transient fetch error", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dst exists after failure: %v", err)
	}
	f.set(func() { f.fail = nil })
	if _, err := Fetch(t.Context(), f.client, Location{Scheme: "s3", Bucket: testBucket, Key: "in/a.mp4"}, dst, 0); err != nil {
		t.Fatal(err)
	}
}

// The object is replaced between Fetch's HEAD and its GET, and the store
// ignores If-Match on GET (gofakes3 does): the download must still be
// bounded and complete.
func TestFetchObjectChanged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxBytes int64
		err      error
	}{
		{"grows past limit", 150, ErrTooLarge},
		{"size mismatch", 0, ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3(t)
			f.put("in/a.mp4", pattern(100, 4))
			var replace sync.Once
			f.set(func() {
				f.fail = func(r *http.Request) bool {
					if r.Method == http.MethodGet {
						replace.Do(func() {
							grown := pattern(200, 5)
							if _, err := f.backend.PutObject(testBucket, "in/a.mp4", map[string]string{}, bytes.NewReader(grown), int64(len(grown)), nil); err != nil {
								t.Error(err)
							}
						})
					}
					return false
				}
			})
			dst := filepath.Join(t.TempDir(), "a.mp4")
			_, err := Fetch(t.Context(), f.client, Location{Scheme: "s3", Bucket: testBucket, Key: "in/a.mp4"}, dst, tc.maxBytes)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("dst exists after failure: %v", err)
			}
		})
	}
}
