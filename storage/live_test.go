package storage

import (
	"bytes"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLiveUploader(t *testing.T) {
	f := newFakeS3(t)
	const prefix = "out/live/"
	// Every playlist PUT must list only objects already created.
	f.set(func() {
		f.onCreate = func(key string, body []byte) {
			if path.Ext(key) != ".m3u8" {
				return
			}
			created, _ := f.snapshot()
			rel := strings.TrimPrefix(key, prefix)
			for line := range strings.Lines(string(body)) {
				line = strings.TrimSpace(line)
				ref, ok := strings.CutPrefix(line, `#EXT-X-MAP:URI="`)
				if ok {
					ref = strings.TrimSuffix(ref, `"`)
				} else if line == "" || line[0] == '#' {
					continue
				}
				if obj := prefix + path.Join(path.Dir(rel), ref); !slices.Contains(created, obj) {
					t.Errorf("%s uploaded listing %s before it", key, obj)
				}
			}
		}
	})

	dir := t.TempDir()
	u := NewLiveUploader(f.client, Location{Scheme: "s3", Bucket: testBucket, Key: "out/live"}, dir)
	seg := func(rung string, n int) []byte { return pattern(3000+n, byte(len(rung)+n)) }
	media := func(segs ...string) []byte {
		return []byte("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\n" + strings.Join(segs, "\n#EXTINF:2.0,\n") + "\n")
	}
	steps := []struct {
		name   string
		write  map[string][]byte
		rename [2]string
		want   []string // objects created by this Sync, sorted
	}{
		{"first segment; master waits for 720p", map[string][]byte{
			"master.m3u8":            []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n720p/index.m3u8\n"),
			"360p/init.mp4":          pattern(500, 1),
			"360p/seg_00000.m4s":     seg("360p", 0),
			"360p/seg_00001.m4s.tmp": seg("360p", 1)[:100],
			"360p/index.m3u8":        media("seg_00000.m4s"),
		}, [2]string{}, []string{"360p/index.m3u8", "360p/init.mp4", "360p/seg_00000.m4s"}},
		{"playlist ahead of its segment waits", map[string][]byte{
			"360p/seg_00001.m4s.tmp": seg("360p", 1),
			"360p/index.m3u8":        media("seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"),
			"720p/init.mp4":          pattern(600, 2),
			"720p/seg_00000.m4s":     seg("720p", 0),
			"720p/index.m3u8":        media("seg_00000.m4s"),
		}, [2]string{"360p/seg_00001.m4s.tmp", "360p/seg_00001.m4s"},
			[]string{"360p/seg_00001.m4s", "720p/index.m3u8", "720p/init.mp4", "720p/seg_00000.m4s", "master.m3u8"}},
		{"segment lands", map[string][]byte{
			"360p/seg_00002.m4s": seg("360p", 2),
		}, [2]string{}, []string{"360p/index.m3u8", "360p/seg_00002.m4s"}},
		{"nothing new", nil, [2]string{}, nil},
		{"playlist caught mid-write", map[string][]byte{
			"720p/seg_00001.m4s": seg("720p", 1),
			"720p/index.m3u8":    media("seg_00000.m4s", "seg_00001.m4s")[:60],
		}, [2]string{}, nil},
		{"playlist finished", map[string][]byte{
			"720p/index.m3u8": append(media("seg_00000.m4s", "seg_00001.m4s"), "#EXT-X-ENDLIST\n"...),
		}, [2]string{}, []string{"720p/index.m3u8", "720p/seg_00001.m4s"}},
		{"stream ended: manifest", map[string][]byte{
			"manifest.json": []byte(`{"rungs":[]}` + "\n"),
		}, [2]string{}, []string{"manifest.json"}},
		{"manifest sent once", nil, [2]string{}, nil},
	}
	for _, st := range steps {
		writeTree(t, dir, st.write)
		if st.rename[0] != "" {
			if err := os.Rename(filepath.Join(dir, st.rename[0]), filepath.Join(dir, st.rename[1])); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := f.snapshot()
		if err := u.Sync(t.Context()); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after, _ := f.snapshot()
		var got []string
		for _, k := range after[len(before):] {
			got = append(got, strings.TrimPrefix(k, prefix))
		}
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: uploaded %q, want %q", st.name, got, st.want)
		}
	}
	for rel, want := range readTree(t, dir) {
		if strings.HasSuffix(rel, ".tmp") {
			continue
		}
		if body, h, ok := f.object(prefix + rel); !ok || !bytes.Equal(body, want) || *h.ContentType != wantContentType[path.Ext(rel)] {
			t.Errorf("%s: remote differs (present %v)", rel, ok)
		}
	}
}

// TestLiveUploaderAdopt resumes a stream whose segments are in the bucket
// already: ListSizes gives their sizes, the local files are zero-filled
// placeholders of those sizes, and Adopt keeps them from ever being sent,
// while the playlist listing them is published.
func TestLiveUploaderAdopt(t *testing.T) {
	f := newFakeS3(t)
	seg0, seg1 := pattern(3000, 7), pattern(2000, 9)
	f.put("out/live/360p/seg_00000.m4s", seg0)
	f.put("out/live/360p/seg_00001.m4s", seg1)
	f.put("out/live-other/360p/seg_00000.m4s", pattern(10, 1)) // beside the prefix, not under it
	dst := Location{Scheme: "s3", Bucket: testBucket, Key: "out/live"}
	sizes, err := ListSizes(t.Context(), f.client, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes["360p/seg_00000.m4s"] != 3000 || sizes["360p/seg_00001.m4s"] != 2000 {
		t.Fatalf("ListSizes: %v", sizes)
	}
	if _, err := ListSizes(t.Context(), f.client, Location{Scheme: "file", Path: "/tmp"}); !errors.Is(err, ErrInvalidLocation) {
		t.Errorf("ListSizes of a local location: %v, want ErrInvalidLocation", err)
	}

	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{
		"360p/seg_00000.m4s": make([]byte, sizes["360p/seg_00000.m4s"]), // placeholders
		"360p/seg_00001.m4s": make([]byte, sizes["360p/seg_00001.m4s"]),
		"360p/init.mp4":      pattern(500, 1),
		"360p/seg_00002.m4s": pattern(2500, 3), // the resumed attempt's first segment
		"360p/index.m3u8": []byte("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg_00000.m4s\n#EXTINF:2.0,\nseg_00001.m4s\n" +
			"#EXT-X-DISCONTINUITY\n#EXTINF:2.0,\nseg_00002.m4s\n"),
	})
	u := NewLiveUploader(f.client, dst, dir)
	u.Adopt("360p/seg_00000.m4s", "360p/seg_00001.m4s")
	before, _ := f.snapshot()
	if err := u.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Touch a placeholder: still never sent.
	writeTree(t, dir, map[string][]byte{"360p/seg_00001.m4s": make([]byte, 10)})
	if err := u.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, _ := f.snapshot()
	got := after[len(before):]
	slices.Sort(got)
	want := []string{"out/live/360p/index.m3u8", "out/live/360p/init.mp4", "out/live/360p/seg_00002.m4s"}
	if !slices.Equal(got, want) {
		t.Errorf("uploaded %q, want %q", got, want)
	}
	for key, body := range map[string][]byte{"out/live/360p/seg_00000.m4s": seg0, "out/live/360p/seg_00001.m4s": seg1} {
		if b, _, ok := f.object(key); !ok || !bytes.Equal(b, body) {
			t.Errorf("%s changed in the bucket", key)
		}
	}
}

func TestLiveUploaderRejectsLocal(t *testing.T) {
	f := newFakeS3(t)
	err := NewLiveUploader(f.client, Location{Scheme: "file", Path: "/x"}, t.TempDir()).Sync(t.Context())
	if !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("err = %v", err)
	}
}

func TestPlaylistRefs(t *testing.T) {
	for _, tc := range []struct {
		rel, body string
		want      []string
	}{
		{"360p/index.m3u8", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg_1.m4s\r\n\n#EXTINF:2,\nsub/seg_2.m4s\n", []string{"360p/init.mp4", "360p/seg_1.m4s", "360p/sub/seg_2.m4s"}},
		{"master.m3u8", "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",X-ALT-URI=\"alt.m3u8\",URI=\"audio/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n", []string{"audio/index.m3u8", "360p/index.m3u8"}},
		{"a/index.m3u8", "https://cdn/x.m4s\n/abs.m4s\n../b/ok.m4s\n../../escape.m4s\n#EXT-X-KEY:METHOD=NONE,URI=\"key\"\n", []string{"b/ok.m4s"}},
	} {
		if got := playlistRefs(tc.rel, []byte(tc.body)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.rel, got, tc.want)
		}
	}
}
