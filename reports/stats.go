package reports

import (
	"math"

	"github.com/montanaflynn/stats"
)

// NoisyCV is the coefficient of variation above which a measurement is
// flagged as noisy.
const NoisyCV = 0.05

// Stats summarises repeated measurements.
type Stats struct {
	N        int     `json:"n"`
	Median   float64 `json:"median"`
	Mean     float64 `json:"mean"`
	Stddev   float64 `json:"stddev"` // sample standard deviation
	P95      float64 `json:"p95"`
	CI95Low  float64 `json:"ci95_low"` // 95% confidence interval of the mean (Student's t)
	CI95High float64 `json:"ci95_high"`
	CV       float64 `json:"cv"` // Stddev / Mean
	Noisy    bool    `json:"noisy"`
}

// Summarize describes xs. Fewer than two values give zero spread, and no
// values give the zero Stats.
func Summarize(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	data := stats.Float64Data(xs)
	// The errors below are only for empty input, excluded above.
	s := Stats{N: len(xs)}
	s.Median, _ = data.Median()
	s.Mean, _ = data.Mean()
	s.P95, _ = data.Percentile(95)
	s.CI95Low, s.CI95High = s.Mean, s.Mean
	if s.N < 2 {
		return s
	}
	s.Stddev, _ = data.StandardDeviationSample()
	half := tQuantile975(s.N-1) * s.Stddev / math.Sqrt(float64(s.N))
	s.CI95Low, s.CI95High = s.Mean-half, s.Mean+half
	if s.Mean != 0 {
		s.CV = s.Stddev / math.Abs(s.Mean)
	}
	s.Noisy = s.CV > NoisyCV
	return s
}

// tQuantile975 is the 0.975 quantile of Student's t distribution with df
// degrees of freedom: tabulated up to 30, then the Cornish-Fisher expansion
// around the normal quantile, within 0.001 of the exact value there.
func tQuantile975(df int) float64 {
	table := [...]float64{
		12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
	}
	if df < 1 {
		return math.Inf(1)
	}
	if df <= len(table) {
		return table[df-1]
	}
	const z = 1.959963984540054
	n := float64(df)
	z3, z5 := z*z*z, z*z*z*z*z
	return z + (z3+z)/(4*n) + (5*z5+16*z3+3*z)/(96*n*n)
}
