package reports

import (
	"math"
	"sort"

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

// MedianCI is a distribution-free confidence interval of the median of xs: the order
// statistics x(k) and x(n+1-k) for the largest k whose coverage, 1 - 2·P(B < k) with
// B ~ Binomial(n, 1/2), is at least level. When even the full range falls short (fewer than
// six values at 95%), it is the range, and coverage says how much less than level it holds.
// It assumes nothing about the shape of the distribution, which suits timings on a shared
// machine, whose noise is neither normal nor symmetric.
func MedianCI(xs []float64, level float64) (low, high, coverage float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	// cdf[j] = P(B <= j), built from the binomial coefficients of n.
	cdf := make([]float64, n+1)
	p, sum := math.Pow(0.5, float64(n)), 0.0
	for j := 0; j <= n; j++ {
		sum += p
		cdf[j] = sum
		p = p * float64(n-j) / float64(j+1)
	}
	k := 1
	for k+1 <= (n+1)/2 && 1-2*cdf[k] >= level {
		k++
	}
	return s[k-1], s[n-k], 1 - 2*cdf[k-1]
}
