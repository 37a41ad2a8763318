package storage

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLocalPublish(t *testing.T) {
	src := map[string][]byte{
		"master.m3u8":          []byte("#EXTM3U\n360p/index.m3u8\n"),
		"manifest.json":        []byte("{}"),
		"360p/index.m3u8":      []byte("#EXTM3U\nseg_00000.m4s\n"),
		"360p/init.mp4":        pattern(300, 1),
		"360p/seg_00000.m4s":   pattern(4000, 2),
		"360p/nested/deep.bin": pattern(10, 3),
	}
	published := maps.Clone(src)
	published[".published-job-1"] = []byte("job-1\n")

	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, out string) // state left by earlier attempts or jobs
		job     string
		err     error
		want    map[string][]byte // tree at out afterwards; nil: absent
	}{
		{"fresh", nil, "job-1", nil, published},
		{"fresh into missing parents", func(t *testing.T, out string) { os.RemoveAll(filepath.Dir(out)) }, "job-1", nil, published},
		{"republish", func(t *testing.T, out string) { writeTree(t, out, published) }, "job-1", ErrAlreadyPublished, published},
		{"other job", func(t *testing.T, out string) {
			writeTree(t, out, map[string][]byte{"master.m3u8": []byte("x"), ".published-job-0": []byte("job-0\n")})
		}, "job-1", ErrConflict, map[string][]byte{"master.m3u8": []byte("x"), ".published-job-0": []byte("job-0\n")}},
		{"unmarked destination", func(t *testing.T, out string) {
			writeTree(t, out, map[string][]byte{"stray": []byte("x")})
		}, "job-1", ErrConflict, map[string][]byte{"stray": []byte("x")}},
		{"crash mid-copy: leftover discarded", func(t *testing.T, out string) {
			writeTree(t, out+".tmp-job-1", map[string][]byte{"master.m3u8": []byte("#EXT"), "stale.m4s": []byte("old")})
		}, "job-1", nil, published},
		{"crash before rename: leftover completed", func(t *testing.T, out string) {
			done := maps.Clone(published)
			done["from-earlier-attempt"] = nil // proves the leftover was used
			writeTree(t, out+".tmp-job-1", done)
		}, "job-1", nil, func() map[string][]byte {
			m := maps.Clone(published)
			m["from-earlier-attempt"] = []byte{}
			return m
		}()},
		{"bad job ID", nil, "../escape", ErrInvalidLocation, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, out := t.TempDir(), filepath.Join(t.TempDir(), "pub", "out")
			writeTree(t, dir, src)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.prepare != nil {
				tc.prepare(t, out)
			}
			err := NewLocalPublisher().Publish(t.Context(), dir, Location{Scheme: "file", Path: out}, tc.job)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.want == nil {
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("destination exists: %v", err)
				}
			} else if got := readTree(t, out); !maps.EqualFunc(got, tc.want, bytes.Equal) {
				t.Errorf("tree = %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.want)))
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) > 1 || tc.want == nil && len(entries) > 0 {
				t.Errorf("staging left behind: %v", entries)
			}
			if got := readTree(t, dir); !maps.EqualFunc(got, src, bytes.Equal) {
				t.Error("source modified")
			}
		})
	}
}

func TestLocalPublishRejectsS3(t *testing.T) {
	err := NewLocalPublisher().Publish(t.Context(), t.TempDir(), outLoc, "job-1")
	if !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("err = %v", err)
	}
}

// An attempt still writing the staging directory when a retry discards it
// must not be able to add to the retry's tree.
func TestLocalPublishStaleAttempt(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeTree(t, dir, map[string][]byte{"master.m3u8": []byte("#EXTM3U\n")})
	writeTree(t, out+".tmp-job-1", map[string][]byte{"partial.m4s": []byte("x")})
	stale, err := os.OpenRoot(out + ".tmp-job-1")
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := NewLocalPublisher().Publish(t.Context(), dir, Location{Scheme: "file", Path: out}, "job-1"); err != nil {
		t.Fatal(err)
	}
	stale.WriteFile("late.m4s", []byte("late"), 0o644) // fails or lands in the discarded tree
	if got := readTree(t, out); len(got) != 2 || got["master.m3u8"] == nil || got[".published-job-1"] == nil {
		t.Errorf("tree = %v", slices.Sorted(maps.Keys(got)))
	}
}

func TestLocalPublishCanceled(t *testing.T) {
	dir, parent := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string][]byte{"master.m3u8": []byte("#EXTM3U\n")})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := NewLocalPublisher().Publish(ctx, dir, Location{Scheme: "file", Path: filepath.Join(parent, "out")}, "job-1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
}
