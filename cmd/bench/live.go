package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/internal/worker"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/reports"
	"github.com/abrfleet/abrfleet/transcode"
)

// Live levels: a level of k streams is sustained when every stream finishes at least 99% of its
// segments by their deadline and never lags more than two segments behind the feed.
const (
	liveOnTime  = 0.99
	liveMaxLag  = 2.0
	livePoll    = 50 * time.Millisecond
	segmentSecs = 2.0
)

// live finds the largest number of concurrent real-time streams this machine sustains. With a
// guess (from the batch throughput) it steps up from there until a level fails, or down until
// one holds; without one it doubles from 1 until a level fails and bisects. Then it runs the best
// level again to confirm it, stepping down if the confirmation fails.
func (b *bencher) live(ctx context.Context, src string, lc *reports.LiveCase, guess, maxJobs int) error {
	window := time.Duration(lc.WindowSeconds * float64(time.Second))
	try := func(k int) (bool, error) {
		lvl, err := b.liveLevel(ctx, src, lc, k, window)
		if err != nil {
			return false, err
		}
		lc.Levels = append(lc.Levels, lvl)
		fmt.Fprintf(b.stderr, "  live %s %s: %2d streams: sustained=%v on-time %.1f%% max lag %.2f segments\n",
			lc.Codec, lc.Preset, k, lvl.Sustained, 100*lvl.OnTime, lvl.MaxLagSegments)
		return lvl.Sustained, nil
	}
	good, bad := 0, maxJobs+1
	if guess > 0 {
		k := min(guess, maxJobs)
		ok, err := try(k)
		if err != nil {
			return err
		}
		step := 1
		if !ok {
			bad, step = k, -1
		} else {
			good = k
		}
		for k += step; k >= 1 && k <= maxJobs; k += step {
			if ok, err = try(k); err != nil {
				return err
			}
			if ok {
				good = k
				if step < 0 {
					break
				}
			} else {
				bad = k
				if step > 0 {
					break
				}
			}
		}
	} else {
		for k := 1; k <= maxJobs; k *= 2 {
			ok, err := try(k)
			if err != nil {
				return err
			}
			if !ok {
				bad = k
				break
			}
			good = k
		}
		for bad-good > 1 && good < maxJobs {
			mid := (good + bad) / 2
			ok, err := try(mid)
			if err != nil {
				return err
			}
			if ok {
				good = mid
			} else {
				bad = mid
			}
		}
	}
	for good > 0 { // confirm
		ok, err := try(good)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		good--
	}
	lc.MaxSustained = good
	return nil
}

// liveLevel runs k live transcodes of src at once, each paced in real time through the worker's
// own transcode child (worker _child), and watches their playlists as a player would: a segment is done when every
// rung lists it. Segment i carries media [2i, 2i+2) s; it is due one segment after its last frame
// arrived, at (i+2)*2 s after the stream started.
func (b *bencher) liveLevel(ctx context.Context, src string, lc *reports.LiveCase, k int, window time.Duration) (reports.LiveLevel, error) {
	lvl := reports.LiveLevel{Streams: k, OnTime: 1}
	segments := int(window.Seconds() / segmentSecs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type stream struct {
		dir   string
		start time.Time
		done  []float64 // seconds after start each segment was listed by every rung; 0 = not yet
		cmd   *exec.Cmd
		err   error
	}
	streams := make([]*stream, k)
	var wg sync.WaitGroup
	for i := range streams {
		b.seq++
		s := &stream{dir: filepath.Join(b.dir, "live", fmt.Sprintf("%04d", b.seq)), done: make([]float64, segments)}
		spec, err := liveSpec(src, s.dir, lc, window)
		if err != nil {
			return lvl, err
		}
		// The worker's own transcode child (worker _child, a job spec on stdin): the path a
		// live job takes in production, limits and all.
		s.cmd = exec.CommandContext(ctx, b.worker, "_child")
		s.cmd.Stdin = bytes.NewReader(spec)
		s.start = time.Now()
		if err := s.cmd.Start(); err != nil {
			return lvl, fmt.Errorf("start live stream: %w", err)
		}
		streams[i] = s
		wg.Add(1)
		go func() { defer wg.Done(); s.err = s.cmd.Wait() }()
	}
	exited := make(chan struct{})
	go func() { wg.Wait(); close(exited) }()

	deadline := time.Now().Add(window + time.Duration((liveMaxLag+2)*segmentSecs*float64(time.Second)))
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	for finished := false; !finished; {
		select {
		case <-ctx.Done():
			return lvl, ctx.Err()
		case <-exited:
			finished = true
		case <-tick.C:
		}
		all := true
		for _, s := range streams {
			n := listedByAllRungs(s.dir)
			for i := 0; i < min(n, segments); i++ {
				if s.done[i] == 0 {
					s.done[i] = time.Since(s.start).Seconds()
				}
			}
			all = all && n >= segments
		}
		if all || time.Now().After(deadline) {
			break
		}
	}
	cancel() // the window is over: stop the feeds
	<-exited
	for si, s := range streams {
		onTime := 0
		end := time.Since(s.start).Seconds()
		for i, d := range s.done {
			due := float64(i+2) * segmentSecs
			if d == 0 {
				d = end // never finished while watched: at least this late
			}
			if d <= due {
				onTime++
			}
			lag := (d - float64(i+1)*segmentSecs) / segmentSecs
			lvl.MaxLagSegments = math.Max(lvl.MaxLagSegments, lag)
			lvl.Segments = append(lvl.Segments, reports.SegmentTiming{Stream: si, Index: i, Deadline: due, Done: d})
		}
		lvl.OnTime = math.Min(lvl.OnTime, float64(onTime)/float64(max(segments, 1)))
		_ = os.RemoveAll(s.dir)
	}
	lvl.MaxLagSegments = math.Max(lvl.MaxLagSegments, 0)
	lvl.Sustained = lvl.OnTime >= liveOnTime && lvl.MaxLagSegments <= liveMaxLag
	return lvl, nil
}

// liveSpec is the job spec `worker _child` reads: a live job on src paced in real time, with
// the defences a worker applies to a file input.
func liveSpec(src, dir string, lc *reports.LiveCase, window time.Duration) ([]byte, error) {
	codec, err := ladder.ParseCodec(lc.Codec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(worker.ChildSpec{
		ParentPID: os.Getpid(), JobID: filepath.Base(dir), Attempt: 1, LogLevel: "error",
		Input: src, OutputDir: dir, Codec: codec, Preset: lc.Preset, Mode: ladder.Live, Ladder: ladder.Default(),
		HLS: true, Realtime: true, Timeout: 2*window + time.Minute, ProgressInterval: time.Second,
		InputOptions: transcode.DefaultInputOptions(transcode.InputFile),
	})
}

// listedByAllRungs counts the segments every rung's playlist under dir lists.
func listedByAllRungs(dir string) int {
	playlists, _ := filepath.Glob(filepath.Join(dir, "*", "index.m3u8"))
	if len(playlists) == 0 {
		return 0
	}
	n := math.MaxInt
	for _, p := range playlists {
		data, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(data), "#EXTM3U") {
			return 0
		}
		mp, err := hls.ParseMediaPlaylist(data)
		if err != nil {
			return 0
		}
		n = min(n, len(mp.Segments))
	}
	return n
}
