package transcode

import (
	"math"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/asticode/go-astiav"
)

// cfr turns frames with any timestamps into a constant frame rate, as the ffmpeg CLI's fps
// filter does: output slot s shows the newest input frame whose time rounds to s or earlier.
// Gaps repeat the previous frame, frames that round to a slot already shown are dropped, and
// the first frame is slot 0. Every rung gets the same slots, so keyframes align across rungs.
type cfr struct {
	tb      astiav.Rational // input time base
	fps     ladder.Rational
	nominal int64 // one frame at the source's nominal rate, in tb: the fallback duration
	base    int64 // slot of the first frame
	next    int64 // next output slot, relative to base
	started bool
	last    *astiav.Frame // reference to the newest input frame
	lastEnd float64       // its end, seconds
}

func newCFR(tb astiav.Rational, fps ladder.Rational, nominal int64) (*cfr, error) {
	c := &cfr{tb: tb, fps: fps, nominal: max(nominal, 1)}
	if c.last = astiav.AllocFrame(); c.last == nil {
		return nil, newError(CodeInternal, "allocate frame", nil)
	}
	return c, nil
}

// Close frees the held frame. Nil-safe.
func (c *cfr) Close() {
	if c != nil && c.last != nil {
		c.last.Free()
	}
}

func (c *cfr) slot(seconds float64) int64 {
	return int64(math.Round(seconds*float64(c.fps.Num)/float64(c.fps.Den))) - c.base
}

// push takes f and calls emit for each output slot it fills (f, or repeats of the frame before).
func (c *cfr) push(f *astiav.Frame, emit func(f *astiav.Frame, slot int64) error) error {
	t := float64(f.Pts()) * c.tb.Float64()
	if !c.started {
		c.base, c.started = c.slot(t), true
	}
	s := c.slot(t)
	for ; c.next < s; c.next++ { // a gap: repeat the last frame
		if err := emit(c.last, c.next); err != nil {
			return err
		}
	}
	c.last.Unref()
	if err := c.last.Ref(f); err != nil {
		return newError(CodeInternal, "reference frame", err)
	}
	d := frameDuration(f)
	if d < c.nominal/2 {
		d = c.nominal // a missing or implausible duration (matroska's 1 ms) must not cut the last frame
	}
	c.lastEnd = t + float64(d)*c.tb.Float64()
	if s < c.next {
		return nil // this slot is taken: a faster source is decimated
	}
	c.next = s + 1
	return emit(f, s)
}

// flush repeats the last frame to fill the slots up to its end.
func (c *cfr) flush(emit func(f *astiav.Frame, slot int64) error) error {
	if !c.started {
		return nil
	}
	for end := c.slot(c.lastEnd); c.next < end; c.next++ {
		if err := emit(c.last, c.next); err != nil {
			return err
		}
	}
	return nil
}
