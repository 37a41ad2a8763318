// Package pricing is abrfleet's EC2 catalog and the price/performance
// arithmetic built on it: cost of a million frames, live streams per dollar-hour,
// and costs relative to a reference.
//
// The catalog ships embedded (catalog.json, recalled public on-demand prices,
// every price labelled with its date and source); Refresh replaces them with
// figures from the AWS Pricing API and Current prefers such a refreshed cache.
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/abrfleet/abrfleet/internal/atomicfile"
)

//go:embed catalog.json
var embedded []byte

// Version is the only catalog format version Parse accepts.
const Version = 1

// Price is an hourly price as of Date (YYYY-MM-DD), with where it came from.
type Price struct {
	USDPerHour float64 `json:"usd_per_hour"`
	Date       string  `json:"date"`
	Source     string  `json:"source"`
}

// Instance is one EC2 instance type.
type Instance struct {
	Type      string  `json:"type"`       // e.g. "c6i.4xlarge"
	VCPUs     int     `json:"vcpus"`      // 1..1024
	MemoryGiB float64 `json:"memory_gib"` // > 0
	Arch      string  `json:"arch"`       // "x86_64" or "arm64"
	GPUs      int     `json:"gpus"`       // 0..16
	GPUModel  string  `json:"gpu_model"`  // "T4", "A10G", "L4", "V100", "A100", "H100"…; "" iff GPUs == 0
	// NVENC and NVDEC engines per GPU (0..16; 0 without GPUs).
	NVENCPerGPU int `json:"nvenc_per_gpu"`
	NVDECPerGPU int `json:"nvdec_per_gpu"`
	// On-demand Linux (shared tenancy) prices by region code; at least one.
	Prices map[string]Price `json:"prices"`
	// Spot prices by region code, if known.
	Spot map[string]Price `json:"spot,omitempty"`
}

// Family is the part of the type before the dot: "c6i" for "c6i.4xlarge".
func (in Instance) Family() string { f, _, _ := strings.Cut(in.Type, "."); return f }

// Catalog is a versioned set of instance types and their prices.
type Catalog struct {
	Version   int        `json:"version"`   // always Version
	Generated string     `json:"generated"` // YYYY-MM-DD
	Source    string     `json:"source"`
	Instances []Instance `json:"instances"`
}

// Embedded parses the catalog compiled into the binary, returning a fresh copy
// on every call.
func Embedded() (*Catalog, error) {
	c, err := parse(embedded)
	if err != nil {
		return nil, fmt.Errorf("pricing: embedded catalog: %w", err)
	}
	return c, nil
}

// Parse decodes and validates a catalog. Decoding is strict: unknown fields
// and trailing data are errors. Validation requires version 1, a date and a
// source, at least one instance, and for each instance a unique type matching
// ^[a-z][a-z0-9-]*\.[a-z0-9]+$, vcpus 1..1024, memory > 0, arch x86_64 or
// arm64, gpus 0..16 with a GPU model iff gpus > 0, engine counts 0..16 (0
// without GPUs), and at least one region price. Every price, spot ones
// included, must be in (0, 1000) $/h with a valid date and a non-empty source.
func Parse(data []byte) (*Catalog, error) {
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("pricing: parse catalog: %w", err)
	}
	return c, nil
}

// Load reads and parses the catalog at path.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pricing: load catalog: %w", err)
	}
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("pricing: load catalog %s: %w", path, err)
	}
	return c, nil
}

// Save validates c and writes it to path as indented JSON, atomically: into a
// temporary file in the same directory, then renamed over path. Missing parent
// directories are created.
func (c *Catalog) Save(path string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("pricing: save catalog %s: %w", path, err)
		}
	}()
	if err := c.validate(); err != nil {
		return err
	}
	data, err := c.marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data)
}

// Lookup returns the instance of the given type.
func (c *Catalog) Lookup(instanceType string) (Instance, error) {
	i := slices.IndexFunc(c.Instances, func(in Instance) bool { return in.Type == instanceType })
	if i < 0 {
		return Instance{}, fmt.Errorf("pricing: unknown instance type %q (not in catalog; known families: %s)",
			instanceType, strings.Join(c.Families(), ", "))
	}
	return c.Instances[i], nil
}

// Families lists the catalog's instance families, sorted.
func (c *Catalog) Families() []string {
	var fs []string
	for _, in := range c.Instances {
		fs = append(fs, in.Family())
	}
	slices.Sort(fs)
	return slices.Compact(fs)
}

// Regions lists the regions any instance has an on-demand price for, sorted.
func (c *Catalog) Regions() []string {
	var rs []string
	for _, in := range c.Instances {
		rs = slices.AppendSeq(rs, maps.Keys(in.Prices))
	}
	slices.Sort(rs)
	return slices.Compact(rs)
}

// Price returns the on-demand price of instanceType in region.
func (c *Catalog) Price(instanceType, region string) (Price, error) {
	in, err := c.Lookup(instanceType)
	if err != nil {
		return Price{}, err
	}
	p, ok := in.Prices[region]
	if !ok {
		return Price{}, fmt.Errorf("pricing: no %s price for %s (catalog has: %s)",
			region, instanceType, strings.Join(slices.Sorted(maps.Keys(in.Prices)), ", "))
	}
	return p, nil
}

func (c *Catalog) marshal() ([]byte, error) {
	data, err := json.MarshalIndent(c, "", "  ")
	return append(data, '\n'), err
}

// clone returns a deep copy of c.
func (c *Catalog) clone() *Catalog {
	d := *c
	d.Instances = slices.Clone(c.Instances)
	for i := range d.Instances {
		d.Instances[i].Prices = maps.Clone(d.Instances[i].Prices)
		d.Instances[i].Spot = maps.Clone(d.Instances[i].Spot)
	}
	return &d
}

func parse(data []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the catalog")
	}
	for i := range c.Instances {
		if len(c.Instances[i].Spot) == 0 {
			c.Instances[i].Spot = nil // as omitempty would write it
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	typeRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	regionRE = regexp.MustCompile(`^[a-z]+(-[a-z]+)+-[0-9]+$`)
)

func (c *Catalog) validate() error {
	if c.Version != Version {
		return fmt.Errorf("version %d, want %d", c.Version, Version)
	}
	if err := checkDate(c.Generated); err != nil {
		return fmt.Errorf("generated: %w", err)
	}
	if c.Source == "" {
		return errors.New("empty source")
	}
	if len(c.Instances) == 0 {
		return errors.New("no instances")
	}
	seen := make(map[string]bool, len(c.Instances))
	for i, in := range c.Instances {
		if seen[in.Type] {
			return fmt.Errorf("instance %d: duplicate type %q", i, in.Type)
		}
		seen[in.Type] = true
		if err := in.validate(); err != nil {
			return fmt.Errorf("instance %d (%q): %w", i, in.Type, err)
		}
	}
	return nil
}

func (in Instance) validate() error {
	switch {
	case !typeRE.MatchString(in.Type):
		return fmt.Errorf("type does not match %s", typeRE)
	case in.VCPUs < 1 || in.VCPUs > 1024:
		return fmt.Errorf("vcpus %d out of range 1..1024", in.VCPUs)
	case !(in.MemoryGiB > 0):
		return fmt.Errorf("memory_gib %v not positive", in.MemoryGiB)
	case in.Arch != "x86_64" && in.Arch != "arm64":
		return fmt.Errorf("arch %q, want x86_64 or arm64", in.Arch)
	case in.GPUs < 0 || in.GPUs > 16:
		return fmt.Errorf("gpus %d out of range 0..16", in.GPUs)
	case (in.GPUs > 0) != (in.GPUModel != ""):
		return fmt.Errorf("gpus %d with gpu_model %q: a model is required iff gpus > 0", in.GPUs, in.GPUModel)
	case in.NVENCPerGPU < 0 || in.NVENCPerGPU > 16 || in.NVDECPerGPU < 0 || in.NVDECPerGPU > 16:
		return fmt.Errorf("nvenc_per_gpu %d, nvdec_per_gpu %d: out of range 0..16", in.NVENCPerGPU, in.NVDECPerGPU)
	case in.GPUs == 0 && in.NVENCPerGPU+in.NVDECPerGPU > 0:
		return errors.New("nvenc_per_gpu and nvdec_per_gpu must be 0 without GPUs")
	case len(in.Prices) == 0:
		return errors.New("no prices")
	}
	if err := checkPrices(in.Prices); err != nil {
		return fmt.Errorf("prices: %w", err)
	}
	if err := checkPrices(in.Spot); err != nil {
		return fmt.Errorf("spot: %w", err)
	}
	return nil
}

func checkPrices(ps map[string]Price) error {
	for _, region := range slices.Sorted(maps.Keys(ps)) {
		p := ps[region]
		switch err := checkDate(p.Date); {
		case !regionRE.MatchString(region):
			return fmt.Errorf("region %q does not match %s", region, regionRE)
		case !(p.USDPerHour > 0 && p.USDPerHour < 1000):
			return fmt.Errorf("%s: usd_per_hour %v out of range (0, 1000)", region, p.USDPerHour)
		case err != nil:
			return fmt.Errorf("%s: %w", region, err)
		case p.Source == "":
			return fmt.Errorf("%s: empty source", region)
		}
	}
	return nil
}

func checkDate(s string) error {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return nil
}
