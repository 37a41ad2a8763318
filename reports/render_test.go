package reports

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"flag"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func writeFixtures(t *testing.T) (string, []string) {
	t.Helper()
	rep := buildFixtures(t, fixtures(t), Options{PricingNote: "fake catalog for tests"})
	dir := t.TempDir()
	files, err := Write(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func TestGolden(t *testing.T) {
	dir, _ := writeFixtures(t)
	for _, name := range []string{"report.md", "batch.csv", "live.csv", "rungs.csv"} {
		t.Run(name, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./reports -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run go test ./reports -update if the change is intended):\n%s", name, golden, firstDiff(got, want))
			}
		})
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

var chartNames = []string{"relative-cost", "live-streams", "live-streams-per-dollar", "fps", "rung-size", "quality-bitrate"}

func TestWrite(t *testing.T) {
	dir, files := writeFixtures(t)
	want := []string{"report.md", "report.html", "batch.csv", "live.csv", "rungs.csv"}
	for _, c := range chartNames {
		want = append(want, c+".png", c+".svg")
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
		if filepath.Dir(f) != dir {
			t.Errorf("%s written outside %s", f, dir)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}

	for _, c := range chartNames {
		data, err := os.ReadFile(filepath.Join(dir, c+".png"))
		if err != nil {
			t.Fatal(err)
		}
		checkPNG(t, c+".png", data)
		svg, err := os.ReadFile(filepath.Join(dir, c+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, c+".svg", svg)
	}

	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	if n := strings.Count(html, "data:image/png;base64,"); n != len(chartNames) {
		t.Errorf("report.html embeds %d PNGs, want %d", n, len(chartNames))
	}
	if m := regexp.MustCompile(`(?i)https?://`).FindString(html); m != "" {
		t.Errorf("report.html refers to %q", m)
	}
	imgs := regexp.MustCompile(`<img id="chart-([a-z-]+)" alt="([^"]+)" src="data:image/png;base64,([^"]+)">`).FindAllStringSubmatch(html, -1)
	if len(imgs) != len(chartNames) {
		t.Fatalf("report.html has %d well-formed <img> elements, want %d", len(imgs), len(chartNames))
	}
	for i, m := range imgs {
		if m[1] != chartNames[i] {
			t.Errorf("image %d has id chart-%s, want chart-%s", i, m[1], chartNames[i])
		}
		data, err := base64.StdEncoding.DecodeString(m[3])
		if err != nil {
			t.Fatalf("image %s: %v", m[1], err)
		}
		checkPNG(t, "embedded "+m[1], data)
	}
	for _, s := range []string{"<table>", "Batch encoding", "unavailable: h264_nvenc cannot open", "Prices", "Notes", "2026-02-05T12:00:00Z"} {
		if !strings.Contains(html, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
}

func checkPNG(t *testing.T, name string, data []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 || len(data) < 10_000 {
		t.Errorf("%s: %dx%d, %d bytes: too small to be a chart", name, b.Dx(), b.Dy(), len(data))
	}
}

func checkXML(t *testing.T, name string, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var elements int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if _, ok := tok.(xml.StartElement); ok {
			elements++
		}
	}
	if elements < 20 {
		t.Errorf("%s: only %d elements", name, elements)
	}
}

func TestWriteDeterministic(t *testing.T) {
	dir1, files := writeFixtures(t)
	dir2, _ := writeFixtures(t)
	for _, f := range files {
		a, _ := os.ReadFile(f)
		b, _ := os.ReadFile(filepath.Join(dir2, filepath.Base(f)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two writes of the same report", strings.TrimPrefix(f, dir1))
		}
	}
}

// Charts without data are skipped and said so; nothing crashes on a report
// with nothing to plot.
func TestWriteEmptyCharts(t *testing.T) {
	tests := []struct {
		name   string
		report *Report
		charts []string
		notes  []string
	}{
		{"empty", &Report{}, nil, []string{
			"Chart relative-cost skipped: no relative costs.",
			"Charts live-streams and live-streams-per-dollar skipped: no live results.",
			"Chart fps skipped: no batch throughput.",
			"Charts rung-size and quality-bitrate skipped: no rung figures.",
		}},
		{"only unavailable", &Report{
			BatchRows: []BatchRow{{InstanceType: "c6i.4xlarge", Source: "medium", Codec: "h264_nvenc", Preset: "p1", Unavailable: true, Reason: "no GPU"}},
			LiveRows:  []LiveRow{{InstanceType: "c6i.4xlarge", Source: "medium", Codec: "h264_nvenc", Preset: "p1", Unavailable: true, Reason: "no GPU"}},
		}, nil, []string{
			"Chart relative-cost skipped: no relative costs.",
			"Charts live-streams and live-streams-per-dollar skipped: every live case was unavailable.",
			"Chart fps skipped: no batch throughput.",
		}},
		{"unpriced", &Report{
			BatchRows: []BatchRow{{InstanceType: "c6i.4xlarge", Source: "medium", Codec: "x264", Preset: "ultrafast", Parallel: 1, FPS: Summarize([]float64{300})}},
			LiveRows:  []LiveRow{{InstanceType: "c6i.4xlarge", Source: "medium", Codec: "x264", Preset: "ultrafast", Streams: 1}},
		}, []string{"live-streams", "fps"}, []string{"Chart live-streams-per-dollar skipped: no priced live results."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := Write(dir, tt.report)
			if err != nil {
				t.Fatal(err)
			}
			var charts []string
			for _, f := range files {
				if name, ok := strings.CutSuffix(filepath.Base(f), ".png"); ok {
					charts = append(charts, name)
				}
			}
			if !slices.Equal(charts, tt.charts) {
				t.Errorf("charts %q, want %q", charts, tt.charts)
			}
			md, err := os.ReadFile(filepath.Join(dir, "report.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.notes {
				if !strings.Contains(string(md), "- "+n+"\n") {
					t.Errorf("report.md lacks note %q", n)
				}
			}
		})
	}
}
