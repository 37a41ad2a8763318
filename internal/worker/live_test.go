package worker_test

// Live streams end when their feed falls silent, and survive their worker:
// another one continues the same playlists after a discontinuity.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/transcode"
)

// feed renders, once, a 20 s 320x180 input: paced in real time by the live
// pipeline, it stands for a camera.
var feed = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "worker-feed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "feed.mp4")
	err = transcode.Render(context.Background(), transcode.RenderOptions{Source: "synthetic:medium?size=320x180&fps=30&frames=600",
		Output: name, Options: []ladder.Option{{Key: "preset", Value: "ultrafast"}, {Key: "crf", Value: "23"}}})
	if err != nil {
		return nil, err
	}
	return os.ReadFile(name)
})

// feedInput writes the feed under the allowed input root and returns its URL.
func (e *env) feedInput() string {
	e.t.Helper()
	data, err := feed()
	if err != nil {
		e.t.Fatalf("render feed: %v", err)
	}
	name := filepath.Join(e.roots, "feed.mp4")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return "file://" + name
}

func (e *env) submitLive(p *queue.Payload) {
	e.t.Helper()
	p.Version, p.Mode, p.Codec, p.Ladder = queue.Version, ladder.Live, "x264", &queue.LadderRef{Inline: twoRungs}
	if _, err := e.client.Submit(context.Background(), p, queue.Limits{AllowedInputRoots: []string{e.roots}}); err != nil {
		e.t.Fatalf("submit %s: %v", p.JobID, err)
	}
}

// TestLiveIdleTimeout feeds a live job over UDP, as an encoder would, then
// falls silent without any end-of-stream: the job must end on its own after
// IdleTimeout, successfully, with the frames it received.
func TestLiveIdleTimeout(t *testing.T) {
	const (
		idle   = 3 * time.Second
		frames = 150 // 5 s at 30 fps
	)
	e := newEnv(t)
	ts := filepath.Join(t.TempDir(), "feed.ts")
	if err := transcode.Render(context.Background(), transcode.RenderOptions{Source: fmt.Sprintf("synthetic:medium?size=320x180&fps=30&frames=%d", frames),
		Output: ts, Options: []ladder.Option{{Key: "preset", Value: "ultrafast"}, {Key: "crf", Value: "23"}}}); err != nil {
		t.Fatal(err)
	}
	stream, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	out := filepath.Join(t.TempDir(), "idle")
	w := e.startWorker()
	e.submitLive(&queue.Payload{JobID: "live-idle", Input: "udp://127.0.0.1:" + strconv.Itoa(port), Output: out,
		Timeout: queue.Duration{Duration: 2 * time.Minute}, IdleTimeout: queue.Duration{Duration: idle}})
	e.waitChild(w)
	waitFor(t, 30*time.Second, "the job listening on udp port "+strconv.Itoa(port), func() (bool, error) { return udpBound(port) })

	// Send the stream at its own pace (7 TS packets a datagram, as encoders
	// do), then nothing: the socket stays open and silent.
	conn, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const datagram = 7 * 188
	n := (len(stream) + datagram - 1) / datagram
	tick := time.NewTicker(time.Duration(frames) * time.Second / 30 / time.Duration(n))
	for off := 0; off < len(stream); off += datagram {
		<-tick.C
		if _, err := conn.Write(stream[off:min(off+datagram, len(stream))]); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	tick.Stop()
	silent := time.Now()

	s := e.waitDone("live-idle", idle+time.Minute)
	ended := time.Since(silent)
	t.Logf("live job ended %v after its feed fell silent (idle timeout %v)", ended.Round(time.Millisecond), idle)
	if s.Info.State != asynq.TaskStateCompleted || s.Result.Code != "" {
		t.Fatalf("state %s, result %+v, last error %q: want completed", s.Info.State, s.Result, s.Info.LastErr)
	}
	if ended < idle || ended > idle+15*time.Second {
		t.Errorf("ended %v after the feed fell silent, want between %v and %v", ended, idle, idle+15*time.Second)
	}
	for _, r := range s.Result.Rungs {
		if r.Frames < frames*9/10 || r.Frames > frames {
			t.Errorf("rung %s encoded %d frames of the %d sent", r.Name, r.Frames, frames)
		}
	}
	(&liveOutput{read: localReader(out)}).checkManifest(t, "udp://127.0.0.1:"+strconv.Itoa(port))
}

// TestLiveResumeAfterHandback stops worker A with SIGTERM while worker B
// waits: A hands the live job back at once, B takes it and continues the
// stream's playlists after a discontinuity.
func TestLiveResumeAfterHandback(t *testing.T) {
	for _, c := range []struct {
		name string
		s3   bool
	}{{"local", false}, {"s3", true}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.startWorker()
			out := e.liveOutput("live-handback", c.s3)
			input := e.feedInput()
			e.submitLive(&queue.Payload{JobID: "live-handback", Input: input, Output: out.location})
			watch := out.watch(t, "180p")
			e.waitChild(a)
			waitFor(t, time.Minute, "3 segments from worker A", func() (bool, error) { return len(watch.segments()) >= 3, nil })
			// B is idle and polling: the hand-back is all that stands between the two.
			b := e.startWorker()
			before := out.snapshot(t)
			handback := time.Now()
			if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "worker A exit", func() (bool, error) { return !a.alive(), nil })
			e.waitChild(b)
			picked := time.Since(handback)
			s := e.waitDone("live-handback", 2*time.Minute)
			if s.Info.State != asynq.TaskStateCompleted || s.Info.Retried != 0 {
				t.Fatalf("state %s after %d retries, last error %q: want completed, the hand-back not counted", s.Info.State, s.Info.Retried, s.Info.LastErr)
			}
			last, next := out.checkResumed(t, watch, before)
			out.checkManifest(t, input)
			if c.s3 {
				// Worker B adopts the segments already in the bucket: each
				// was uploaded once, by A.
				for name := range before {
					if strings.HasSuffix(name, ".m4s") {
						if n := e.s3.putCount(outBucket, "live-handback/"+name); n != 1 {
							t.Errorf("%s uploaded %d times, want once", name, n)
						}
					}
				}
			}
			t.Logf("%s output: gap %v between the last segment before the hand-back and the first after it; SIGTERM to worker B's child %v, to its first segment %v",
				c.name, next.Sub(last).Round(time.Millisecond), picked.Round(time.Millisecond), next.Sub(handback).Round(time.Millisecond))
		})
	}
}

// TestLiveResumeAfterWorkerKilled kills worker A mid-stream. Worker B,
// idle since before the kill, must continue the stream's playlists after a
// discontinuity within 90 s. asynq alone re-delivers a task 30 s after its
// lease expired, looking once a minute: 60 to 120 s. The live recoverer
// (recover.go) puts it back 15 s after the lease expired, checking every 5 s.
func TestLiveResumeAfterWorkerKilled(t *testing.T) {
	const bound = 90 * time.Second // the figure
	e := newEnv(t)
	a := e.startWorker()
	out := e.liveOutput("live-kill", false)
	input := e.feedInput()
	e.submitLive(&queue.Payload{JobID: "live-kill", Input: input, Output: out.location})
	watch := out.watch(t, "180p")
	child := e.waitChild(a)
	b := e.startWorker() // after A took the stream; asynq's recoverer in B starts its minute now
	waitFor(t, time.Minute, "3 segments from worker A", func() (bool, error) { return len(watch.segments()) >= 3, nil })
	before := out.snapshot(t)
	killed := time.Now()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	waitFor(t, 10*time.Second, "orphaned child killed", func() (bool, error) { return syscall.Kill(child, 0) != nil, nil })
	e.waitChildWithin(b, bound)
	picked := time.Since(killed)
	s := e.waitDone("live-kill", 3*time.Minute)
	if s.Info.State != asynq.TaskStateCompleted || s.Info.Retried != 0 || s.Result == nil || s.Result.Attempt != 2 {
		t.Fatalf("state %s after %d retries, result %+v, last error %q: want completed at attempt 2, put back by the live recoverer (not an asynq retry)",
			s.Info.State, s.Info.Retried, s.Result, s.Info.LastErr)
	}
	if m := e.metrics(b); !strings.Contains(m, `abrfleet_recovered_total{queue="live"} 1`) {
		t.Errorf("worker B's metrics do not count the recovery:\n%s", grepLines(m, "abrfleet_recovered"))
	}
	last, next := out.checkResumed(t, watch, before)
	out.checkManifest(t, input)
	t.Logf("gap %v between the last segment before the kill and the first after it; kill -9 to worker B's child %v, to its first segment %v",
		next.Sub(last).Round(time.Millisecond), picked.Round(time.Millisecond), next.Sub(killed).Round(time.Millisecond))
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// liveOutput is a live job's output, local or in the fake S3, as a player
// and the test see it.
type liveOutput struct {
	e        *env
	location string                          // the payload's Output
	read     func(rel string) ([]byte, bool) // a file under it
}

func (e *env) liveOutput(id string, s3 bool) *liveOutput {
	if s3 {
		return &liveOutput{e: e, location: "s3://" + outBucket + "/" + id,
			read: func(rel string) ([]byte, bool) { return e.s3.get(outBucket, id+"/"+rel) }}
	}
	dir := filepath.Join(e.t.TempDir(), id)
	return &liveOutput{e: e, location: dir, read: localReader(dir)}
}

func localReader(dir string) func(string) ([]byte, bool) {
	return func(rel string) ([]byte, bool) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		return data, err == nil
	}
}

// checkManifest checks that manifest.json records the input as submitted,
// not the stand-in the transcode child opened.
func (o *liveOutput) checkManifest(t *testing.T, input string) {
	t.Helper()
	data, ok := o.read("manifest.json")
	if !ok {
		t.Fatal("no manifest.json")
	}
	var man transcode.Result
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if man.Input != input {
		t.Errorf("manifest.json records the input %q, want %q", man.Input, input)
	}
}

// snapshot reads every rung's playlist and the segments it lists.
func (o *liveOutput) snapshot(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, r := range twoRungs.Rungs {
		rel := r.Name + "/index.m3u8"
		data, ok := o.read(rel)
		if !ok {
			t.Fatalf("no %s", rel)
		}
		pl, err := hls.ParseMediaPlaylist(data)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, s := range append([]hls.Segment{{URI: pl.InitURI}}, pl.Segments...) {
			if files[r.Name+"/"+s.URI], ok = o.read(r.Name + "/" + s.URI); !ok {
				t.Fatalf("%s lists %s, which is missing", rel, s.URI)
			}
		}
	}
	return files
}

// checkResumed checks the finished stream: each rung's playlist lists the
// segments of the first attempt, unchanged, then a discontinuity, then the
// resumed ones, numbered on, none listed twice. It returns when the
// watched rung's player saw the last segment before the discontinuity and
// the first after it.
func (o *liveOutput) checkResumed(t *testing.T, watch *playlistWatch, before map[string][]byte) (last, next time.Time) {
	t.Helper()
	for _, r := range twoRungs.Rungs {
		rel := r.Name + "/index.m3u8"
		data, ok := o.read(rel)
		if !ok {
			t.Fatalf("no %s", rel)
		}
		first, resumed := splitAtDiscontinuity(t, data)
		if len(first) == 0 || len(resumed) == 0 {
			t.Fatalf("%s: %d segments before the discontinuity and %d after, want some of each:\n%s", rel, len(first), len(resumed), data)
		}
		prev := -1
		for _, uri := range append(first, resumed...) {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(uri, "seg_"), ".m4s"))
			if err != nil || n <= prev {
				t.Fatalf("%s: segment %s after number %d: want seg_NNNNN.m4s numbered on:\n%s", rel, uri, prev, data)
			}
			prev = n
		}
		if pl, _ := hls.ParseMediaPlaylist(data); !pl.Ended {
			t.Errorf("%s: no EXT-X-ENDLIST after the stream ended", rel)
		}
		for _, uri := range first {
			was, ok := before[r.Name+"/"+uri]
			if !ok {
				continue // listed by the first attempt after the snapshot
			}
			if now, _ := o.read(r.Name + "/" + uri); !bytes.Equal(now, was) {
				t.Errorf("%s: segment %s of the first attempt was rewritten", rel, uri)
			}
		}
		for name := range before {
			if strings.HasPrefix(name, r.Name+"/") && !strings.HasSuffix(name, "init.mp4") && !slices.Contains(first, strings.TrimPrefix(name, r.Name+"/")) {
				t.Errorf("%s: %s, listed before the resume, is no longer listed before the discontinuity", rel, name)
			}
		}
		init, _ := o.read(r.Name + "/init.mp4")
		t.Logf("%s: %d segments, then a discontinuity, then %d; init.mp4 rewritten identical: %v",
			rel, len(first), len(resumed), bytes.Equal(init, before[r.Name+"/init.mp4"]))
		if r.Name == watch.rung {
			last, next = watch.seen(first[len(first)-1]), watch.seen(resumed[0])
			if ended := watch.ended(); !ended.IsZero() && ended.Before(watch.seen(resumed[0])) {
				t.Errorf("%s: a player saw EXT-X-ENDLIST %v before the stream resumed, and stopped", rel, watch.seen(resumed[0]).Sub(ended).Round(time.Millisecond))
			}
		}
	}
	if next.IsZero() {
		t.Fatalf("rung %s not in the ladder", watch.rung)
	}
	return last, next
}

// splitAtDiscontinuity returns the segment URIs listed before the
// discontinuity that stands between two segments, and those after it. One
// at the top of the playlist, as FFmpeg also writes, separates nothing.
func splitAtDiscontinuity(t *testing.T, data []byte) (first, resumed []string) {
	t.Helper()
	split := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "#EXT-X-DISCONTINUITY" && len(first) > 0:
			if split {
				t.Fatalf("more than one discontinuity between segments:\n%s", data)
			}
			split = true
		case line == "" || strings.HasPrefix(line, "#"):
		case split:
			resumed = append(resumed, line)
		default:
			first = append(first, line)
		}
	}
	return first, resumed
}

// playlistWatch polls one rung's playlist, as a player does (faster), and
// notes when each segment first appears.
type playlistWatch struct {
	rung    string
	mu      sync.Mutex
	first   map[string]time.Time
	order   []string
	endlist time.Time // when EXT-X-ENDLIST was first seen
}

func (o *liveOutput) watch(t *testing.T, rung string) *playlistWatch {
	w := &playlistWatch{rung: rung, first: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if data, ok := o.read(rung + "/index.m3u8"); ok {
				if pl, err := hls.ParseMediaPlaylist(data); err == nil {
					now := time.Now()
					w.mu.Lock()
					for _, s := range pl.Segments {
						if _, ok := w.first[s.URI]; !ok {
							w.first[s.URI] = now
							w.order = append(w.order, s.URI)
						}
					}
					if pl.Ended && w.endlist.IsZero() {
						w.endlist = now
					}
					w.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *playlistWatch) segments() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.order...)
}

func (w *playlistWatch) ended() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.endlist
}

func (w *playlistWatch) seen(uri string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[uri]
}

func freeUDPPort(t testing.TB) int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// udpBound reports whether some socket is bound to the IPv4 UDP port.
func udpBound(port int) (bool, error) {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false, err
	}
	suffix := fmt.Sprintf(":%04X", port)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasSuffix(f[1], suffix) {
			return true, nil
		}
	}
	return false, nil
}
