package reports

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakePricer prices the fixture instance types; anything else is unknown.
type fakePricer map[string]float64

func (f fakePricer) Price(instanceType, region string) (float64, string, string, error) {
	if region != "us-east-1" {
		return 0, "", "", fmt.Errorf("region %s not in fake catalog", region)
	}
	usd, ok := f[instanceType]
	if !ok {
		return 0, "", "", errors.New("instance type not in fake catalog")
	}
	return usd, "2026-01-15", "fake catalog", nil
}

func testPricer() fakePricer {
	return fakePricer{"c6i.4xlarge": 0.68, "g4dn.xlarge": 0.526, "p3.2xlarge": 3.06}
}

var generated = time.Date(2026, 2, 5, 12, 0, 0, 0, time.UTC)

// fixtures loads the three synthetic results files.
func fixtures(t testing.TB) []*Results {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.json")
	if err != nil || len(paths) != 3 {
		t.Fatalf("fixtures: %v %v", paths, err)
	}
	rs, err := Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func buildFixtures(t testing.TB, rs []*Results, o Options) *Report {
	t.Helper()
	rep, err := Build(rs, testPricer(), o)
	if err != nil {
		t.Fatal(err)
	}
	rep.Generated = generated
	return rep
}

func findBatch(rep *Report, instance, source, codec, preset string) (BatchRow, bool) {
	i := slices.IndexFunc(rep.BatchRows, func(b BatchRow) bool {
		return b.InstanceType == instance && b.Source == source && b.Codec == codec && b.Preset == preset
	})
	if i < 0 {
		return BatchRow{}, false
	}
	return rep.BatchRows[i], true
}

func hasNote(rep *Report, substr string) bool {
	return slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, substr) })
}

func TestBuildReferenceIsOne(t *testing.T) {
	rep := buildFixtures(t, fixtures(t), Options{})
	for _, source := range []string{"medium", "high", AllSources} {
		b, ok := findBatch(rep, "c6i.4xlarge", source, "x264", "ultrafast")
		if !ok {
			t.Fatalf("no reference row for %s", source)
		}
		if b.RelativeCost != 1 {
			t.Errorf("reference relative cost for %s = %v, want exactly 1", source, b.RelativeCost)
		}
	}
}

func TestBuildCosts(t *testing.T) {
	rep := buildFixtures(t, fixtures(t), Options{})
	ref, _ := findBatch(rep, "c6i.4xlarge", "medium", "x264", "ultrafast")
	tests := []struct {
		instance, source, codec, preset string
		parallel                        int
		usd                             float64
	}{
		{"c6i.4xlarge", "medium", "x264", "ultrafast", 4, 0.68},
		{"c6i.4xlarge", "medium", "x265", "medium", 4, 0.68},
		{"g4dn.xlarge", "medium", "h264_nvenc", "p1", 2, 0.526},
		{"g4dn.xlarge", "high", "hevc_nvenc", "p1", 1, 0.526},
		{"p3.2xlarge", "medium", "x264", "ultrafast", 2, 3.06},
	}
	for _, tt := range tests {
		b, ok := findBatch(rep, tt.instance, tt.source, tt.codec, tt.preset)
		if !ok {
			t.Errorf("no row %+v", tt)
			continue
		}
		if b.Parallel != tt.parallel {
			t.Errorf("%s %s %s %s: parallel %d, want %d (best median)", tt.instance, tt.source, tt.codec, tt.preset, b.Parallel, tt.parallel)
		}
		cost := tt.usd / (3600 * b.FPS.Median) * 1e6
		if b.USDPerHour != tt.usd || b.CostPer1MFrames != cost {
			t.Errorf("%s %s %s %s: $%v/h, cost %v, want $%v/h, cost %v", tt.instance, tt.source, tt.codec, tt.preset, b.USDPerHour, b.CostPer1MFrames, tt.usd, cost)
		}
		if tt.source == "medium" {
			if want := cost / ref.CostPer1MFrames; b.RelativeCost != want {
				t.Errorf("%s %s %s: relative cost %v, want %v", tt.instance, tt.codec, tt.preset, b.RelativeCost, want)
			}
		}
		if b.PriceDate != "2026-01-15" || b.PriceSource != "fake catalog" {
			t.Errorf("price date and source %q %q", b.PriceDate, b.PriceSource)
		}
	}
}

func TestBuildAllSources(t *testing.T) {
	rep := buildFixtures(t, fixtures(t), Options{})
	med, _ := findBatch(rep, "g4dn.xlarge", "medium", "hevc_nvenc", "medium")
	high, _ := findBatch(rep, "g4dn.xlarge", "high", "hevc_nvenc", "medium")
	all, ok := findBatch(rep, "g4dn.xlarge", AllSources, "hevc_nvenc", "medium")
	if !ok {
		t.Fatal("no all-sources row")
	}
	if want := (med.RelativeCost + high.RelativeCost) / 2; all.RelativeCost != want {
		t.Errorf("all-sources relative cost %v, want mean %v", all.RelativeCost, want)
	}
	// p3.2xlarge measured only one of the two sources.
	if _, ok := findBatch(rep, "p3.2xlarge", AllSources, "x264", "ultrafast"); ok {
		t.Error("all-sources row for p3.2xlarge, which measured one source")
	}
	if !hasNote(rep, `p3.2xlarge: no "all sources" relative cost for h264_nvenc p1, hevc_nvenc p1, x264 ultrafast`) {
		t.Errorf("no note on p3.2xlarge's missing all-sources rows: %q", rep.Notes)
	}
}

func TestBuildMissingReference(t *testing.T) {
	tests := []struct {
		name    string
		results func([]*Results) []*Results
		opts    Options
		note    string
	}{
		{"other reference", func(rs []*Results) []*Results { return rs }, Options{Reference: "m5.large"},
			"Reference m5.large was not measured: relative costs are n/a."},
		{"reference dropped", func(rs []*Results) []*Results {
			return slices.DeleteFunc(rs, func(r *Results) bool { return r.Machine.InstanceType == "c6i.4xlarge" })
		}, Options{}, "Reference c6i.4xlarge was not measured: relative costs are n/a."},
		{"reference without x264 ultrafast", func(rs []*Results) []*Results {
			for _, r := range rs {
				if r.Machine.InstanceType == "c6i.4xlarge" {
					r.Batch = slices.DeleteFunc(r.Batch, func(c BatchCase) bool { return c.Codec == "x264" && c.Preset == "ultrafast" })
				}
			}
			return rs
		}, Options{}, `Reference c6i.4xlarge has no priced x264 ultrafast result for source "high": relative costs for it are n/a.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := buildFixtures(t, tt.results(fixtures(t)), tt.opts)
			if !slices.Contains(rep.Notes, tt.note) {
				t.Errorf("notes %q lack %q", rep.Notes, tt.note)
			}
			for _, b := range rep.BatchRows {
				if b.RelativeCost != 0 || b.Source == AllSources {
					t.Errorf("row %+v has a relative cost", b)
				}
				if !b.Unavailable && b.CostPer1MFrames == 0 {
					t.Errorf("row %s %s %s %s lost its cost", b.InstanceType, b.Source, b.Codec, b.Preset)
				}
			}
		})
	}
}

func TestBuildUnavailable(t *testing.T) {
	rep := buildFixtures(t, fixtures(t), Options{})
	b, ok := findBatch(rep, "c6i.4xlarge", "medium", "h264_nvenc", "p1")
	if !ok {
		t.Fatal("unavailable batch case has no row")
	}
	want := BatchRow{
		InstanceType: "c6i.4xlarge", Source: "medium", Codec: "h264_nvenc", Preset: "p1", Parallel: 1,
		Unavailable: true, Reason: "h264_nvenc cannot open: no NVIDIA GPU (Cannot load libcuda.so.1)",
	}
	if b != want {
		t.Errorf("row = %+v, want %+v", b, want)
	}
	i := slices.IndexFunc(rep.LiveRows, func(l LiveRow) bool { return l.InstanceType == "c6i.4xlarge" && l.Codec == "h264_nvenc" })
	if i < 0 || !rep.LiveRows[i].Unavailable || rep.LiveRows[i].Reason == "" || rep.LiveRows[i].StreamsPerDollarHour != 0 {
		t.Errorf("live row for unavailable NVENC: %+v", rep.LiveRows[i])
	}
	for _, g := range rep.RungRows {
		if g.Codec == "h264_nvenc" && g.InstanceType == "c6i.4xlarge" {
			t.Errorf("rung row for an unavailable case: %+v", g)
		}
	}
}

func TestBuildMerge(t *testing.T) {
	rerun := func() *Results {
		r := validResults()
		r.RunID, r.Started = "p3-rerun", time.Date(2026, 2, 6, 0, 0, 0, 0, time.UTC)
		r.Machine.InstanceType = "p3.2xlarge"
		r.Batch = r.Batch[:1] // x264 ultrafast medium at parallel 1, now faster than parallel 2
		r.Batch[0].Runs = []float64{200, 201, 202}
		r.Batch[0].Throughput = Summarize(r.Batch[0].Runs)
		r.Live = nil
		return r
	}
	for _, order := range []string{"rerun last", "rerun first"} {
		t.Run(order, func(t *testing.T) {
			rs := append(fixtures(t), rerun())
			if order == "rerun first" {
				slices.Reverse(rs)
			}
			rep := buildFixtures(t, rs, Options{})
			b, _ := findBatch(rep, "p3.2xlarge", "medium", "x264", "ultrafast")
			if b.Parallel != 1 || b.FPS.Median != 201 {
				t.Errorf("merged row: parallel %d, median %v; want the rerun's 1, 201", b.Parallel, b.FPS.Median)
			}
			if _, ok := findBatch(rep, "p3.2xlarge", "medium", "h264_nvenc", "p1"); !ok {
				t.Error("cases only in the first run were lost")
			}
			if n := len(rep.Machines); n != 3 {
				t.Errorf("%d machines, want 3", n)
			}
			want := "p3.2xlarge: merged 2 results files (runs 20260204T080500Z-p3, p3-rerun); later runs replace earlier ones case by case (1 replaced)."
			if !slices.Contains(rep.Notes, want) {
				t.Errorf("notes %q lack %q", rep.Notes, want)
			}
		})
	}
}

func TestBuildNoisy(t *testing.T) {
	rep := buildFixtures(t, fixtures(t), Options{})
	for _, b := range rep.BatchRows {
		want := b.FPS.CV > NoisyCV || b.Source == AllSources && b.InstanceType == "g4dn.xlarge" && b.Codec == "h264_nvenc" && b.Preset == "p1"
		if b.Noisy != want {
			t.Errorf("%s %s %s %s: noisy %v (CV %.3f), want %v", b.InstanceType, b.Source, b.Codec, b.Preset, b.Noisy, b.FPS.CV, want)
		}
	}
	if b, _ := findBatch(rep, "g4dn.xlarge", "medium", "h264_nvenc", "p1"); !b.Noisy {
		t.Error("the fixture's noisy case is not flagged")
	}
	if !hasNote(rep, "Noisy batch rows (coefficient of variation of fps above 5%): 1.") {
		t.Errorf("no noisy note in %q", rep.Notes)
	}
}

func TestBuildUnpriced(t *testing.T) {
	unknown := validResults()
	unknown.Machine.InstanceType, unknown.Machine.InstanceSource = "", "unknown"
	rs := append(fixtures(t), unknown)
	rep, err := Build(rs, fakePricer{"c6i.4xlarge": 0.68, "g4dn.xlarge": 0.526}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, note := range []string{
		`unknown (run run-1): instance type unknown (instance source "unknown"): fps shown, costs omitted.`,
		"p3.2xlarge: no price in us-east-1 (instance type not in fake catalog): fps shown, costs omitted.",
	} {
		if !slices.Contains(rep.Notes, note) {
			t.Errorf("notes %q lack %q", rep.Notes, note)
		}
	}
	for _, instance := range []string{"unknown (run run-1)", "p3.2xlarge"} {
		b, ok := findBatch(rep, instance, "medium", "x264", "ultrafast")
		if !ok || b.FPS.Median == 0 || b.USDPerHour != 0 || b.CostPer1MFrames != 0 || b.RelativeCost != 0 {
			t.Errorf("%s row = %+v, want fps without costs", instance, b)
		}
	}
	if len(rep.Prices) != 2 {
		t.Errorf("prices %+v, want the two priced instance types", rep.Prices)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(nil, testPricer(), Options{}); errString(err) != "no results" {
		t.Errorf("Build(nil) error = %v", err)
	}
	bad := validResults()
	bad.Profile = ""
	_, err := Build([]*Results{validResults(), bad}, testPricer(), Options{})
	if want := `results 1 (run "run-1"): profile is "", want one of quick, study, custom`; errString(err) != want {
		t.Errorf("Build error = %q, want %q", errString(err), want)
	}
}

func TestBuildSorted(t *testing.T) {
	rep := buildFixtures(t, fixtures(t), Options{})
	key := func(b BatchRow) string {
		return strings.Join([]string{b.InstanceType, strconv.Itoa(sourceRank(b.Source)), b.Source, b.Codec, b.Preset}, "\x00")
	}
	if !slices.IsSortedFunc(rep.BatchRows, func(a, b BatchRow) int { return strings.Compare(key(a), key(b)) }) {
		t.Error("batch rows are not sorted")
	}
	last := rep.BatchRows[len(rep.BatchRows)-1]
	if last.InstanceType != "p3.2xlarge" {
		t.Errorf("last row %+v", last)
	}
}
