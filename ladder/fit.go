package ladder

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

const (
	// maxSourceDim bounds probed dimensions: far beyond any real video, and
	// small enough to keep the sizing arithmetic well inside int.
	maxSourceDim = 1 << 16
	// Frame rate assumed when the probe reports none.
	unknownFPSNum, unknownFPSDen = 30, 1
)

// Rational is a frame rate as FFmpeg's AVRational: Num/Den frames per second.
type Rational struct{ Num, Den int }

// Float returns Num/Den, or 0 when Den is 0.
func (r Rational) Float() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// Source is what the probe found about the input's video stream.
type Source struct {
	// Width and Height are the coded (stored) size, 1 to 65536.
	Width, Height int
	// Rotation is the display rotation in degrees as FFmpeg reports it from
	// the display matrix: any multiple of 90, negative allowed. 90 and 270
	// (mod 360) swap the display width and height. Default (0): none.
	Rotation int
	// FPS is the average (nominal) frame rate. Default (zero Num or Den):
	// unknown, treated as 30/1.
	FPS Rational
}

// Target is one concrete rendition for a source, in display orientation.
type Target struct {
	// Name is the rung's name, or "source" when the source is smaller than
	// every rung.
	Name string
	// Width and Height are even, at least 2, within 1% of the source's display
	// aspect ratio and no larger than the source.
	Width, Height int
	// FPS is the constant output frame rate.
	FPS Rational
	// BitrateKbps is the rung's H.264 figure.
	BitrateKbps int
	// HEVCBitrateKbps is the rung's HEVC figure with its default resolved;
	// never 0.
	HEVCBitrateKbps int
	// GOPFrames is the keyframe interval: round(GOPSeconds * FPS), at least 1.
	// It is the same for every target of a source, so keyframes line up
	// across renditions.
	GOPFrames int
}

// Fit turns the ladder into concrete targets for src, largest first.
//
// Each rung's short side becomes the target's short side and the long side
// follows the source's display aspect ratio, rounded to the nearest even
// number, so portrait sources get portrait renditions. Rungs larger than the
// source are dropped and duplicate sizes are kept once; a source smaller than
// every rung yields a single target named "source" at (about) its own size,
// with the smallest rung's bitrates. Frame rates above MaxFPS are divided by
// the smallest integer that brings them under it (120 -> 60, 144 -> 48).
func (l Ladder) Fit(src Source) ([]Target, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	w, h, err := src.displaySize()
	if err != nil {
		return nil, err
	}
	fps, err := l.outputFPS(src.FPS)
	if err != nil {
		return nil, err
	}
	gop := max(1, int(math.Round(l.gopSeconds()*fps.Float())))

	makeTarget := func(r Rung, name string, short int) (Target, error) {
		tw, th, err := fitSize(w, h, short)
		if err != nil {
			return Target{}, err
		}
		return Target{
			Name:            name,
			Width:           tw,
			Height:          th,
			FPS:             fps,
			BitrateKbps:     r.BitrateKbps,
			HEVCBitrateKbps: r.hevcKbps(),
			GOPFrames:       gop,
		}, nil
	}

	rungs := slices.Clone(l.Rungs)
	slices.SortStableFunc(rungs, func(a, b Rung) int { return cmp.Compare(b.ShortSide(), a.ShortSide()) })
	srcShort := min(w, h)
	var targets []Target
	for _, r := range rungs {
		if r.ShortSide() > srcShort {
			continue // never upscale
		}
		t, err := makeTarget(r, r.Name, r.ShortSide())
		if err != nil {
			return nil, err
		}
		if n := len(targets); n > 0 && targets[n-1].Width == t.Width && targets[n-1].Height == t.Height {
			continue // sorted, so duplicates are adjacent
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		lowest := slices.MinFunc(l.Rungs, func(a, b Rung) int { return cmp.Compare(a.ShortSide(), b.ShortSide()) })
		t, err := makeTarget(lowest, "source", srcShort&^1)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// displaySize applies the rotation to the coded size.
func (s Source) displaySize() (w, h int, err error) {
	if s.Width < 1 || s.Height < 1 || s.Width > maxSourceDim || s.Height > maxSourceDim {
		return 0, 0, fmt.Errorf("ladder: source size %dx%d must be between 1x1 and %dx%d",
			s.Width, s.Height, maxSourceDim, maxSourceDim)
	}
	if s.Rotation%90 != 0 {
		return 0, 0, fmt.Errorf("ladder: source rotation %d is not a multiple of 90", s.Rotation)
	}
	if rot := (s.Rotation%360 + 360) % 360; rot == 90 || rot == 270 {
		return s.Height, s.Width, nil
	}
	return s.Width, s.Height, nil
}

// fitSize returns the w x h display size scaled so its short side is short,
// with the long side rounded to the nearest even number (but never beyond the
// source). It fails if the result is not within 1% of the source's aspect
// ratio, which only tiny sources can cause.
func fitSize(w, h, short int) (tw, th int, err error) {
	srcShort, srcLong := min(w, h), max(w, h)
	// nearest even to srcLong*short/srcShort, halves rounded up, in integers.
	long := (srcLong*short + srcShort) / (2 * srcShort) * 2
	long = min(long, srcLong&^1)
	// |long/short - srcLong/srcShort| <= 1% of srcLong/srcShort, cross-multiplied.
	if short < 2 || 100*abs(long*srcShort-srcLong*short) > srcLong*short {
		return 0, 0, fmt.Errorf("ladder: source %dx%d is too small to scale without distorting its aspect ratio", w, h)
	}
	if w >= h {
		return long, short, nil
	}
	return short, long, nil
}

// outputFPS resolves the unknown-rate default and applies MaxFPS.
func (l Ladder) outputFPS(r Rational) (Rational, error) {
	num, den := r.Num, r.Den
	switch {
	case num < 0 || den < 0 || num > math.MaxInt32 || den > math.MaxInt32:
		return Rational{}, fmt.Errorf("ladder: source frame rate %d/%d is invalid", num, den)
	case num == 0 || den == 0:
		num, den = unknownFPSNum, unknownFPSDen
	}
	// Smallest n with num/(den*n) <= maxFPS; the loops correct any floating
	// point error in the first guess.
	maxFPS := l.maxFPS()
	above := func(n int) bool { return float64(num) > maxFPS*float64(den*n) }
	n := max(1, int(math.Ceil(float64(num)/(maxFPS*float64(den)))))
	for n > 1 && !above(n-1) {
		n--
	}
	for above(n) {
		n++
	}
	den *= n
	g := gcd(num, den)
	return Rational{Num: num / g, Den: den / g}, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
