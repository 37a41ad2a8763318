package pricing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Where Current found its catalog.
const (
	FromCache    = "cache"
	FromEmbedded = "embedded"
)

// CachePath is where a refreshed catalog lives:
// ${XDG_CACHE_HOME:-$HOME/.cache}/abrfleet/pricing.json.
func CachePath() string {
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		dir = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	return filepath.Join(dir, "abrfleet", "pricing.json")
}

// Current returns the catalog at CachePath if there is one and it is valid,
// else the embedded one, and says which: FromCache or FromEmbedded. A cache
// that exists but does not load still yields the embedded catalog, together
// with an error saying why, so callers may warn and go on; only a nil catalog
// is fatal.
func Current() (*Catalog, string, error) {
	c, err := Load(CachePath())
	if err == nil {
		return c, FromCache, nil
	}
	e, eerr := Embedded()
	if eerr != nil {
		return nil, "", eerr
	}
	if errors.Is(err, fs.ErrNotExist) {
		return e, FromEmbedded, nil
	}
	return e, FromEmbedded, fmt.Errorf("pricing: cache ignored, using the embedded catalog: %w", err)
}
