package worker

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/reports"
)

func TestLoadLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "worker.yaml")
	if err := os.WriteFile(file, []byte(`
live_slots: 3
batch_slots: 2
shutdown_timeout: 90s
instance_type: g4dn.xlarge
live_slots_by_instance_type: {g4dn.xlarge: 8, c6i.4xlarge: 4}
allowed_input_roots: [/srv/in]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ABRFLEET_CONFIG":        file,
		"ABRFLEET_BATCH_SLOTS":   "4",  // env over file
		"ABRFLEET_LIVE_WEIGHT":   "0",  // env over default
		"ABRFLEET_RETRY_DELAY":   "3s", // env, then a flag over it
		"ABRFLEET_UNRELATED_VAR": "x",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := Load([]string{"--retry-delay", "2s", "--allowed-input-roots", "/a,/b"}, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.LiveSlots, want.BatchSlots, want.ShutdownTimeout = 3, 4, 90*time.Second
	want.InstanceType = "g4dn.xlarge"
	want.LiveSlotsByInstanceType = map[string]int{"g4dn.xlarge": 8, "c6i.4xlarge": 4}
	want.LiveWeight, want.RetryDelay = 0, 2*time.Second
	want.AllowedInputRoots = []string{"/a", "/b"} // a flag replaces the list, it does not append
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if n := c.EffectiveLiveSlots(); n != 8 {
		t.Errorf("effective live slots %d, want 8 (g4dn.xlarge)", n)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad flag", []string{"--no-such-flag"}, nil, "usage"},
		{"bad env", nil, map[string]string{"ABRFLEET_LIVE_SLOTS": "many"}, "ABRFLEET_LIVE_SLOTS"},
		{"nothing to run", []string{"--live-slots", "0", "--batch-slots", "0"}, nil, "nothing to run"},
		{"relative work dir", []string{"--work-dir", "tmp"}, nil, "work_dir"},
		{"bad redis", []string{"--redis-url", "http://x"}, nil, "redis url"},
		{"bad level", []string{"--log-level", "loud"}, nil, "log level"},
		{"sub-second forward", []string{"--forward-interval", "100ms"}, nil, "forward_interval"},
		{"missing file", nil, map[string]string{"ABRFLEET_CONFIG": "/nonexistent.yaml"}, "nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadFileRejectsUnknownKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(file, []byte("live_slot: 3\n"), 0o600)
	c := Default()
	if err := c.LoadFile(file); err == nil || !strings.Contains(err.Error(), "live_slot") {
		t.Fatalf("error %v, want the unknown key named", err)
	}
}

var redisCases = []struct {
	name, url, password string
	want                asynq.RedisConnOpt // nil: an error
}{
	{"plain", "redis://127.0.0.1:6379/2", "", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 2}},
	{"password", "redis://:s3cret@r:6379/0", "", asynq.RedisClientOpt{Addr: "r:6379", Password: "s3cret"}},
	{"acl user", "redis://app:s3cret@r:6379/0", "", asynq.RedisClientOpt{Addr: "r:6379", Username: "app", Password: "s3cret"}},
	{"password from outside", "redis://r:6379/0", "fromenv", asynq.RedisClientOpt{Addr: "r:6379", Password: "fromenv"}},
	{"sentinel", "redis-sentinel://:spass@s1:26379,s2:26379/?master=mymaster&db=3", "mpass",
		asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379"},
			SentinelPassword: "spass", Password: "mpass", DB: 3}},
	{"sentinel without master", "redis-sentinel://s1:26379/", "", nil},
	{"sentinel bad db", "redis-sentinel://s1:26379/?master=m&db=x", "", nil},
	{"no host", "redis:///0", "", nil},
	{"bad scheme", "http://r:6379", "", nil},
	{"bad db", "redis://r:6379/x", "", nil},
}

func TestParseRedis(t *testing.T) {
	for _, tc := range redisCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRedis(tc.url, tc.password, "")
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "spass") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseRedisTLS(t *testing.T) {
	got, err := ParseRedis("rediss://:p@cache.example:6380/1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	o := got.(asynq.RedisClientOpt)
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" || o.TLSConfig.RootCAs != nil {
		t.Errorf("TLS config %+v, want server name cache.example and the system roots", o.TLSConfig)
	}
	if _, err := ParseRedis("rediss://cache.example:6380/1", "", "/nonexistent/ca.pem"); err == nil {
		t.Error("a missing CA file is accepted")
	}
	s, err := ParseRedis("redis-sentinel://s1:26379/?master=m&tls=1", "", "")
	if err != nil || s.(asynq.RedisFailoverClientOpt).TLSConfig == nil {
		t.Errorf("sentinel tls=1: %+v, %v", s, err)
	}
}

func FuzzParseRedis(f *testing.F) {
	for _, tc := range redisCases {
		f.Add(tc.url, tc.password)
	}
	f.Fuzz(func(t *testing.T, url, password string) {
		opt, err := ParseRedis(url, password, "")
		if err == nil && opt == nil {
			t.Fatal("nil options without an error")
		}
		if err != nil && len(password) > 3 && !strings.Contains(url, password) && strings.Contains(err.Error(), password) {
			t.Fatalf("error %q repeats the password", err)
		}
	})
}

func TestLiveSlotsFromBenchResults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, instanceType string, live ...reports.LiveCase) string {
		r := &reports.Results{Schema: reports.SchemaVersion, RunID: name, Started: time.Now(), Profile: "quick",
			Machine: reports.Machine{InstanceType: instanceType, InstanceSource: "flag", Cores: 4}, Live: live}
		p := filepath.Join(dir, name+".json")
		if err := r.Save(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	live := func(codec string, n int, unavailable bool) reports.LiveCase {
		lc := reports.LiveCase{Source: "medium", Width: 1280, Height: 720, FPS: 30, Codec: codec, Preset: "p1",
			SegmentSeconds: 2, WindowSeconds: 30, MaxSustained: n, Unavailable: unavailable}
		if unavailable {
			lc.Reason, lc.MaxSustained = "no GPU", 0
		}
		return lc
	}
	g4 := write("g4", "g4dn.xlarge", live("x264", 1, false), live("h264_nvenc", 4, false))
	c6 := write("c6", "c6i.4xlarge", live("x264", 1, false), live("h264_nvenc", 0, true))
	for _, tc := range []struct {
		name     string
		instance string
		byType   map[string]int
		want     int
	}{
		{"g4dn measured: the best encoder there", "g4dn.xlarge", nil, 4},
		{"c6i measured: NVENC unavailable is not counted", "c6i.4xlarge", nil, 1},
		{"not measured: the flag", "m6i.large", nil, 2},
		{"explicit map wins", "g4dn.xlarge", map[string]int{"g4dn.xlarge": 6}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.BenchResults, c.InstanceType, c.LiveSlotsByInstanceType = []string{g4, c6}, tc.instance, tc.byType
			if n := c.EffectiveLiveSlots(); n != tc.want {
				t.Fatalf("live slots %d, want %d", n, tc.want)
			}
		})
	}
	c := Default()
	c.BenchResults = []string{filepath.Join(dir, "missing.json")}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "bench_results") {
		t.Fatalf("a missing results file: %v, want a bench_results error", err)
	}
}
