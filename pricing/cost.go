package pricing

import (
	"fmt"
	"math"
)

// CostPerMillionFrames is the dollar cost of producing a million frames at fps
// frames per second on an instance billed usdPerHour:
// usdPerHour / (3600·fps) · 1e6. Both must be positive and finite.
func CostPerMillionFrames(usdPerHour, fps float64) (float64, error) {
	if err := positive("usd_per_hour", usdPerHour); err != nil {
		return 0, fmt.Errorf("pricing: cost per million frames: %w", err)
	}
	if err := positive("fps", fps); err != nil {
		return 0, fmt.Errorf("pricing: cost per million frames: %w", err)
	}
	return finite("cost per million frames", usdPerHour/(3600*fps)*1e6)
}

// StreamsPerDollarHour is how many concurrent live streams one dollar buys for
// an hour on an instance that holds streams (>= 0) of them and is billed
// usdPerHour (positive, finite).
func StreamsPerDollarHour(streams int, usdPerHour float64) (float64, error) {
	if streams < 0 {
		return 0, fmt.Errorf("pricing: streams per dollar-hour: streams %d negative", streams)
	}
	if err := positive("usd_per_hour", usdPerHour); err != nil {
		return 0, fmt.Errorf("pricing: streams per dollar-hour: %w", err)
	}
	return finite("streams per dollar-hour", float64(streams)/usdPerHour)
}

// Relative is cost as a multiple of reference, as in the study's table
// normalised to x264 ultrafast on c6i.4xlarge (= 1). cost must be finite and
// >= 0, reference positive and finite.
func Relative(cost, reference float64) (float64, error) {
	if !(cost >= 0) || math.IsInf(cost, 0) {
		return 0, fmt.Errorf("pricing: relative cost: cost %v not finite and >= 0", cost)
	}
	if err := positive("reference", reference); err != nil {
		return 0, fmt.Errorf("pricing: relative cost: %w", err)
	}
	return finite("relative cost", cost/reference)
}

func positive(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("%s %v not positive and finite", name, v)
	}
	return nil
}

func finite(what string, v float64) (float64, error) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("pricing: %s: result overflows", what)
	}
	return v, nil
}
