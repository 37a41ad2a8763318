package worker

import (
	"path"
	"strings"
	"testing"
)

var segmentPathCases = []struct {
	name, rung, uri string
	want            string // "" when rejected
}{
	{"segment", "720p", "seg_00042.m4s", "720p/seg_00042.m4s"},
	{"init", "720p", "init.mp4", "720p/init.mp4"},
	{"subdirectory", "720p", "a/seg.m4s", "720p/a/seg.m4s"},
	{"dot", "720p", "./seg.m4s", "720p/seg.m4s"},
	{"up and back", "720p", "../720p/seg.m4s", "720p/seg.m4s"},
	{"other rung", "720p", "../480p/seg.m4s", ""},
	{"out of the tree", "720p", "../../etc/passwd", ""},
	{"rung itself", "720p", ".", ""},
	{"absolute", "720p", "/seg.m4s", ""},
	{"url", "720p", "https://cdn.example.net/seg.m4s", ""},
	{"scheme-relative", "720p", "//cdn.example.net/seg.m4s", ""},
	{"query", "720p", "seg.m4s?token=1", ""},
	{"empty", "720p", "", ""},
}

func TestSegmentPath(t *testing.T) {
	for _, c := range segmentPathCases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := segmentPath(c.rung, c.uri)
			if ok != (c.want != "") || ok && got != c.want {
				t.Errorf("segmentPath(%q, %q) = %q, %v; want %q", c.rung, c.uri, got, ok, c.want)
			}
		})
	}
}

func FuzzSegmentPath(f *testing.F) {
	for _, c := range segmentPathCases {
		f.Add(c.rung, c.uri)
	}
	f.Fuzz(func(t *testing.T, rung, uri string) {
		if rung == "" || strings.ContainsAny(rung, "/\\") || rung == "." || rung == ".." {
			return // rung names are single path elements (ladder validation)
		}
		got, ok := segmentPath(rung, uri)
		if !ok {
			return
		}
		if !strings.HasPrefix(got, rung+"/") || path.Clean(got) != got || strings.Contains("/"+got+"/", "/../") {
			t.Errorf("segmentPath(%q, %q) = %q: not a clean path inside the rung", rung, uri, got)
		}
	})
}

func TestObjectKey(t *testing.T) {
	cases := []struct{ name, prefix, rel, want string }{
		{"prefix", "live/cam7", "720p/index.m3u8", "live/cam7/720p/index.m3u8"},
		{"trailing slash", "live/cam7/", "720p/index.m3u8", "live/cam7/720p/index.m3u8"},
		{"bucket root", "", "720p/index.m3u8", "720p/index.m3u8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := objectKey(c.prefix, c.rel); got != c.want {
				t.Errorf("objectKey(%q, %q) = %q, want %q", c.prefix, c.rel, got, c.want)
			}
		})
	}
}
