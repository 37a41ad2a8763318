package storage

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// hlsTree is a finished output: two rungs, a progressive MP4 big enough to
// go multipart at 5 MiB parts, and the two top-level files published last.
func hlsTree() map[string][]byte {
	files := map[string][]byte{
		"master.m3u8":   []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2800000\n720p/index.m3u8\n"),
		"manifest.json": []byte(`{"rungs":["360p","720p"]}`),
		"720p.mp4":      pattern(11<<20, 9),
	}
	for i, rung := range []string{"360p", "720p"} {
		pl := "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n"
		files[rung+"/init.mp4"] = pattern(700, byte(i))
		for s := range 3 {
			name := fmt.Sprintf("seg_%05d.m4s", s)
			files[rung+"/"+name] = pattern(5000+s, byte(10*i+s))
			pl += "#EXTINF:2.0,\n" + name + "\n"
		}
		files[rung+"/index.m3u8"] = []byte(pl + "#EXT-X-ENDLIST\n")
	}
	return files
}

var wantContentType = map[string]string{
	".m3u8": "application/vnd.apple.mpegurl",
	".mp4":  "video/mp4",
	".m4s":  "video/mp4",
	".json": "application/json",
}

func newPublishTest(t *testing.T) (*fakeS3, Publisher, string, map[string][]byte) {
	f := newFakeS3(t)
	dir, tree := t.TempDir(), hlsTree()
	writeTree(t, dir, tree)
	return f, NewS3Publisher(f.client, S3Config{PartSizeMB: 5, Concurrency: 3}), dir, tree
}

var outLoc = Location{Scheme: "s3", Bucket: testBucket, Key: "out/job"}

func checkPublished(t *testing.T, f *fakeS3, tree map[string][]byte, jobID string) {
	t.Helper()
	for rel, want := range tree {
		body, h, ok := f.object("out/job/" + rel)
		switch {
		case !ok:
			t.Errorf("%s missing", rel)
		case !bytes.Equal(body, want):
			t.Errorf("%s: %d bytes differ from %d local", rel, len(body), len(want))
		case *h.ContentType != wantContentType[rel[strings.LastIndex(rel, "."):]]:
			t.Errorf("%s: Content-Type %q", rel, *h.ContentType)
		case h.Metadata[jobMetaKey] != jobID:
			t.Errorf("%s: job metadata %q", rel, h.Metadata[jobMetaKey])
		}
	}
}

func TestS3Publish(t *testing.T) {
	f, p, dir, tree := newPublishTest(t)
	if err := p.Publish(t.Context(), dir, outLoc, "job-1"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, f, tree, "job-1")

	created, reqs := f.snapshot()
	if n := len(created); n != len(tree) || created[n-1] != "out/job/master.m3u8" || created[n-2] != "out/job/manifest.json" {
		t.Errorf("creation order %q: want %d objects, manifest then master last", created, len(tree))
	}
	multipart := slices.IndexFunc(reqs, func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Query().Has("uploads") && strings.HasSuffix(r.URL.Path, "/720p.mp4")
	})
	if multipart < 0 {
		t.Error("720p.mp4 was not uploaded multipart")
	}
	masterPut := slices.IndexFunc(reqs, func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/master.m3u8")
	})
	if masterPut < 0 || reqs[masterPut].Header.Get("If-None-Match") != "*" {
		t.Error("master PUT lacks If-None-Match: *")
	}

	for _, tc := range []struct {
		job string
		err error
	}{
		{"job-1", ErrAlreadyPublished},
		{"job-2", ErrConflict},
		{"bad/id", ErrInvalidLocation},
	} {
		err := p.Publish(t.Context(), dir, outLoc, tc.job)
		if !errors.Is(err, tc.err) {
			t.Errorf("republish as %s: err = %v, want %v", tc.job, err, tc.err)
		}
		if _, after := f.snapshot(); writes(after) != writes(reqs) {
			t.Errorf("republish as %s wrote %d times", tc.job, writes(after)-writes(reqs))
		}
	}
	checkPublished(t, f, tree, "job-1")
}

func TestS3PublishFailsMidway(t *testing.T) {
	f, p, dir, tree := newPublishTest(t)
	f.set(func() {
		f.fail = func(r *http.Request) bool {
			return r.Method == http.MethodPut && r.URL.Path == "/"+testBucket+"/out/job/720p/seg_00001.m4s"
		}
	})
	err := p.Publish(t.Context(), dir, outLoc, "job-1")
	var op *OpError
	if !errors.Is(err, ErrTransient) || !errors.As(err, &op) || !strings.HasSuffix(op.Object, "seg_00001.m4s") {
		t.Fatalf("err = %v, want a transient error naming the segment", err)
	}
	for _, rel := range []string{"master.m3u8", "manifest.json"} {
		if _, _, ok := f.object("out/job/" + rel); ok {
			t.Errorf("%s visible after a failed publish", rel)
		}
	}

	f.set(func() { f.fail = nil })
	if err := p.Publish(t.Context(), dir, outLoc, "job-1"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	checkPublished(t, f, tree, "job-1")
}

// Another job's master appears between our check and our master PUT: the
// conditional PUT must lose, and report the conflict.
func TestS3PublishMasterRace(t *testing.T) {
	f, p, dir, _ := newPublishTest(t)
	f.set(func() {
		f.onCreate = func(key string, _ []byte) {
			if key == "out/job/manifest.json" {
				other := []byte("#EXTM3U\n")
				meta := map[string]string{"X-Amz-Meta-Abrfleet-Job": "job-2"}
				if _, err := f.backend.PutObject(testBucket, "out/job/master.m3u8", meta, bytes.NewReader(other), int64(len(other)), nil); err != nil {
					t.Error(err)
				}
			}
		}
	})
	if err := p.Publish(t.Context(), dir, outLoc, "job-1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if body, h, _ := f.object("out/job/master.m3u8"); string(body) != "#EXTM3U\n" || h.Metadata[jobMetaKey] != "job-2" {
		t.Errorf("master overwritten: %q %v", body, h.Metadata)
	}
}

func TestS3PublishRejects(t *testing.T) {
	f, p, dir, _ := newPublishTest(t)
	for _, tc := range []struct {
		name string
		dir  string
		dst  Location
		err  error
	}{
		{"local destination", dir, Location{Scheme: "file", Path: "/x"}, ErrInvalidLocation},
		{"no master", t.TempDir(), outLoc, nil},
	} {
		err := p.Publish(t.Context(), tc.dir, tc.dst, "job-1")
		if err == nil || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	if created, _ := f.snapshot(); len(created) != 0 {
		t.Errorf("created %q", created)
	}
}
