package pricing

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// validJSON is a small valid catalog; parseCases edit it.
const validJSON = `{"version":1,"generated":"2025-01-01","source":"test","instances":[
{"type":"c6i.4xlarge","vcpus":16,"memory_gib":32,"arch":"x86_64","gpus":0,"gpu_model":"","nvenc_per_gpu":0,"nvdec_per_gpu":0,
 "prices":{"us-east-1":{"usd_per_hour":0.68,"date":"2025-01-01","source":"test"}}},
{"type":"g4dn.xlarge","vcpus":4,"memory_gib":16,"arch":"x86_64","gpus":1,"gpu_model":"T4","nvenc_per_gpu":1,"nvdec_per_gpu":2,
 "prices":{"us-east-1":{"usd_per_hour":0.526,"date":"2025-01-01","source":"test"},"eu-west-1":{"usd_per_hour":0.587,"date":"2025-01-01","source":"test"}},
 "spot":{"us-east-1":{"usd_per_hour":0.2,"date":"2025-01-02","source":"spot test"}}}]}`

// edit returns validJSON with the first old replaced by new; old must occur.
func edit(old, new string) string {
	if !strings.Contains(validJSON, old) {
		panic("edit: " + old + " not in validJSON")
	}
	return strings.Replace(validJSON, old, new, 1)
}

type parseCase struct {
	name, in string
	err      string // substring of the error; "" for success
}

func parseCases() []parseCase {
	const c6i, g4dn = `"type":"c6i.4xlarge"`, `"type":"g4dn.xlarge"`
	return []parseCase{
		{name: "valid", in: validJSON},
		{name: "empty spot dropped", in: edit(`"spot":{"us-east-1":{"usd_per_hour":0.2,"date":"2025-01-02","source":"spot test"}}`, `"spot":{}`)},
		{name: "empty", in: "", err: "EOF"},
		{name: "not an object", in: "[]", err: "cannot unmarshal array"},
		{name: "wrong field type", in: edit(`"vcpus":16`, `"vcpus":"16"`), err: "cannot unmarshal string"},
		{name: "unknown field", in: edit(`"version":1,`, `"version":1,"extra":1,`), err: `unknown field "extra"`},
		{name: "unknown instance field", in: edit(`"vcpus":16,`, `"vcpus":16,"cores":8,`), err: `unknown field "cores"`},
		{name: "trailing object", in: validJSON + "{}", err: "trailing data"},
		{name: "trailing garbage", in: validJSON + "x", err: "trailing data"},
		{name: "version 2", in: edit(`"version":1`, `"version":2`), err: "version 2, want 1"},
		{name: "no version", in: edit(`"version":1,`, ``), err: "version 0, want 1"},
		{name: "bad generated", in: edit(`"generated":"2025-01-01"`, `"generated":"2025-13-01"`), err: `generated: date "2025-13-01" is not YYYY-MM-DD`},
		{name: "empty source", in: edit(`"source":"test","instances"`, `"source":"","instances"`), err: "empty source"},
		{name: "no instances", in: `{"version":1,"generated":"2025-01-01","source":"s","instances":[]}`, err: "no instances"},
		{name: "null instances", in: `{"version":1,"generated":"2025-01-01","source":"s","instances":null}`, err: "no instances"},
		{name: "duplicate type", in: edit(g4dn, c6i), err: `instance 1: duplicate type "c6i.4xlarge"`},
		{name: "upper-case type", in: edit(c6i, `"type":"C6I.4xlarge"`), err: `instance 0 ("C6I.4xlarge"): type does not match`},
		{name: "type without size", in: edit(c6i, `"type":"c6i"`), err: "type does not match"},
		{name: "type with two dots", in: edit(c6i, `"type":"c6i.4x.large"`), err: "type does not match"},
		{name: "type starting with digit", in: edit(c6i, `"type":"6i.large"`), err: "type does not match"},
		{name: "vcpus 0", in: edit(`"vcpus":16`, `"vcpus":0`), err: `instance 0 ("c6i.4xlarge"): vcpus 0 out of range 1..1024`},
		{name: "vcpus 1025", in: edit(`"vcpus":16`, `"vcpus":1025`), err: "vcpus 1025 out of range 1..1024"},
		{name: "memory 0", in: edit(`"memory_gib":32`, `"memory_gib":0`), err: "memory_gib 0 not positive"},
		{name: "memory negative", in: edit(`"memory_gib":32`, `"memory_gib":-1`), err: "memory_gib -1 not positive"},
		{name: "arch aarch64", in: edit(`"arch":"x86_64"`, `"arch":"aarch64"`), err: `arch "aarch64", want x86_64 or arm64`},
		{name: "arch missing", in: edit(`"arch":"x86_64",`, ``), err: `arch "", want x86_64 or arm64`},
		{name: "gpus 17", in: edit(`"gpus":1`, `"gpus":17`), err: "gpus 17 out of range 0..16"},
		{name: "gpus negative", in: edit(`"gpus":0`, `"gpus":-1`), err: "gpus -1 out of range 0..16"},
		{name: "gpus without model", in: edit(`"gpu_model":"T4"`, `"gpu_model":""`), err: `gpus 1 with gpu_model "": a model is required iff gpus > 0`},
		{name: "model without gpus", in: edit(`"gpus":0,"gpu_model":""`, `"gpus":0,"gpu_model":"T4"`), err: "a model is required iff gpus > 0"},
		{name: "nvenc without gpus", in: edit(`"nvenc_per_gpu":0`, `"nvenc_per_gpu":1`), err: "must be 0 without GPUs"},
		{name: "nvdec 17", in: edit(`"nvdec_per_gpu":2`, `"nvdec_per_gpu":17`), err: "nvdec_per_gpu 17: out of range 0..16"},
		{name: "nvenc negative", in: edit(`"nvenc_per_gpu":1`, `"nvenc_per_gpu":-1`), err: "out of range 0..16"},
		{name: "no prices", in: edit(`"prices":{"us-east-1":{"usd_per_hour":0.68,"date":"2025-01-01","source":"test"}}`, `"prices":{}`), err: "no prices"},
		{name: "null prices", in: edit(`"prices":{"us-east-1":{"usd_per_hour":0.68,"date":"2025-01-01","source":"test"}}`, `"prices":null`), err: "no prices"},
		{name: "price 0", in: edit(`"usd_per_hour":0.68`, `"usd_per_hour":0`), err: "prices: us-east-1: usd_per_hour 0 out of range (0, 1000)"},
		{name: "price negative", in: edit(`"usd_per_hour":0.68`, `"usd_per_hour":-0.68`), err: "usd_per_hour -0.68 out of range"},
		{name: "price 1000", in: edit(`"usd_per_hour":0.68`, `"usd_per_hour":1000`), err: "usd_per_hour 1000 out of range"},
		{name: "price not a number", in: edit(`"usd_per_hour":0.68`, `"usd_per_hour":"0.68"`), err: "cannot unmarshal string"},
		{name: "price date invalid", in: edit(`"usd_per_hour":0.68,"date":"2025-01-01"`, `"usd_per_hour":0.68,"date":"2025-02-30"`), err: `us-east-1: date "2025-02-30" is not YYYY-MM-DD`},
		{name: "price date missing", in: edit(`"usd_per_hour":0.68,"date":"2025-01-01",`, `"usd_per_hour":0.68,`), err: `date "" is not YYYY-MM-DD`},
		{name: "price source empty", in: edit(`"date":"2025-01-01","source":"test"}}}`, `"date":"2025-01-01","source":""}}}`), err: "us-east-1: empty source"},
		{name: "bad region", in: edit(`"prices":{"us-east-1"`, `"prices":{"US-EAST-1"`), err: `region "US-EAST-1" does not match`},
		{name: "bad spot", in: edit(`"usd_per_hour":0.2`, `"usd_per_hour":0`), err: `instance 1 ("g4dn.xlarge"): spot: us-east-1: usd_per_hour 0 out of range`},
	}
}

func TestParse(t *testing.T) {
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "pricing: parse catalog: ") {
					t.Fatalf("Parse error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, c)
		})
	}
	c, err := Parse([]byte(edit(`"spot":{"us-east-1":{"usd_per_hour":0.2,"date":"2025-01-02","source":"spot test"}}`, `"spot":{}`)))
	if err != nil || c.Instances[1].Spot != nil {
		t.Errorf("empty spot map: %v, %#v; want nil", err, c.Instances[1].Spot)
	}
}

// checkRoundTrip checks what a parsed catalog promises: every type can be
// looked up and priced in every region it has, and Save then Load gives it back.
func checkRoundTrip(t *testing.T, c *Catalog) {
	t.Helper()
	for _, in := range c.Instances {
		got, err := c.Lookup(in.Type)
		if err != nil || !reflect.DeepEqual(got, in) {
			t.Fatalf("Lookup(%q) = %+v, %v; want %+v", in.Type, got, err, in)
		}
		for region, p := range in.Prices {
			if got, err := c.Price(in.Type, region); err != nil || got != p {
				t.Fatalf("Price(%q, %q) = %+v, %v; want %+v", in.Type, region, got, err, p)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "c.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("Save/Load round trip:\n got %+v\nwant %+v", back, c)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(embedded)
	for _, tt := range parseCases() {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		checkRoundTrip(t, c)
	})
}

func TestEmbedded(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, c)

	// Canonical: the file is what Save writes, so a refreshed cache diffs cleanly.
	if data, err := c.marshal(); err != nil || !bytes.Equal(data, embedded) {
		t.Errorf("catalog.json is not in Save's format (err %v); regenerate it with Save", err)
	}

	// A fresh copy per call.
	c.Instances[0].Prices["us-east-1"] = Price{}
	if d, _ := Embedded(); d.Instances[0].Prices["us-east-1"].USDPerHour == 0 {
		t.Error("Embedded returned shared state")
	}
}

func TestEmbeddedContents(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string][]string{
		"c5":   {"large", "xlarge", "2xlarge", "4xlarge", "9xlarge"},
		"c6i":  {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"},
		"c7i":  {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"},
		"c7a":  {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"},
		"c6g":  {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"},
		"c7g":  {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"},
		"c8g":  {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"},
		"m6i":  {"large", "xlarge", "2xlarge", "4xlarge"},
		"g4dn": {"xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge"},
		"g5":   {"xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge"},
		"g6":   {"xlarge", "2xlarge", "4xlarge", "8xlarge"},
		"p3":   {"2xlarge", "8xlarge"},
		"p4d":  {"24xlarge"},
		"p5":   {"48xlarge"},
	}
	// Engines per GPU: the study's table (V100: NVENC 6th gen).
	engines := map[string][2]int{"T4": {1, 2}, "A10G": {1, 2}, "L4": {2, 4}, "V100": {3, 1}, "A100": {0, 5}, "H100": {0, 7}}
	n := 0
	for fam, ss := range sizes {
		for _, s := range ss {
			n++
			in, err := c.Lookup(fam + "." + s)
			if err != nil {
				t.Error(err)
				continue
			}
			if arm := strings.HasSuffix(fam, "g") && fam[0] == 'c'; arm != (in.Arch == "arm64") {
				t.Errorf("%s: arch %s", in.Type, in.Arch)
			}
			if e := engines[in.GPUModel]; in.GPUs > 0 && (in.NVENCPerGPU != e[0] || in.NVDECPerGPU != e[1]) {
				t.Errorf("%s (%s): NVENC/NVDEC %d/%d, want %d/%d", in.Type, in.GPUModel, in.NVENCPerGPU, in.NVDECPerGPU, e[0], e[1])
			}
			if _, err := c.Price(in.Type, "us-east-1"); err != nil {
				t.Error(err)
			}
			for region, p := range in.Prices {
				if !strings.Contains(p.Source, "verify with 'bench pricing refresh'") {
					t.Errorf("%s %s: source %q does not say it is unverified", in.Type, region, p.Source)
				}
			}
		}
	}
	if len(c.Instances) != n {
		t.Errorf("%d instances, want the %d listed", len(c.Instances), n)
	}
	for _, a := range []struct {
		typ string
		usd float64
	}{{"c6i.4xlarge", 0.68}, {"g4dn.xlarge", 0.526}, {"p3.2xlarge", 3.06}} {
		if p, err := c.Price(a.typ, "us-east-1"); err != nil || p.USDPerHour != a.usd {
			t.Errorf("%s us-east-1: %+v, %v; want $%v/h (the study's anchor)", a.typ, p, err, a.usd)
		}
	}
}

func TestLookupPrice(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, typ, region string
		usd               float64
		err               string
	}{
		{name: "anchor", typ: "c6i.4xlarge", region: "us-east-1", usd: 0.68},
		{name: "eu", typ: "g4dn.xlarge", region: "eu-west-1", usd: 0.587},
		{name: "unknown type", typ: "c9z.large", region: "us-east-1",
			err: `pricing: unknown instance type "c9z.large" (not in catalog; known families: c5, c6g, c6i, c7a, c7g, c7i, c8g, g4dn, g5, g6, m6i, p3, p4d, p5)`},
		{name: "unknown region", typ: "c6i.4xlarge", region: "us-west-2",
			err: `pricing: no us-west-2 price for c6i.4xlarge (catalog has: eu-west-1, us-east-1)`},
		{name: "region not offered", typ: "p5.48xlarge", region: "eu-west-1",
			err: `pricing: no eu-west-1 price for p5.48xlarge (catalog has: us-east-1)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Price(tt.typ, tt.region)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Price error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || p.USDPerHour != tt.usd {
				t.Fatalf("Price = %+v, %v; want $%v/h", p, err, tt.usd)
			}
		})
	}
}

func TestSave(t *testing.T) {
	c, err := Parse([]byte(validJSON))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "pricing.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("stat: %v, %v; want mode 0644", fi, err)
	}
	before, _ := os.ReadFile(path)

	bad := c.clone()
	bad.Instances[0].VCPUs = 0
	if err := bad.Save(path); err == nil || !strings.Contains(err.Error(), "pricing: save catalog "+path+": instance 0") {
		t.Errorf("Save(invalid) error %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("Save(invalid) changed the file")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if err := c.Save(filepath.Join(path, "x.json")); err == nil { // parent is a file
		t.Error("Save under a file succeeded")
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.HasPrefix(err.Error(), "pricing: load catalog: open ") {
		t.Errorf("Load(missing) error %v", err)
	}
	os.WriteFile(path, []byte("{}"), 0o644)
	if _, err := Load(path); err == nil || err.Error() != "pricing: load catalog "+path+": version 0, want 1" {
		t.Errorf("Load(invalid) error %v", err)
	}
}
