package pricing

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCachePath(t *testing.T) {
	for _, tt := range []struct {
		name, xdg, home, want string
	}{
		{name: "XDG_CACHE_HOME", xdg: "/x/cache", home: "/home/u", want: "/x/cache/abrfleet/pricing.json"},
		{name: "HOME", xdg: "", home: "/home/u", want: "/home/u/.cache/abrfleet/pricing.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if got := CachePath(); got != tt.want {
				t.Errorf("CachePath() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCurrent(t *testing.T) {
	emb, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	cached, err := Parse([]byte(validJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		setup func(path string)
		want  *Catalog
		from  string
		err   string
	}{
		{name: "no cache", setup: func(string) {}, want: emb, from: FromEmbedded},
		{name: "valid cache", setup: func(p string) { cached.Save(p) }, want: cached, from: FromCache},
		{name: "invalid cache", setup: func(p string) {
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(`{"version":2}`), 0o644)
		}, want: emb, from: FromEmbedded, err: "pricing: cache ignored, using the embedded catalog: pricing: load catalog "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			tt.setup(CachePath())
			c, from, err := Current()
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)) {
				t.Fatalf("Current error %v, want %q", err, tt.err)
			}
			if from != tt.from || !reflect.DeepEqual(c, tt.want) {
				t.Errorf("Current() from %q, want %q (catalog source %q)", from, tt.from, c.Source)
			}
		})
	}
}
