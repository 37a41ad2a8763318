package hls

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafov/m3u8"
)

func testVariants() []Variant {
	return []Variant{
		{URI: "1080p/index.m3u8", Bandwidth: 6_210_000, AverageBandwidth: 4_830_000,
			Codecs: []string{"avc1.640028", "mp4a.40.2"}, Width: 1920, Height: 1080, FrameRate: 30000.0 / 1001},
		{URI: "360p/index.m3u8", Bandwidth: 900_000, AverageBandwidth: 650_000,
			Codecs: []string{"hvc1.1.6.L93.90", "mp4a.40.2"}, Width: 640, Height: 360, FrameRate: 25},
	}
}

const goldenMaster = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=6210000,AVERAGE-BANDWIDTH=4830000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970
1080p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=650000,CODECS="hvc1.1.6.L93.90,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=25.000
360p/index.m3u8
`

func TestMasterGolden(t *testing.T) {
	vs := testVariants()
	got, err := Master(vs)
	if err != nil {
		t.Fatalf("Master: %v", err)
	}
	if string(got) != goldenMaster {
		t.Errorf("Master =\n%s\nwant\n%s", got, goldenMaster)
	}

	pl, kind, err := m3u8.DecodeFrom(bytes.NewReader(got), true)
	if err != nil {
		t.Fatalf("m3u8.DecodeFrom: %v", err)
	}
	mp, ok := pl.(*m3u8.MasterPlaylist)
	if kind != m3u8.MASTER || !ok {
		t.Fatalf("m3u8.DecodeFrom: got list type %v, want master", kind)
	}
	if len(mp.Variants) != len(vs) {
		t.Fatalf("m3u8 read %d variants, want %d", len(mp.Variants), len(vs))
	}
	for i, v := range vs {
		got := mp.Variants[i]
		want := m3u8.VariantParams{
			Bandwidth:        uint32(v.Bandwidth),
			AverageBandwidth: uint32(v.AverageBandwidth),
			Codecs:           strings.Join(v.Codecs, ","),
			Resolution:       fmt.Sprintf("%dx%d", v.Width, v.Height),
			FrameRate:        math.Round(v.FrameRate*1000) / 1000,
		}
		if got.URI != v.URI || got.Bandwidth != want.Bandwidth || got.AverageBandwidth != want.AverageBandwidth ||
			got.Codecs != want.Codecs || got.Resolution != want.Resolution || got.FrameRate != want.FrameRate {
			t.Errorf("variant %d round-trips as %s %+v, want %s %+v", i, got.URI, got.VariantParams, v.URI, want)
		}
	}
}

func TestMasterInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Variant)
	}{
		{"empty URI", func(v *Variant) { v.URI = "" }},
		{"URI with newline", func(v *Variant) { v.URI = "a\n#EXT-X-ENDLIST" }},
		{"URI with CR", func(v *Variant) { v.URI = "a\r.m3u8" }},
		{"URI with quote", func(v *Variant) { v.URI = `a".m3u8` }},
		{"URI like a tag", func(v *Variant) { v.URI = "#EXT-X-ENDLIST" }},
		{"zero bandwidth", func(v *Variant) { v.Bandwidth = 0 }},
		{"negative bandwidth", func(v *Variant) { v.Bandwidth = -1 }},
		{"zero average", func(v *Variant) { v.AverageBandwidth = 0 }},
		{"average above peak", func(v *Variant) { v.AverageBandwidth = v.Bandwidth + 1 }},
		{"zero width", func(v *Variant) { v.Width = 0 }},
		{"negative height", func(v *Variant) { v.Height = -720 }},
		{"zero frame rate", func(v *Variant) { v.FrameRate = 0 }},
		{"NaN frame rate", func(v *Variant) { v.FrameRate = math.NaN() }},
		{"infinite frame rate", func(v *Variant) { v.FrameRate = math.Inf(1) }},
		{"no codecs", func(v *Variant) { v.Codecs = nil }},
		{"empty codec", func(v *Variant) { v.Codecs = []string{"avc1.640028", ""} }},
		{"codec with comma", func(v *Variant) { v.Codecs = []string{"avc1.640028,mp4a.40.2"} }},
		{"codec with quote", func(v *Variant) { v.Codecs = []string{`avc1"`} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := testVariants()
			tc.mutate(&vs[1])
			if got, err := Master(vs); err == nil {
				t.Errorf("Master = %q, want error", got)
			}
		})
	}
	t.Run("no variants", func(t *testing.T) {
		if got, err := Master(nil); err == nil {
			t.Errorf("Master = %q, want error", got)
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.m3u8")
	for _, data := range []string{"first version, rather long\n", "second\n"} {
		if err := WriteFileAtomic(path, []byte(data)); err != nil {
			t.Fatalf("WriteFileAtomic: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != data {
			t.Errorf("file holds %q, want %q", got, data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", fi.Mode().Perm())
		}
		assertDir(t, dir, "master.m3u8")
	}

	// Failures leave nothing behind.
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x.m3u8"), []byte("x")); err == nil {
		t.Error("WriteFileAtomic into a missing directory succeeded")
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(sub, []byte("x")); err == nil {
		t.Error("WriteFileAtomic over a directory succeeded")
	}
	assertDir(t, dir, "master.m3u8", "sub")
	assertDir(t, sub)
}

// assertDir checks that dir holds exactly the named entries.
func assertDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
