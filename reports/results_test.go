package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validResults is a small valid results value for mutating in tests.
func validResults() *Results {
	vmaf := 91.5
	return &Results{
		Schema: SchemaVersion, RunID: "run-1", Started: time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC), Profile: "quick",
		Machine: Machine{InstanceType: "c6i.4xlarge", Region: "us-east-1", InstanceSource: "imds", Cores: 16, MemoryMB: 32768},
		Batch: []BatchCase{
			{
				Source: "medium", Width: 1920, Height: 1080, FPS: 30, Frames: 600, Codec: "x264", Preset: "ultrafast",
				Mode: "batch", Parallel: 1, Runs: []float64{300, 310, 305}, Throughput: Summarize([]float64{300, 310, 305}),
				Rungs: []RungFigures{{Name: "1080p", Width: 1920, Height: 1080, Bytes: 1 << 20, BitrateKbps: 8000, PSNR: 40, SSIM: 0.95, XPSNR: 42, VMAF: &vmaf}},
			},
			{Source: "medium", Codec: "h264_nvenc", Preset: "p1", Mode: "batch", Parallel: 1, Unavailable: true, Reason: "no GPU"},
		},
		Live: []LiveCase{{
			Source: "medium", Width: 1920, Height: 1080, FPS: 30, Codec: "x264", Preset: "ultrafast", SegmentSeconds: 2, WindowSeconds: 60,
			Levels:       []LiveLevel{{Streams: 1, Sustained: true, OnTime: 1, Segments: []SegmentTiming{{Stream: 0, Index: 0, Deadline: 4, Done: 2.5}}}},
			MaxSustained: 1,
		}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Results)
		want   string
	}{
		{"valid", func(*Results) {}, ""},
		{"schema", func(r *Results) { r.Schema = 2 }, "schema 2 is not supported (want 1)"},
		{"run id", func(r *Results) { r.RunID = "" }, "run_id is empty"},
		{"started", func(r *Results) { r.Started = time.Time{} }, "started is not set"},
		{"profile", func(r *Results) { r.Profile = "fast" }, `profile is "fast", want one of quick, study, custom`},
		{"instance source", func(r *Results) { r.Machine.InstanceSource = "" }, `machine.instance_source is "", want one of imds, flag, unknown`},
		{"cores", func(r *Results) { r.Machine.Cores = -1 }, "machine.cores is -1, want at least 0"},
		{"mode", func(r *Results) { r.Batch[0].Mode = "vod" }, `batch[0].mode is "vod", want one of batch, live`},
		{"codec", func(r *Results) { r.Batch[0].Codec = "" }, "batch[0].codec is empty"},
		{"negative run", func(r *Results) { r.Batch[0].Runs[1] = -3 }, "batch[0].runs[1] is -3, want at least 0"},
		{"no runs", func(r *Results) { r.Batch[0].Runs, r.Batch[0].Throughput = nil, Stats{} }, "batch[0] has no runs"},
		{"throughput n", func(r *Results) { r.Batch[0].Throughput.N = 5 }, "batch[0].throughput.n is 5, want 3 (len(runs))"},
		{"parallel", func(r *Results) { r.Batch[0].Parallel = 0 }, "batch[0].parallel is 0, want at least 1"},
		{"no reason", func(r *Results) { r.Batch[1].Reason = "" }, "batch[1] is unavailable without a reason"},
		{"duplicate", func(r *Results) { r.Batch = append(r.Batch, r.Batch[0]) },
			"batch[2] repeats batch[0] (medium x264 ultrafast batch parallel 1)"},
		{"ssim", func(r *Results) { r.Batch[0].Rungs[0].SSIM = 1.5 }, "batch[0].rungs[0].ssim is 1.5, want within [0, 1]"},
		{"bytes", func(r *Results) { r.Batch[0].Rungs[0].Bytes = -1 }, "batch[0].rungs[0].bytes is -1, want at least 0"},
		{"vmaf", func(r *Results) { v := -1.0; r.Batch[0].Rungs[0].VMAF = &v }, "batch[0].rungs[0].vmaf is -1, want at least 0"},
		{"nan", func(r *Results) { r.Live[0].FPS = nan() }, "live[0].fps is NaN, want a finite number"},
		{"on time", func(r *Results) { r.Live[0].Levels[0].OnTime = 1.2 }, "live[0].levels[0].on_time is 1.2, want within [0, 1]"},
		{"segment", func(r *Results) { r.Live[0].Levels[0].Segments[0].Done = -1 }, "live[0].levels[0].segments[0].done is -1, want at least 0"},
		{"live duplicate", func(r *Results) { r.Live = append(r.Live, r.Live[0]) }, "live[1] repeats live[0] (medium x264 ultrafast)"},
		{"several", func(r *Results) { r.RunID, r.Profile = "", "fast" },
			"run_id is empty\n" + `profile is "fast", want one of quick, study, custom`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validResults()
			tt.mutate(r)
			err := r.Validate()
			if got := errString(err); got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func nan() float64 { var zero float64; return zero / zero }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestLoadFixtures(t *testing.T) {
	rs := fixtures(t)
	var batch, live int
	for _, r := range rs {
		batch += len(r.Batch)
		live += len(r.Live)
	}
	if batch != 37 || live != 8 {
		t.Errorf("fixtures have %d batch and %d live cases, want 37 and 8", batch, live)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, r := range fixtures(t) {
		path := filepath.Join(dir, r.Machine.InstanceType+".json")
		if err := r.Save(path); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[0], r) {
			t.Errorf("%s: loaded results differ from saved ones", path)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("dir has %d entries, want 3 (no temporary files left)", len(entries))
	}
}

func TestSaveReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	r := validResults()
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	r.RunID = "run-2"
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].RunID != "run-2" {
		t.Errorf("RunID = %q after second Save, want run-2", got[0].RunID)
	}
}

func TestLoadErrors(t *testing.T) {
	valid, err := json.Marshal(validResults())
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) string {
		if !bytes.Contains(valid, []byte(old)) {
			t.Fatalf("%q not in valid results", old)
		}
		return strings.Replace(string(valid), old, new, 1)
	}
	tests := []struct {
		name, data, want string
	}{
		{"schema", replace(`"schema":1`, `"schema":2`), "schema 2 is not supported (want 1)"},
		{"no schema", replace(`"schema":1,`, ``), "no schema version"},
		{"unknown field", replace(`"run_id"`, `"runId":"x","run_id"`), `json: unknown field "runId"`},
		{"trailing", string(valid) + "{}", "invalid character '{' after top-level value"},
		{"type", replace(`"cores":16`, `"cores":"16"`), "json: cannot unmarshal string into Go struct field Machine.machine.cores of type int"},
		{"invalid", replace(`"mode":"batch"`, `"mode":"vod"`), `batch[0].mode is "vod", want one of batch, live`},
		{"negative", replace(`"runs":[300`, `"runs":[-300`), "batch[0].runs[0] is -300, want at least 0"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if got, want := errString(err), path+": "+tt.want; got != want {
				t.Errorf("Load() error = %q, want %q", got, want)
			}
		})
	}

	t.Run("several files", func(t *testing.T) {
		good := filepath.Join(dir, "good.json")
		if err := os.WriteFile(good, valid, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(good, filepath.Join(dir, "schema.json"), filepath.Join(dir, "missing.json"))
		want := filepath.Join(dir, "schema.json") + ": schema 2 is not supported (want 1)\n" +
			"open " + filepath.Join(dir, "missing.json") + ": no such file or directory"
		if got := errString(err); got != want {
			t.Errorf("Load() error = %q, want %q", got, want)
		}
	})
	t.Run("no files", func(t *testing.T) {
		if _, err := Load(); errString(err) != "no results files" {
			t.Errorf("Load() error = %v, want no results files", err)
		}
	})
}

// FuzzLoad seeds from the fixtures, cut down to a few cases each: the
// fuzzer minimises every new input it finds interesting, which takes long on
// whole fixture files.
func FuzzLoad(f *testing.F) {
	for _, r := range fixtures(f) {
		r.Batch = r.Batch[:2]
		r.Live = r.Live[:1]
		r.Live[0].Levels = r.Live[0].Levels[:1]
		r.Live[0].Levels[0].Segments = r.Live[0].Levels[0].Segments[:1]
		data, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	valid, _ := json.Marshal(validResults())
	f.Add(valid)
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`{"schema":2,"batch":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decode(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded results fail validation: %v", err)
		}
		// What decodes must encode and decode again to the same thing.
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("decoded results do not encode: %v", err)
		}
		r2, err := decode(again)
		if err != nil {
			t.Fatalf("encoded results do not decode: %v", err)
		}
		if again2, _ := json.Marshal(r2); !bytes.Equal(again, again2) {
			t.Fatalf("round trip changed the results:\n%s\n%s", again, again2)
		}
	})
}
