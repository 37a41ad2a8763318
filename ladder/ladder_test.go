package ladder

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDefault(t *testing.T) {
	l := Default()
	if err := l.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	l.Rungs[0].BitrateKbps = 1
	if Default().Rungs[0].BitrateKbps != 6000 {
		t.Error("Default() shares its rungs between calls")
	}

	got, err := Named("default")
	if err != nil || !reflect.DeepEqual(got, Default()) {
		t.Errorf(`Named("default") = %+v, %v; want Default()`, got, err)
	}
	_, err = Named("hd")
	if want := `ladder: unknown ladder "hd" (want default)`; err == nil || err.Error() != want {
		t.Errorf(`Named("hd") error = %v; want %s`, err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Ladder)
		want   string // "" for valid
	}{
		{"default", func(*Ladder) {}, ""},
		{"limits inclusive", func(l *Ladder) {
			l.MaxFPS, l.GOPSeconds = 240, 0.5
			l.Rungs[0] = Rung{Name: strings.Repeat("a", 32), Width: 8192, Height: 100, BitrateKbps: 200000, HEVCBitrateKbps: 200000}
		}, ""},
		{"lower limits", func(l *Ladder) { l.MaxFPS, l.GOPSeconds = 1, 10 }, ""},
		{"empty ladder name", func(l *Ladder) { l.Name = "" }, "ladder: empty name"},
		{"bad ladder name", func(l *Ladder) { l.Name = "My Ladder" },
			`ladder: name "My Ladder" must match [a-z0-9][a-z0-9_-]{0,31}`},
		{"no rungs", func(l *Ladder) { l.Rungs = nil }, "ladder: no rungs"},
		{"too many rungs", func(l *Ladder) { l.Rungs = append(l.Rungs, l.Rungs...); l.Rungs = append(l.Rungs, l.Rungs[0]) },
			"ladder: more than 10 rungs (got 11)"},
		{"odd height", func(l *Ladder) { l.Rungs[1].Height = 721 }, `ladder: rung 2 ("720p"): height 721 is odd`},
		{"odd width", func(l *Ladder) { l.Rungs[2].Width = 853 }, `ladder: rung 3 ("480p"): width 853 is odd`},
		{"zero width", func(l *Ladder) { l.Rungs[0].Width = 0 }, `ladder: rung 1 ("1080p"): width 0 must be between 2 and 8192`},
		{"huge height", func(l *Ladder) { l.Rungs[0].Height = 8194 }, `ladder: rung 1 ("1080p"): height 8194 must be between 2 and 8192`},
		{"short side too small", func(l *Ladder) { l.Rungs[4].Width, l.Rungs[4].Height = 160, 90 },
			`ladder: rung 5 ("160p"): short side 90 must be at least 100`},
		{"empty rung name", func(l *Ladder) { l.Rungs[2].Name = "" }, "ladder: rung 3: empty name"},
		{"uppercase rung name", func(l *Ladder) { l.Rungs[0].Name = "1080P" },
			`ladder: rung 1 ("1080P"): name must match [a-z0-9][a-z0-9_-]{0,31}`},
		{"long rung name", func(l *Ladder) { l.Rungs[0].Name = strings.Repeat("a", 33) },
			`ladder: rung 1 ("` + strings.Repeat("a", 33) + `"): name must match [a-z0-9][a-z0-9_-]{0,31}`},
		{"duplicate name", func(l *Ladder) { l.Rungs[2].Name = "360p" }, `ladder: rung 4 ("360p"): duplicate name`},
		{"zero bitrate", func(l *Ladder) { l.Rungs[1].Name, l.Rungs[1].BitrateKbps = "x", 0 },
			`ladder: rung 2 ("x"): bitrate_kbps 0 must be between 1 and 200000`},
		{"negative hevc bitrate", func(l *Ladder) { l.Rungs[1].HEVCBitrateKbps = -1 },
			`ladder: rung 2 ("720p"): hevc_bitrate_kbps -1 must be 0 or between 1 and 200000`},
		{"max_fps too high", func(l *Ladder) { l.MaxFPS = 500 }, "ladder: max_fps 500 must be between 1 and 240"},
		{"max_fps negative", func(l *Ladder) { l.MaxFPS = -30 }, "ladder: max_fps -30 must be between 1 and 240"},
		{"max_fps NaN", func(l *Ladder) { l.MaxFPS = math.NaN() }, "ladder: max_fps NaN must be between 1 and 240"},
		{"gop_seconds too short", func(l *Ladder) { l.GOPSeconds = 0.1 }, "ladder: gop_seconds 0.1 must be between 0.5 and 10"},
		{"gop_seconds infinite", func(l *Ladder) { l.GOPSeconds = math.Inf(1) }, "ladder: gop_seconds +Inf must be between 0.5 and 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Default()
			tt.modify(&l)
			checkErr(t, l.Validate(), tt.want)
		})
	}
}

// checkErr fails unless err's text is want, or err is nil and want is "".
func checkErr(t testing.TB, err error, want string) {
	t.Helper()
	switch {
	case err == nil && want != "":
		t.Fatalf("error = nil; want %q", want)
	case err != nil && err.Error() != want:
		t.Fatalf("error = %q; want %q", err, want)
	}
}

const minimalYAML = `
name: small
rungs:
  - {name: 360p, width: 640, height: 360, bitrate_kbps: 800}
`

var minimalLadder = Ladder{Name: "small", Rungs: []Rung{{Name: "360p", Width: 640, Height: 360, BitrateKbps: 800}}}

// parseTests also seed FuzzParse.
var parseTests = []struct {
	name      string
	in        string
	want      Ladder
	err       string // exact error text
	errPrefix string // for errors that wrap the decoders' own messages
}{
	{name: "yaml", in: minimalYAML, want: minimalLadder},
	{name: "json", in: ` {"name":"small","rungs":[{"name":"360p","width":640,"height":360,"bitrate_kbps":800}]}`, want: minimalLadder},
	{name: "yaml optional fields", in: "name: s\nmax_fps: 30\ngop_seconds: 4\nrungs:\n- {name: a, width: 640, height: 360, bitrate_kbps: 800, hevc_bitrate_kbps: 500}\n",
		want: Ladder{Name: "s", MaxFPS: 30, GOPSeconds: 4, Rungs: []Rung{{Name: "a", Width: 640, Height: 360, BitrateKbps: 800, HEVCBitrateKbps: 500}}}},
	{name: "yaml explicit document markers", in: "---" + minimalYAML + "...\n", want: minimalLadder},
	{name: "empty", in: "", err: "ladder: empty document"},
	{name: "blank", in: " \n\t\n", err: "ladder: empty document"},
	{name: "comment only", in: "# nothing yet\n", err: "ladder: empty document"},
	{name: "yaml null", in: "null\n", err: "ladder: empty name"},
	{name: "yaml no rungs", in: "name: x\n", err: "ladder: no rungs"},
	{name: "json no rungs", in: `{"name":"x","rungs":[]}`, err: "ladder: no rungs"},
	{name: "json invalid rung", in: `{"name":"x","rungs":[{"name":"720p","width":1280,"height":721,"bitrate_kbps":3000}]}`,
		err: `ladder: rung 1 ("720p"): height 721 is odd`},
	{name: "yaml max_fps", in: minimalYAML + "max_fps: 500\n", err: "ladder: max_fps 500 must be between 1 and 240"},
	{name: "yaml NaN max_fps", in: minimalYAML + "max_fps: .nan\n", err: "ladder: max_fps NaN must be between 1 and 240"},
	{name: "yaml second document", in: minimalYAML + "---\n" + minimalYAML, err: "ladder: parse: more than one YAML document"},
	{name: "json second document", in: `{"name":"x","rungs":[]} {}`, err: "ladder: parse: unexpected data after the JSON document"},
	{name: "json trailing garbage", in: `{"name":"x","rungs":[]} x`, errPrefix: "ladder: parse: invalid character 'x'"},
	{name: "json truncated", in: `{"name":"x","rungs":[`, errPrefix: "ladder: parse: "},
	{name: "yaml unknown field", in: minimalYAML + "colour: red\n", errPrefix: "ladder: parse: yaml: unmarshal errors:"},
	{name: "yaml unknown rung field", in: "name: x\nrungs:\n- {name: a, width: 640, height: 360, kbps: 800}\n", errPrefix: "ladder: parse: yaml: unmarshal errors:"},
	{name: "json unknown field", in: `{"name":"x","colour":"red","rungs":[]}`, errPrefix: `ladder: parse: json: unknown field "colour"`},
	{name: "yaml wrong type", in: "name: x\nrungs:\n- {name: a, width: wide, height: 360, bitrate_kbps: 800}\n", errPrefix: "ladder: parse: yaml: unmarshal errors:"},
	{name: "yaml fractional width", in: "name: x\nrungs:\n- {name: a, width: 640.5, height: 360, bitrate_kbps: 800}\n",
		err: "ladder: parse: line 3: 640.5 is not an integer"},
	{name: "yaml fractional bitrate via alias", in: "name: x\nmax_fps: &f 29.97\nrungs:\n- name: a\n  width: 640\n  height: 360\n  bitrate_kbps: *f\n",
		err: "ladder: parse: line 2: 29.97 is not an integer"},
	{name: "yaml integral float", in: "name: x\nrungs:\n- {name: a, width: 640, height: 360, bitrate_kbps: 8e2}\n",
		err: "ladder: parse: line 3: 8e2 is not an integer"},
	{name: "json wrong type", in: `{"name":"x","rungs":[{"name":"a","width":"640"}]}`, errPrefix: "ladder: parse: json: cannot unmarshal"},
	{name: "yaml duplicate key", in: "name: x\nname: y\n", errPrefix: "ladder: parse: yaml: unmarshal errors:"},
	{name: "yaml syntax error", in: "name: [x\n", errPrefix: "ladder: parse: yaml: "},
	{name: "yaml sequence", in: "- a\n- b\n", errPrefix: "ladder: parse: yaml: unmarshal errors:"},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			switch {
			case tt.errPrefix != "":
				if err == nil || !strings.HasPrefix(err.Error(), tt.errPrefix) {
					t.Fatalf("error = %v; want prefix %q", err, tt.errPrefix)
				}
			case tt.err != "":
				checkErr(t, err, tt.err)
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Parse = %+v; want %+v", got, tt.want)
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name    string
		marshal func(any) ([]byte, error)
	}{
		{"yaml", yaml.Marshal},
		{"json", json.Marshal},
		{"json indented", func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.marshal(Default())
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse(%s) error: %v", data, err)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Errorf("round trip = %+v; want %+v", got, Default())
			}
		})
	}
}

func TestLoad(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "mobile.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Ladder{
		Name:       "mobile",
		MaxFPS:     30,
		GOPSeconds: 4,
		Rungs: []Rung{
			{Name: "720p", Width: 1280, Height: 720, BitrateKbps: 2500, HEVCBitrateKbps: 1500},
			{Name: "540p", Width: 960, Height: 540, BitrateKbps: 1200},
			{Name: "360p", Width: 640, Height: 360, BitrateKbps: 600, HEVCBitrateKbps: 350},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v; want %+v", got, want)
	}

	targets, err := got.Fit(Source{Width: 1920, Height: 1080, FPS: Rational{60, 1}})
	if err != nil {
		t.Fatal(err)
	}
	wantTargets := []Target{
		{Name: "720p", Width: 1280, Height: 720, FPS: Rational{30, 1}, BitrateKbps: 2500, HEVCBitrateKbps: 1500, GOPFrames: 120},
		{Name: "540p", Width: 960, Height: 540, FPS: Rational{30, 1}, BitrateKbps: 1200, HEVCBitrateKbps: 780, GOPFrames: 120},
		{Name: "360p", Width: 640, Height: 360, FPS: Rational{30, 1}, BitrateKbps: 600, HEVCBitrateKbps: 350, GOPFrames: 120},
	}
	if !reflect.DeepEqual(targets, wantTargets) {
		t.Errorf("Fit = %+v; want %+v", targets, wantTargets)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	checkErr(t, err, bad+": ladder: no rungs")

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	checkErr(t, err, "ladder: open "+missing+": no such file or directory")
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.in))
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "mobile.yaml")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("Parse accepted a ladder that Validate rejects: %v", err)
		}
		src := Source{Width: 1920, Height: 1080, FPS: Rational{30, 1}}
		targets, err := l.Fit(src)
		if err != nil {
			t.Fatalf("Fit(%+v) on a parsed ladder: %v", src, err)
		}
		checkTargets(t, l, src, targets)

		out, err := yaml.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parsing the marshalled ladder:\n%s\nerror: %v", out, err)
		}
		if !reflect.DeepEqual(again, l) {
			t.Fatalf("YAML round trip = %+v; want %+v", again, l)
		}
	})
}
