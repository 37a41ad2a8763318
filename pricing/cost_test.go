package pricing

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

type costCase struct {
	name    string
	fn      string // "frames", "streams" or "relative"
	a, b    float64
	streams int
	want    float64
	err     string
}

func costCases() []costCase {
	inf, nan := math.Inf(1), math.NaN()
	return []costCase{
		{name: "c6i.4xlarge at 100 fps", fn: "frames", a: 0.68, b: 100, want: 0.68 / 360000 * 1e6},
		{name: "one dollar an hour at one fps", fn: "frames", a: 1, b: 1, want: 1e6 / 3600},
		{name: "fps 0", fn: "frames", a: 0.68, b: 0, err: "pricing: cost per million frames: fps 0 not positive and finite"},
		{name: "fps negative", fn: "frames", a: 0.68, b: -1, err: "fps -1 not positive"},
		{name: "fps NaN", fn: "frames", a: 0.68, b: nan, err: "fps NaN not positive"},
		{name: "price 0", fn: "frames", a: 0, b: 100, err: "usd_per_hour 0 not positive"},
		{name: "price inf", fn: "frames", a: inf, b: 100, err: "usd_per_hour +Inf not positive and finite"},
		{name: "frames overflow", fn: "frames", a: 1e308, b: 1e-300, err: "result overflows"},
		{name: "streams", fn: "streams", streams: 12, a: 0.526, want: 12 / 0.526},
		{name: "no streams", fn: "streams", streams: 0, a: 0.526, want: 0},
		{name: "streams negative", fn: "streams", streams: -1, a: 0.526, err: "pricing: streams per dollar-hour: streams -1 negative"},
		{name: "streams price 0", fn: "streams", streams: 1, a: 0, err: "usd_per_hour 0 not positive"},
		{name: "streams overflow", fn: "streams", streams: math.MaxInt, a: 5e-324, err: "result overflows"},
		{name: "relative self", fn: "relative", a: 1.89, b: 1.89, want: 1},
		{name: "relative half", fn: "relative", a: 1, b: 2, want: 0.5},
		{name: "relative zero cost", fn: "relative", a: 0, b: 2, want: 0},
		{name: "relative negative cost", fn: "relative", a: -1, b: 2, err: "pricing: relative cost: cost -1 not finite and >= 0"},
		{name: "relative NaN cost", fn: "relative", a: nan, b: 2, err: "cost NaN not finite"},
		{name: "relative reference 0", fn: "relative", a: 1, b: 0, err: "reference 0 not positive"},
		{name: "relative overflow", fn: "relative", a: 1e308, b: 1e-10, err: "result overflows"},
	}
}

func (tt costCase) run() (float64, error) {
	switch tt.fn {
	case "frames":
		return CostPerMillionFrames(tt.a, tt.b)
	case "streams":
		return StreamsPerDollarHour(tt.streams, tt.a)
	}
	return Relative(tt.a, tt.b)
}

func TestCost(t *testing.T) {
	for _, tt := range costCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || math.Abs(got-tt.want) > 1e-12*math.Abs(tt.want) {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzCost(f *testing.F) {
	for _, tt := range costCases() {
		f.Add(tt.fn, tt.a, tt.b, tt.streams)
	}
	f.Fuzz(func(t *testing.T, fn string, a, b float64, streams int) {
		got, err := costCase{fn: fn, a: a, b: b, streams: streams}.run()
		if err != nil {
			return
		}
		if !(got >= 0) || math.IsInf(got, 0) {
			t.Fatalf("%s(%v, %v, %d) = %v: not finite and >= 0", fn, a, b, streams, got)
		}
		if fn == "frames" && a > 1e-6 && a < 1e6 && b > 1e-6 && b < 1e6 {
			if back := got * b * 3600 / 1e6; math.Abs(back-a) > 1e-9*a {
				t.Fatalf("CostPerMillionFrames(%v, %v) = %v does not invert: %v", a, b, got, back)
			}
		}
	})
}

// The study's table: cost of a million frames per instance, relative to x264
// ultrafast on c6i.4xlarge. The frame rates here are made up.
func ExampleRelative() {
	c, _ := Embedded()
	ref := 0.0
	for _, r := range []struct {
		typ string
		fps float64
	}{{"c6i.4xlarge", 400}, {"g4dn.xlarge", 900}, {"p3.2xlarge", 2000}} {
		p, _ := c.Price(r.typ, "us-east-1")
		cost, _ := CostPerMillionFrames(p.USDPerHour, r.fps)
		if ref == 0 {
			ref = cost
		}
		rel, _ := Relative(cost, ref)
		fmt.Printf("%-12s $%.3f/Mframe  %.2fx\n", r.typ, cost, rel)
	}
	// Output:
	// c6i.4xlarge  $0.472/Mframe  1.00x
	// g4dn.xlarge  $0.162/Mframe  0.34x
	// p3.2xlarge   $0.425/Mframe  0.90x
}
