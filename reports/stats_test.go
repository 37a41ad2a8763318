package reports

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want Stats
	}{
		{"empty", nil, Stats{}},
		{"one", []float64{100}, Stats{N: 1, Median: 100, Mean: 100, P95: 100, CI95Low: 100, CI95High: 100}},
		{"constant", []float64{5, 5, 5}, Stats{N: 3, Median: 5, Mean: 5, P95: 5, CI95Low: 5, CI95High: 5}},
		{"five", []float64{30, 10, 50, 20, 40}, Stats{
			N: 5, Median: 30, Mean: 30, Stddev: math.Sqrt(250), P95: 48,
			CI95Low:  30 - 2.776*math.Sqrt(250)/math.Sqrt(5),
			CI95High: 30 + 2.776*math.Sqrt(250)/math.Sqrt(5),
			CV:       math.Sqrt(250) / 30, Noisy: true,
		}},
		{"quiet", []float64{99, 100, 101}, Stats{
			N: 3, Median: 100, Mean: 100, Stddev: 1, P95: 100.9,
			CI95Low: 100 - 4.303/math.Sqrt(3), CI95High: 100 + 4.303/math.Sqrt(3), CV: 0.01,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.xs)
			if !statsClose(got, tt.want) {
				t.Errorf("Summarize(%v) =\n%+v, want\n%+v", tt.xs, got, tt.want)
			}
		})
	}
}

func statsClose(a, b Stats) bool {
	close := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)) }
	return a.N == b.N && a.Noisy == b.Noisy &&
		close(a.Median, b.Median) && close(a.Mean, b.Mean) && close(a.Stddev, b.Stddev) && close(a.P95, b.P95) &&
		close(a.CI95Low, b.CI95Low) && close(a.CI95High, b.CI95High) && close(a.CV, b.CV)
}

func TestTQuantile975(t *testing.T) {
	// Exact quantiles; the expansion beyond the table is within 0.001.
	tests := []struct {
		df   int
		want float64
	}{{1, 12.706}, {4, 2.776}, {30, 2.042}, {31, 2.0395}, {60, 2.0003}, {120, 1.9799}, {100000, 1.9600}}
	for _, tt := range tests {
		if got := tQuantile975(tt.df); math.Abs(got-tt.want) > 0.001 {
			t.Errorf("tQuantile975(%d) = %.4f, want %.4f", tt.df, got, tt.want)
		}
	}
}

func TestMedianCI(t *testing.T) {
	tests := []struct {
		name                string
		xs                  []float64
		low, high, coverage float64
	}{
		{"empty", nil, 0, 0, 0},
		{"one", []float64{7}, 7, 7, 0},
		{"two", []float64{3, 1}, 1, 3, 0.5},
		// Five values: the range is the best there is, at 1 - 2/32.
		{"five", []float64{1.24, 1.05, 0.94, 1.09, 1.15}, 0.94, 1.24, 0.9375},
		{"six", []float64{6, 1, 5, 2, 4, 3}, 1, 6, 1 - 2.0/64},
		// Nine: the 2nd and 8th values cover 1 - 2·10/512 = 96.1%; the 3rd and 7th only 82%.
		{"nine", []float64{9, 8, 7, 6, 5, 4, 3, 2, 1}, 2, 8, 1 - 20.0/512},
		{"ten", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 2, 9, 1 - 22.0/1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low, high, cov := MedianCI(tt.xs, 0.95)
			if low != tt.low || high != tt.high || math.Abs(cov-tt.coverage) > 1e-12 {
				t.Errorf("MedianCI(%v) = %v, %v, %v; want %v, %v, %v", tt.xs, low, high, cov, tt.low, tt.high, tt.coverage)
			}
		})
	}
	// A lower level narrows the interval: 5 values at 60% give the 2nd and 4th.
	if low, high, cov := MedianCI([]float64{5, 1, 4, 2, 3}, 0.6); low != 2 || high != 4 || math.Abs(cov-0.625) > 1e-12 {
		t.Errorf("MedianCI at 60%% = %v, %v, %v; want 2, 4, 0.625", low, high, cov)
	}
	// The input is not reordered.
	xs := []float64{3, 1, 2}
	MedianCI(xs, 0.95)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Errorf("MedianCI sorted its input: %v", xs)
	}
}
