package main

import (
	"io"
	"os"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress shows bench run's progress bars on a terminal; elsewhere (CI, a pipe) it only
// passes the per-case lines through.
type progress struct {
	p     *mpb.Progress
	batch *mpb.Bar
	live  *mpb.Bar
	out   io.Writer // per-case lines: above the bars on a terminal
}

func newProgress(stderr io.Writer, batchRuns, liveCases int) *progress {
	f, ok := stderr.(*os.File)
	if !ok {
		return &progress{out: stderr}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return &progress{out: stderr}
	}
	p := mpb.New(mpb.WithOutput(stderr), mpb.WithWidth(40))
	pr := &progress{p: p, out: p}
	pr.batch = p.AddBar(int64(batchRuns),
		mpb.PrependDecorators(decor.Name("batch runs ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")))
	if liveCases > 0 {
		pr.live = p.AddBar(int64(liveCases),
			mpb.PrependDecorators(decor.Name("live cases ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d")),
			mpb.AppendDecorators(decor.OnComplete(decor.Elapsed(decor.ET_STYLE_GO), "done")))
	}
	return pr
}

func (pr *progress) batchRun() {
	if pr.batch != nil {
		pr.batch.Increment()
	}
}

func (pr *progress) liveCase() {
	if pr.live != nil {
		pr.live.Increment()
	}
}

// wait completes the bars (whatever was skipped) and stops rendering. Idempotent.
func (pr *progress) wait() {
	if pr.p == nil {
		return
	}
	defer func() { pr.p = nil }()
	for _, b := range []*mpb.Bar{pr.batch, pr.live} {
		if b != nil {
			b.SetTotal(-1, true)
		}
	}
	pr.p.Wait()
}
