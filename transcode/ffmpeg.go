package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/asticode/go-astiav"
)

// noPTS is AV_NOPTS_VALUE.
const noPTS = math.MinInt64

// registerDevices registers libavdevice's inputs once per process (lavfi synthetic sources).
// FFmpeg keeps this registry itself; calling it is idempotent, the Once only avoids the race.
var registerDevices = sync.OnceFunc(astiav.RegisterAllDevices)

// interruptOnDone makes FFmpeg's blocking I/O on ii return AVERROR_EXIT as soon as ctx is
// done. The returned stop function must be called before ii is freed.
func interruptOnDone(ctx context.Context, ii *astiav.IOInterrupter) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			ii.Interrupt()
		case <-done:
		}
	}()
	return func() { close(done); <-exited }
}

// dictionary builds an AVDictionary from ordered key/value pairs. The caller frees it.
func dictionary(kv ...string) (*astiav.Dictionary, error) {
	d := astiav.NewDictionary()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := d.Set(kv[i], kv[i+1], 0); err != nil {
			d.Free()
			return nil, fmt.Errorf("set option %s=%s: %w", kv[i], kv[i+1], err)
		}
	}
	return d, nil
}

// leftover lists the entries FFmpeg did not consume from d after an open call: misspelled or
// unsupported options, which FFmpeg otherwise ignores silently.
func leftover(d *astiav.Dictionary) []string {
	var out []string
	var e *astiav.DictionaryEntry
	for {
		if e = d.Get("", e, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix)); e == nil {
			return out
		}
		out = append(out, e.Key()+"="+e.Value())
	}
}

// isAgainOrEOF reports the two non-errors of FFmpeg's send/receive loops.
func isAgainOrEOF(err error) bool {
	return errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof)
}
