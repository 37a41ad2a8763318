package hls

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ffmpegVOD is a media playlist as FFmpeg 8's hls muxer writes it for fMP4
// segments with -hls_playlist_type vod.
const ffmpegVOD = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:6.000000,
seg_00000.m4s
#EXTINF:6.000000,
seg_00001.m4s
#EXTINF:3.520000,
seg_00002.m4s
#EXT-X-ENDLIST
`

var parseMediaTests = []struct {
	name string
	in   string
	want *MediaPlaylist // nil if ParseMediaPlaylist must fail
}{
	{"FFmpeg VOD", ffmpegVOD, &MediaPlaylist{
		Version: 7, TargetDuration: 6, InitURI: "init.mp4", Ended: true, PlaylistType: "VOD",
		Segments: []Segment{{"seg_00000.m4s", 6}, {"seg_00001.m4s", 6}, {"seg_00002.m4s", 3.52}},
	}},
	{"EVENT in progress, CRLF, unknown tags", "\uFEFF#EXTM3U\r\n#EXT-X-VERSION:7\r\n#EXT-X-TARGETDURATION:4\r\n" +
		"#EXT-X-MEDIA-SEQUENCE:12\r\n#EXT-X-PLAYLIST-TYPE:EVENT\r\n" +
		"#EXT-X-MAP:URI=\"init,0.mp4\",BYTERANGE=\"800@0\"\r\n" +
		"# a comment\r\n#EXT-X-PROGRAM-DATE-TIME:2025-01-01T00:00:00Z\r\n" +
		"#EXTINF:4.004\r\nseg_00012.m4s\r\n\r\n#EXT-X-DISCONTINUITY\r\n" +
		"#EXT-X-MAP:URI=\"init1.mp4\"\r\n#EXTINF:3.5,title, with comma\r\nseg_00013.m4s\r\n", &MediaPlaylist{
		Version: 7, TargetDuration: 4, MediaSequence: 12, InitURI: "init,0.mp4", PlaylistType: "EVENT", Discontinuities: 1,
		Segments: []Segment{{"seg_00012.m4s", 4.004}, {"seg_00013.m4s", 3.5}},
	}},
	{"header only", "#EXTM3U", &MediaPlaylist{}},
	{"map with attribute before URI", "#EXTM3U\n#EXT-X-MAP:BYTERANGE=800@0,URI=\"i.mp4\"\n",
		&MediaPlaylist{InitURI: "i.mp4"}},
	{"zero duration", "#EXTM3U\n#EXTINF:0,\na.m4s\n", &MediaPlaylist{Segments: []Segment{{"a.m4s", 0}}}},

	{"empty", "", nil},
	{"missing header", "#EXT-X-VERSION:7\n#EXTINF:6,\na.m4s\n", nil},
	{"header not first", "\n#EXTM3U\n", nil},
	{"bad EXTINF", "#EXTM3U\n#EXTINF:six,\na.m4s\n", nil},
	{"empty EXTINF", "#EXTM3U\n#EXTINF:\na.m4s\n", nil},
	{"negative EXTINF", "#EXTM3U\n#EXTINF:-1,\na.m4s\n", nil},
	{"NaN EXTINF", "#EXTM3U\n#EXTINF:NaN,\na.m4s\n", nil},
	{"infinite EXTINF", "#EXTM3U\n#EXTINF:1e999,\na.m4s\n", nil},
	{"URI without EXTINF", "#EXTM3U\n#EXT-X-TARGETDURATION:6\na.m4s\n", nil},
	{"EXTINF twice", "#EXTM3U\n#EXTINF:6,\n#EXTINF:6,\na.m4s\n", nil},
	{"EXTINF at end", "#EXTM3U\n#EXTINF:6,\na.m4s\n#EXTINF:6,\n#EXT-X-ENDLIST\n", nil},
	{"bad version", "#EXTM3U\n#EXT-X-VERSION:seven\n", nil},
	{"negative target duration", "#EXTM3U\n#EXT-X-TARGETDURATION:-6\n", nil},
	{"bad media sequence", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:\n", nil},
	{"bad playlist type", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:LIVE\n", nil},
	{"map without URI", "#EXTM3U\n#EXT-X-MAP:BYTERANGE=800@0\n", nil},
	{"map with empty URI", "#EXTM3U\n#EXT-X-MAP:URI=\"\"\n", nil},
	{"map with unterminated URI", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\n", nil},
	{"map with junk after quote", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"x\n", nil},
	{"map with bare attribute", "#EXTM3U\n#EXT-X-MAP:URI\n", nil},
	{"master playlist", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n", nil},
}

func TestParseMediaPlaylist(t *testing.T) {
	for _, tc := range parseMediaTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMediaPlaylist([]byte(tc.in))
			switch {
			case tc.want == nil && err == nil:
				t.Fatalf("ParseMediaPlaylist = %+v, want error", got)
			case tc.want == nil:
				if !strings.HasPrefix(err.Error(), "hls: ") {
					t.Errorf("error %q lacks the hls: prefix", err)
				}
			case err != nil:
				t.Fatalf("ParseMediaPlaylist: %v", err)
			case !reflect.DeepEqual(got, tc.want):
				t.Errorf("ParseMediaPlaylist =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func FuzzParseMediaPlaylist(f *testing.F) {
	for _, tc := range parseMediaTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseMediaPlaylist(data)
		if err != nil {
			return
		}
		for i, s := range p.Segments {
			if !(s.Duration >= 0) || s.URI == "" {
				t.Fatalf("segment %d is %+v", i, s)
			}
		}
	})
}

func TestBandwidth(t *testing.T) {
	const (
		kB     = 1000
		header = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI=\"init.mp4\"\n"
	)
	tests := []struct {
		name          string
		playlist      string         // "" leaves index.m3u8 out
		files         map[string]int // name -> size in bytes
		peak, average int64          // bits/s
		wantErr       bool
	}{
		{"FFmpeg VOD", ffmpegVOD,
			map[string]int{"init.mp4": 900, "seg_00000.m4s": 750 * kB, "seg_00001.m4s": 1500 * kB, "seg_00002.m4s": 440 * kB},
			2_000_000, 1_386_598, false}, // peak 1.5 MB*8/6 s; average 21.52 Mbit/15.52 s = 1386597.9
		{"rounds up", header + "#EXTINF:3.000000,\na.m4s\n#EXTINF:3.000000,\nb.m4s\n",
			map[string]int{"a.m4s": 1, "b.m4s": 2}, 6, 4, false},
		{"segment in a subdirectory", header + "#EXTINF:2,\nsub/a.m4s\n",
			map[string]int{"sub/a.m4s": 1 * kB}, 4 * kB, 4 * kB, false},
		{"missing segment", header + "#EXTINF:6,\na.m4s\n#EXTINF:6,\nb.m4s\n",
			map[string]int{"a.m4s": 1 * kB}, 0, 0, true},
		{"no segments", header + "#EXT-X-ENDLIST\n", nil, 0, 0, true},
		{"zero duration", header + "#EXTINF:0,\na.m4s\n", map[string]int{"a.m4s": 1}, 0, 0, true},
		{"absolute URL", header + "#EXTINF:6,\nhttps://cdn.example/a.m4s\n", nil, 0, 0, true},
		{"absolute path", header + "#EXTINF:6,\n/etc/passwd\n", nil, 0, 0, true},
		{"segment is a directory", header + "#EXTINF:6,\nsub\n", map[string]int{"sub/x": 1}, 0, 0, true},
		{"bad playlist", "#EXTINF:6,\na.m4s\n", map[string]int{"a.m4s": 1}, 0, 0, true},
		{"missing playlist", "", nil, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.playlist != "" {
				writeFile(t, filepath.Join(dir, "index.m3u8"), []byte(tc.playlist))
			}
			for name, size := range tc.files {
				writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), make([]byte, size))
			}
			peak, avg, err := Bandwidth(dir, "index.m3u8")
			switch {
			case tc.wantErr && err == nil:
				t.Fatalf("Bandwidth = %d, %d, want error", peak, avg)
			case tc.wantErr:
				if !strings.HasPrefix(err.Error(), "hls: ") {
					t.Errorf("error %q lacks the hls: prefix", err)
				}
			case err != nil:
				t.Fatalf("Bandwidth: %v", err)
			case peak != tc.peak || avg != tc.average:
				t.Errorf("Bandwidth = %d, %d, want %d, %d", peak, avg, tc.peak, tc.average)
			}
		})
	}
}

// writeFile writes data to path, creating its directory.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
