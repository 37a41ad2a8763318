package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/grafov/m3u8"
)

// fixtures are source files the tests make once per run with Render, in-process.
type fixtures struct {
	once sync.Once
	dir  string
	err  error
}

var fx fixtures

// fixture returns the path of a generated source, rendering every fixture on first use.
func fixture(t *testing.T, name string) string {
	t.Helper()
	fx.once.Do(func() {
		fx.dir, fx.err = os.MkdirTemp("", "abrfleet-fixtures-")
		if fx.err != nil {
			return
		}
		ctx := context.Background()
		for _, f := range fixtureSpecs {
			if fx.err = Render(ctx, f.opts(fx.dir)); fx.err != nil {
				fx.err = fmt.Errorf("render %s: %w", f.name, fx.err)
				return
			}
		}
	})
	if fx.err != nil {
		t.Fatal(fx.err)
	}
	return filepath.Join(fx.dir, name)
}

type fixtureSpec struct {
	name string
	o    RenderOptions
}

func (f fixtureSpec) opts(dir string) RenderOptions {
	o := f.o
	o.Output = filepath.Join(dir, f.name)
	return o
}

// Four seconds at 30 fps unless said otherwise: two GOPs, enough for segments and keyframes.
var fixtureSpecs = []fixtureSpec{
	{"landscape.mp4", RenderOptions{Source: "synthetic:medium?size=640x360&fps=30&frames=120", Options: crf18}},
	{"portrait.mp4", RenderOptions{Source: "synthetic:medium?size=360x640&fps=30&frames=120", Options: crf18}},
	{"rotated.mp4", RenderOptions{Source: "synthetic:medium?size=640x360&fps=30&frames=120", Options: crf18, Rotation: 90}},
	{"odd-444.mkv", RenderOptions{Source: "synthetic:medium?size=853x479&fps=25&frames=100", Encoder: "ffv1", PixFmt: "yuv444p"}},
	{"hevc10.mp4", RenderOptions{Source: "synthetic:high?size=640x360&fps=30&frames=120", Encoder: "libx265", PixFmt: "yuv420p10le",
		Options: []ladder.Option{{Key: "preset", Value: "ultrafast"}, {Key: "x265-params", Value: "log-level=error"}}}},
	{"interlaced.ts", RenderOptions{Source: "synthetic:medium?size=720x576&fps=25&frames=100", Encoder: "mpeg2video", Interlaced: true,
		Options: []ladder.Option{{Key: "flags", Value: "+ilme+ildct"}, {Key: "b", Value: "5M"}, {Key: "g", Value: "12"}}}},
	{"vfr.mkv", RenderOptions{Source: "synthetic:medium?size=640x360&fps=30&frames=120", DropEvery: 3, Options: crf18}},
	{"silent.mp4", RenderOptions{Source: "synthetic:still?size=640x360&fps=30&frames=120&audio=0", Options: crf18}},
	{"moov-at-end.mp4", RenderOptions{Source: "synthetic:medium?size=640x360&fps=30&frames=60", Options: crf18}},
	{"cbr-source.mp4", RenderOptions{Source: "synthetic:high?size=1280x720&fps=30&frames=300", Options: crf18}},
}

var crf18 = []ladder.Option{{Key: "preset", Value: "ultrafast"}, {Key: "crf", Value: "18"}}

// twoRungs keeps the tests quick while still exercising more than one rung.
var twoRungs = ladder.Ladder{Name: "test", Rungs: []ladder.Rung{
	{Name: "360p", Width: 640, Height: 360, BitrateKbps: 800},
	{Name: "160p", Width: 284, Height: 160, BitrateKbps: 250},
}}

func run(t *testing.T, o Options) (*Result, string) {
	t.Helper()
	if o.OutputDir == "" {
		o.OutputDir = t.TempDir()
	}
	if len(o.Ladder.Rungs) == 0 {
		o.Ladder = twoRungs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run(%s): %v", o.Input, err)
	}
	return res, o.OutputDir
}

// checkRungs verifies what every rung of every job must satisfy.
func checkRungs(t *testing.T, res *Result, dir string, wantFrames int64, wantCodec string, wantAudio bool) {
	t.Helper()
	var keyframes [][]float64
	for _, r := range res.Rungs {
		rep, err := Inspect(context.Background(), filepath.Join(dir, r.MP4))
		if err != nil {
			t.Fatalf("rung %s: %v", r.Name, err)
		}
		v := rep.Video
		if v == nil || v.Codec != wantCodec || v.Width != r.Width || v.Height != r.Height {
			t.Fatalf("rung %s: video %+v, want %s %dx%d", r.Name, v, wantCodec, r.Width, r.Height)
		}
		if r.Width%2 != 0 || r.Height%2 != 0 {
			t.Errorf("rung %s: odd size %dx%d", r.Name, r.Width, r.Height)
		}
		if v.Packets != wantFrames || r.Frames != wantFrames {
			t.Errorf("rung %s: %d packets in the file, %d counted, want %d", r.Name, v.Packets, r.Frames, wantFrames)
		}
		if !v.DTSMonotonic {
			t.Errorf("rung %s: dts not monotonic", r.Name)
		}
		keyframes = append(keyframes, v.KeyframePTS)
		for i, k := range v.KeyframePTS {
			if want := float64(i) * 2; math.Abs(k-want) > 0.05 {
				t.Errorf("rung %s: keyframe %d at %.3f s, want %.3f s", r.Name, i, k, want)
			}
		}
		switch {
		case wantAudio && rep.Audio == nil:
			t.Errorf("rung %s: no audio", r.Name)
		case !wantAudio && rep.Audio != nil:
			t.Errorf("rung %s: audio from a silent source", r.Name)
		case wantAudio:
			// Both tracks start and end together, to within one AAC frame. The first AAC
			// packet sits at -1024/48000 s: encoder priming, which the edit list hides.
			a, frame := rep.Audio, 1024.0/48000
			if math.Abs(a.EndPTS-v.EndPTS) > frame || math.Abs(max(a.FirstPTS, 0)-v.FirstPTS) > frame {
				t.Errorf("rung %s: audio %.4f-%.4f s, video %.4f-%.4f s: apart by more than one AAC frame",
					r.Name, a.FirstPTS, a.EndPTS, v.FirstPTS, v.EndPTS)
			}
		}
	}
	for i := 1; i < len(keyframes); i++ {
		if !slices.Equal(keyframes[i], keyframes[0]) {
			t.Errorf("keyframes differ between rungs: %v vs %v", keyframes[0], keyframes[i])
		}
	}
}

func sourceFrames(t *testing.T, path string) int64 {
	t.Helper()
	rep, err := Inspect(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Video.Packets
}

func TestSources(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fixture   string
		frames    int64 // 0: the source's packet count
		sizes     []string
		interlace bool
		audio     bool
	}{
		{name: "landscape", fixture: "landscape.mp4", sizes: []string{"640x360", "284x160"}, audio: true},
		{name: "portrait", fixture: "portrait.mp4", sizes: []string{"360x640", "160x284"}, audio: true},
		{name: "rotated display matrix", fixture: "rotated.mp4", sizes: []string{"360x640", "160x284"}, audio: true},
		{name: "odd size 4:4:4", fixture: "odd-444.mkv", sizes: []string{"642x360", "286x160"}, audio: true},
		{name: "10-bit HEVC", fixture: "hevc10.mp4", sizes: []string{"640x360", "284x160"}, audio: true},
		{name: "interlaced MPEG-2", fixture: "interlaced.ts", sizes: []string{"450x360", "200x160"}, interlace: true, audio: true},
		// 120 frames at 30 fps with a third left out (never the first or last): CFR output
		// restores all 120 slots.
		{name: "variable frame rate", fixture: "vfr.mkv", frames: 120, sizes: []string{"640x360", "284x160"}, audio: true},
		{name: "no audio", fixture: "silent.mp4", sizes: []string{"640x360", "284x160"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fixture(t, tc.fixture)
			want := tc.frames
			if want == 0 {
				want = sourceFrames(t, src)
			}
			res, dir := run(t, Options{Input: src, MP4: true, HLS: true})
			var sizes []string
			for _, r := range res.Rungs {
				sizes = append(sizes, fmt.Sprintf("%dx%d", r.Width, r.Height))
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Fatalf("rungs %v, want %v", sizes, tc.sizes)
			}
			if res.Source.Interlaced != tc.interlace {
				t.Errorf("interlaced = %v, want %v", res.Source.Interlaced, tc.interlace)
			}
			checkRungs(t, res, dir, want, "h264", tc.audio)
			checkHLS(t, res, dir, 6)
		})
	}
}

// checkHLS parses master.m3u8 with an independent parser and every media playlist with ours.
func checkHLS(t *testing.T, res *Result, dir string, segment float64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "master.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	pl, kind, err := m3u8.DecodeFrom(bytes.NewReader(data), true)
	if err != nil || kind != m3u8.MASTER {
		t.Fatalf("master.m3u8 does not parse as a master playlist: %v\n%s", err, data)
	}
	master := pl.(*m3u8.MasterPlaylist)
	if len(master.Variants) != len(res.Rungs) {
		t.Fatalf("%d variants for %d rungs", len(master.Variants), len(res.Rungs))
	}
	for i, v := range master.Variants {
		r := res.Rungs[i]
		if v.Bandwidth == 0 || v.AverageBandwidth == 0 || v.AverageBandwidth > v.Bandwidth {
			t.Errorf("variant %s: BANDWIDTH %d AVERAGE-BANDWIDTH %d", v.URI, v.Bandwidth, v.AverageBandwidth)
		}
		if v.Resolution != fmt.Sprintf("%dx%d", r.Width, r.Height) || v.FrameRate <= 0 {
			t.Errorf("variant %s: RESOLUTION %q FRAME-RATE %v", v.URI, v.Resolution, v.FrameRate)
		}
		if !strings.HasPrefix(v.Codecs, r.CodecString) || r.CodecString == "" {
			t.Errorf("variant %s: CODECS %q, rung codec %q", v.URI, v.Codecs, r.CodecString)
		}
		if res.Audio != nil && !strings.Contains(v.Codecs, "mp4a.40.2") {
			t.Errorf("variant %s: CODECS %q lacks AAC-LC", v.URI, v.Codecs)
		}
		media, err := os.ReadFile(filepath.Join(dir, v.URI))
		if err != nil {
			t.Fatal(err)
		}
		mp, err := hls.ParseMediaPlaylist(media)
		if err != nil {
			t.Fatalf("%s: %v", v.URI, err)
		}
		if !mp.Ended || mp.InitURI == "" || len(mp.Segments) == 0 {
			t.Errorf("%s: ended=%v init=%q segments=%d", v.URI, mp.Ended, mp.InitURI, len(mp.Segments))
		}
		if float64(mp.TargetDuration) > math.Ceil(segment) {
			t.Errorf("%s: TARGETDURATION %d over %v s", v.URI, mp.TargetDuration, segment)
		}
		for _, s := range mp.Segments {
			if s.Duration > float64(mp.TargetDuration)+0.0005 {
				t.Errorf("%s: segment %s lasts %.3f s, over the target %d s", v.URI, s.URI, s.Duration, mp.TargetDuration)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.Dir(v.URI), s.URI)); err != nil {
				t.Errorf("%s: listed segment missing: %v", v.URI, err)
			}
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, filepath.Dir(v.URI), "*.tmp"))
		if len(tmps) > 0 {
			t.Errorf("%s: temporary files left: %v", v.URI, tmps)
		}
	}
}

func TestDefaultLadderAndCodecs(t *testing.T) {
	src := fixture(t, "cbr-source.mp4")
	want := sourceFrames(t, src)
	for _, tc := range []struct {
		codec ladder.Codec
		name  string
	}{
		{ladder.X264, "h264"},
		{ladder.X265, "hevc"},
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			res, dir := run(t, Options{Input: src, Codec: tc.codec, Ladder: ladder.Default(), MP4: true, HLS: true, Cascade: tc.codec == ladder.X265})
			var names []string
			for _, r := range res.Rungs {
				names = append(names, r.Name)
			}
			if !slices.Equal(names, []string{"720p", "480p", "360p", "160p"}) {
				t.Fatalf("a 720p source gave rungs %v: want no upscale to 1080p", names)
			}
			checkRungs(t, res, dir, want, tc.name, true)
			checkHLS(t, res, dir, 6)
			wantPrefix := map[string]string{"h264": "avc1.", "hevc": "hvc1."}[tc.name]
			for _, r := range res.Rungs {
				if !strings.HasPrefix(r.CodecString, wantPrefix) {
					t.Errorf("rung %s: codec string %q", r.Name, r.CodecString)
				}
			}
		})
	}
}

func TestLiveCBRHitsTarget(t *testing.T) {
	// 10 s of a hard source: CBR with HRD must land within 10% of each rung's target.
	src := fixture(t, "cbr-source.mp4")
	for _, codec := range []ladder.Codec{ladder.X264, ladder.X265} {
		t.Run(string(codec), func(t *testing.T) {
			res, _ := run(t, Options{Input: src, Codec: codec, Mode: ladder.Live, Ladder: twoRungs, HLS: true})
			for i, r := range res.Rungs {
				target := float64(twoRungs.Rungs[i].BitrateKbps)
				if codec.IsHEVC() {
					target = math.Round(target * 0.65)
				}
				if dev := r.BitrateKbps/target - 1; math.Abs(dev) > 0.10 {
					t.Errorf("rung %s: %.0f kb/s against a %.0f kb/s target (%+.1f%%)", r.Name, r.BitrateKbps, target, 100*dev)
				} else {
					t.Logf("rung %s: %.0f kb/s against %.0f kb/s (%+.1f%%)", r.Name, r.BitrateKbps, target, 100*dev)
				}
			}
			if res.Rungs[0].PeakBandwidth == 0 {
				t.Error("no measured BANDWIDTH")
			}
		})
	}
}

func TestLowerCRFGivesLargerFile(t *testing.T) {
	src := fixture(t, "landscape.mp4")
	sizes := map[string]int64{}
	for _, crf := range []string{"18", "23", "30"} {
		dir := t.TempDir()
		cfg, err := ladder.EncoderSettings(ladder.X264, "ultrafast", ladder.Batch, ladder.Target{Name: "x", Width: 640, Height: 360,
			FPS: ladder.Rational{Num: 30, Den: 1}, BitrateKbps: 100000, HEVCBitrateKbps: 100000, GOPFrames: 60})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range cfg.Options {
			if o.Key == "crf" {
				cfg.Options[i].Value = crf
			}
		}
		out := filepath.Join(dir, "x.mp4")
		if err := Render(context.Background(), RenderOptions{Source: src, Output: out, Options: cfg.Options, NoAudio: true}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		sizes[crf] = fi.Size()
	}
	if !(sizes["18"] > sizes["23"] && sizes["23"] > sizes["30"]) {
		t.Fatalf("sizes by CRF %v: want strictly larger for lower CRF", sizes)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	whole, err := os.ReadFile(fixture(t, "moov-at-end.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 256<<10)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	for _, tc := range []struct {
		name  string
		input string
		code  Code
	}{
		{"empty", write("empty.mp4", nil), ""},
		{"random bytes", write("random.bin", random), ""},
		{"truncated", write("truncated.mp4", whole[:len(whole)/2]), ""},
		{"text", write("notes.txt", []byte("this is not a video\n")), ""},
		{"missing", filepath.Join(dir, "nope.mp4"), CodeInputUnreadable},
		{"bad synthetic", "synthetic:wobbly", CodeInputInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{Input: tc.input, OutputDir: t.TempDir(), Ladder: twoRungs})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.code != "" {
				if CodeOf(err) != tc.code {
					t.Fatalf("code %s (%v), want %s", CodeOf(err), err, tc.code)
				}
				return
			}
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("%v (code %s): want a bad-input error", err, CodeOf(err))
			}
			t.Logf("%s", err)
		})
	}
}

func TestNVENCFallback(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this host has an NVIDIA GPU: NVENC opens, there is nothing to fall back from")
	}
	src := fixture(t, "landscape.mp4")
	_, err := Run(context.Background(), Options{Input: src, OutputDir: t.TempDir(), Codec: ladder.H264NVENC, Ladder: twoRungs})
	if !errors.Is(err, ErrNVENCUnavailable) {
		t.Fatalf("without fallback: %v, want NVENC unavailable", err)
	}
	res, dir := run(t, Options{Input: src, Codec: ladder.HEVCNVENC, FallbackToCPU: true, MP4: true})
	if res.Codec != ladder.X265 || res.FellBackFrom != ladder.HEVCNVENC {
		t.Fatalf("codec %s fell back from %q: want x265 from hevc_nvenc", res.Codec, res.FellBackFrom)
	}
	checkRungs(t, res, dir, sourceFrames(t, src), "hevc", true)
}

func TestCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Input: "synthetic:high?size=1280x720&fps=30&frames=100000", OutputDir: t.TempDir(),
			Ladder: twoRungs, ProgressInterval: 20 * time.Millisecond,
			Progress: func(p Progress) {
				if p.Frames > 0 {
					once.Do(func() { close(started) })
				}
			}})
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("no progress within a minute")
	}
	cancel()
	select {
	case err := <-errc:
		if CodeOf(err) != CodeCanceled {
			t.Fatalf("got %v (code %s), want canceled", err, CodeOf(err))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of cancel")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after cancel, %d before", n, before)
	}
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		fixture   string
		codec     string
		display   string
		rotation  int
		depth     int
		interlace bool
		audio     bool
	}{
		{"landscape.mp4", "h264", "640x360", 0, 8, false, true},
		{"rotated.mp4", "h264", "360x640", 90, 8, false, true},
		{"hevc10.mp4", "hevc", "640x360", 0, 10, false, true},
		{"interlaced.ts", "mpeg2video", "720x576", 0, 8, true, true},
		{"silent.mp4", "h264", "640x360", 0, 8, false, false},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			info, err := Probe(context.Background(), fixture(t, tc.fixture), InputOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s %dx%d rot=%d depth=%d interlaced=%v audio=%v", info.VideoCodec, info.DisplayWidth, info.DisplayHeight,
				info.Rotation, info.BitDepth, info.Interlaced, info.Audio != nil)
			want := fmt.Sprintf("%s %s rot=%d depth=%d interlaced=%v audio=%v", tc.codec, tc.display, tc.rotation, tc.depth, tc.interlace, tc.audio)
			if got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestNVDECRequiredButAbsent(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this host has an NVIDIA GPU")
	}
	src := fixture(t, "landscape.mp4")
	_, err := Run(context.Background(), Options{Input: src, OutputDir: t.TempDir(), Ladder: twoRungs,
		InputOptions: InputOptions{HWDecode: "cuda"}})
	if !errors.Is(err, ErrNVDECUnavailable) || CodeOf(err) != CodeNVDECUnavailable {
		t.Fatalf("hwdecode=cuda without a GPU: %v, want nvdec_unavailable", err)
	}
	// auto falls back to the CPU decoder.
	res, _ := run(t, Options{Input: src, InputOptions: InputOptions{HWDecode: "auto"}})
	if res.SourceFrames != 120 {
		t.Fatalf("hwdecode=auto: %d frames, want 120", res.SourceFrames)
	}
}

// TestCancelInterruptsBlockingIO: an input that blocks in FFmpeg's own I/O (a TCP listener no
// one connects to) returns promptly when the context is canceled.
func TestCancelInterruptsBlockingIO(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // find a free port for FFmpeg to listen on
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = Run(ctx, Options{Input: "tcp://" + addr + "?listen=1&listen_timeout=60000", OutputDir: t.TempDir(), Ladder: twoRungs})
	if CodeOf(err) != CodeTimeout {
		t.Fatalf("got %v (code %s), want timeout", err, CodeOf(err))
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("returned after %v: the deadline did not interrupt the blocking open", d)
	}
}

// TestResumeHLS: a live job re-run into the same folder (its worker died) continues each
// playlist after a discontinuity, keeping the segments already published.
func TestResumeHLS(t *testing.T) {
	dir := t.TempDir()
	src := "synthetic:medium?size=640x360&fps=30&frames=120"
	first, _ := run(t, Options{Input: src, OutputDir: dir, Mode: ladder.Live})
	before, err := os.ReadFile(filepath.Join(dir, first.Rungs[0].Playlist))
	if err != nil {
		t.Fatal(err)
	}
	mp0, err := hls.ParseMediaPlaylist(before)
	if err != nil {
		t.Fatal(err)
	}
	run(t, Options{Input: src, OutputDir: dir, Mode: ladder.Live, ResumeHLS: true})
	for _, r := range first.Rungs {
		data, err := os.ReadFile(filepath.Join(dir, r.Playlist))
		if err != nil {
			t.Fatal(err)
		}
		mp, err := hls.ParseMediaPlaylist(data)
		if err != nil {
			t.Fatal(err)
		}
		// FFmpeg's discont_start also puts one at the top of the playlist, which players ignore;
		// the one that matters stands right before the first resumed segment.
		if len(mp.Segments) != 2*len(mp0.Segments) {
			t.Fatalf("rung %s: %d segments, had %d: want twice as many\n%s", r.Name, len(mp.Segments), len(mp0.Segments), data)
		}
		firstNew := mp.Segments[len(mp0.Segments)].URI
		if mp.Discontinuities < 1 ||
			!regexp.MustCompile(`#EXT-X-DISCONTINUITY\n#EXTINF:[0-9.]+,\n`+regexp.QuoteMeta(firstNew)).Match(data) {
			t.Fatalf("rung %s: no discontinuity before %s\n%s", r.Name, firstNew, data)
		}
		seen := map[string]bool{}
		for _, s := range mp.Segments {
			if seen[s.URI] {
				t.Fatalf("rung %s: segment %s listed twice: the resumed stream overwrote the first", r.Name, s.URI)
			}
			seen[s.URI] = true
		}
	}
}
