package transcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/asticode/go-astiav"
	"golang.org/x/sync/errgroup"
)

// Options describe one job. The zero value of every field but Input and OutputDir is a usable
// default.
type Options struct {
	Input     string // a path, a URL FFmpeg can read, or a synthetic: source (see Synthetic)
	OutputDir string // created if missing; rungs go to OutputDir/<rung>/

	Codec         ladder.Codec  // default x264
	Preset        string        // default: the codec's fast preset (ultrafast, p1)
	Mode          ladder.Mode   // default batch
	Ladder        ladder.Ladder // default ladder.Default()
	FallbackToCPU bool          // when NVENC cannot open, encode with x264/x265 instead of failing

	HLS bool // write HLS (fMP4 segments); when neither HLS nor MP4 is set, HLS is written
	MP4 bool // also write one faststart MP4 per rung, OutputDir/<rung>.mp4

	// SegmentSeconds is the HLS segment target. Default 6 for batch, 2 for live.
	SegmentSeconds float64
	// Cascade scales each rung from the rung above it instead of from the source: less work
	// per frame, slightly softer low rungs.
	Cascade bool
	// Realtime paces the input at its frame rate, as a live feed arrives. Default false for
	// batch; live jobs on synthetic or file inputs set it to simulate a feed.
	Realtime bool
	// QueueDepth bounds the frames waiting in front of each stage. Default 4.
	QueueDepth int
	// EncoderThreads sets each CPU rung encoder's threads. Default 0: a budget per rung, in
	// proportion to its share of the ladder's pixels (1.5 threads per core in all, at least one
	// per rung): the rungs already run in parallel, so small rungs gain nothing from threads of
	// their own and lose time and memory to them. -1: every encoder's own default, as the
	// ffmpeg CLI runs them.
	EncoderThreads int

	InputOptions InputOptions // limits and decoding for the input
	// InputName is what manifest.json records as the input. Default: Input. Set it when Input
	// is a local stand-in (a fetched copy, /dev/fd/N) for what the user submitted.
	InputName string
	// ResumeHLS continues the HLS playlists already in OutputDir instead of starting them
	// afresh: new segments are appended after an EXT-X-DISCONTINUITY. A live job re-delivered
	// after its worker died resumes its stream this way.
	ResumeHLS bool

	// Progress, when set, is called about every ProgressInterval (default 1 s) and once at the
	// end, from a goroutine of its own.
	Progress         func(Progress)
	ProgressInterval time.Duration
	Logger           *slog.Logger // default: slog.Default()
}

// Progress is a snapshot of a running job.
type Progress struct {
	Frames      int64            `json:"frames"`       // source frames through every rung
	TotalFrames int64            `json:"total_frames"` // estimate; 0 when unknown (live)
	FPS         float64          `json:"fps"`          // source frames per second so far
	ETA         time.Duration    `json:"eta_ns"`       // 0 when unknown
	Elapsed     time.Duration    `json:"elapsed_ns"`
	RungBytes   map[string]int64 `json:"rung_bytes"` // encoded video bytes so far, by rung name
}

// Result describes a finished job. It is also what manifest.json holds.
type Result struct {
	Version      int          `json:"version"`
	Input        string       `json:"input"`
	Source       SourceInfo   `json:"source"`
	Codec        ladder.Codec `json:"codec"`
	Preset       string       `json:"preset"`
	Mode         ladder.Mode  `json:"mode"`
	FellBackFrom ladder.Codec `json:"fell_back_from,omitempty"` // set when NVENC fell back to the CPU
	Rungs        []RungResult `json:"rungs"`
	Audio        *AudioResult `json:"audio,omitempty"`
	SourceFrames int64        `json:"source_frames"` // frames after CFR conversion
	WallSeconds  float64      `json:"wall_seconds"`
	FPS          float64      `json:"fps"` // source frames per wall second, through the whole ladder
	Master       string       `json:"master,omitempty"`
	FFmpeg       string       `json:"ffmpeg"`
}

// RungResult is one rendition's figures.
type RungResult struct {
	Name             string  `json:"name"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	FPS              string  `json:"fps"`
	Frames           int64   `json:"frames"`
	VideoBytes       int64   `json:"video_bytes"`  // encoded video payload
	Bytes            int64   `json:"bytes"`        // files on disk for this rung (HLS dir and MP4)
	BitrateKbps      float64 `json:"bitrate_kbps"` // video payload over the duration
	PeakBandwidth    int64   `json:"peak_bandwidth,omitempty"`
	AverageBandwidth int64   `json:"average_bandwidth,omitempty"`
	CodecString      string  `json:"codec_string"`
	EncodeFPS        float64 `json:"encode_fps"` // frames per second of this rung's encoder busy time
	Playlist         string  `json:"playlist,omitempty"`
	MP4              string  `json:"mp4,omitempty"`
}

// AudioResult describes the shared audio track.
type AudioResult struct {
	CodecString string  `json:"codec_string"`
	Samples     int64   `json:"samples"`
	Seconds     float64 `json:"seconds"`
	Bytes       int64   `json:"bytes"`
}

// ResultVersion is the version of the Result / manifest.json schema.
const ResultVersion = 1

func (o *Options) setDefaults() error {
	if o.Input == "" {
		return newError(CodeInternal, "options", errors.New("no input"))
	}
	if o.OutputDir == "" {
		return newError(CodeInternal, "options", errors.New("no output directory"))
	}
	if o.Codec == "" {
		o.Codec = ladder.X264
	}
	if _, err := ladder.ParseCodec(string(o.Codec)); err != nil {
		return newError(CodeInternal, "options", err)
	}
	if o.Mode == "" {
		o.Mode = ladder.Batch
	}
	if _, err := ladder.ParseMode(string(o.Mode)); err != nil {
		return newError(CodeInternal, "options", err)
	}
	if o.Preset == "" {
		o.Preset = o.Codec.DefaultPreset()
	}
	if err := ladder.ValidatePreset(o.Codec, o.Preset); err != nil {
		return newError(CodeInternal, "options", err)
	}
	if len(o.Ladder.Rungs) == 0 {
		o.Ladder = ladder.Default()
	}
	if err := o.Ladder.Validate(); err != nil {
		return newError(CodeInternal, "options", err)
	}
	if !o.HLS && !o.MP4 {
		o.HLS = true
	}
	if o.SegmentSeconds <= 0 {
		o.SegmentSeconds = 6
		if o.Mode == ladder.Live {
			o.SegmentSeconds = 2
		}
	}
	if o.QueueDepth <= 0 {
		o.QueueDepth = 4
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// rung is one rendition's stages: a scaler goroutine feeding an encoder+muxer goroutine.
type rung struct {
	target      ladder.Target
	cfg         ladder.EncoderConfig
	scaleIn     *queue // frames for the scaler: from the source, or from the rung above (cascade)
	encIn       *queue // scaled frames and audio packets for the encoder
	scaler      *scaler
	enc         *encoder
	codecString string // RFC 6381, from the opened encoder's parameter sets
	muxers      []*muxer
	next        *rung // cascade: the rung scaled from this one's output

	frames     atomic.Int64
	videoBytes atomic.Int64
	busy       time.Duration
}

func (r *rung) Close() {
	for _, m := range r.muxers {
		m.Close()
	}
	r.enc.Close()
	r.scaler.Close()
	r.encIn.Close()
	r.scaleIn.Close()
}

// job is one Run's state. Its fields are owned by Run's goroutine except where noted.
type job struct {
	o          Options
	in         *demuxer
	src        SourceInfo
	rungs      []*rung
	audio      *audioPath
	audioCodec string     // RFC 6381 string of the AAC track; "" without audio
	pre        *prefilter // nil when the source needs no deinterlacing or rotation
	cfr        *cfr
	origin     int64 // the video stream's start, in its time base: time zero of every output

	fps       ladder.Rational
	decoded   atomic.Int64
	start     time.Time
	wallStart time.Time // realtime pacing origin
}

// Run transcodes o.Input into the ladder and returns the figures. Errors are *Error values:
// errors.Is(err, ErrBadInput) means retrying the same input cannot succeed.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	j := &job{o: o, start: time.Now()}
	defer j.Close()
	res, err := j.run(ctx)
	if err != nil && ctx.Err() != nil {
		return nil, ctxError(ctx, "transcode")
	}
	return res, err
}

func (j *job) Close() {
	for _, r := range j.rungs {
		r.Close()
	}
	j.cfr.Close()
	j.pre.Close()
	j.audio.Close()
	j.in.Close()
}

func (j *job) run(ctx context.Context) (*Result, error) {
	o := &j.o
	var err error
	if j.in, err = openInput(ctx, o.Input, o.InputOptions); err != nil {
		return nil, err
	}
	j.src = describeSource(j.in)
	targets, err := targetsFor(o.Ladder, j.src)
	if err != nil {
		return nil, newError(CodeInputInvalid, "fit ladder", err)
	}
	j.fps = targets[0].FPS
	// Time zero is the first video frame: audio before it is dropped, so every rung starts
	// with both tracks at 0.
	if st := j.in.video.st.StartTime(); st != noPTS {
		j.origin = st
	} else if st := j.in.fc.StartTime(); st != noPTS {
		j.origin = astiav.RescaleQ(st, astiav.NewRational(1, astiav.TimeBase), j.in.video.st.TimeBase())
	}

	name := o.InputName
	if name == "" {
		name = o.Input
	}
	res := &Result{Version: ResultVersion, Input: name, Source: j.src, Codec: o.Codec, Preset: o.Preset,
		Mode: o.Mode, FFmpeg: FFmpegVersion()}
	if err := ensureDir(o.OutputDir); err != nil {
		return nil, err
	}
	if j.in.audio != nil {
		if j.audio, err = newAudioPath(j.in.audio.st.TimeBase(), astiav.RescaleQ(j.origin, j.in.video.st.TimeBase(), j.in.audio.st.TimeBase())); err != nil {
			return nil, err
		}
		if j.audioCodec, err = audioCodecString(j.audio.enc); err != nil {
			return nil, newError(CodeInternal, "audio codec string", err)
		}
	}
	if err := j.openRungs(targets, res); err != nil {
		return nil, err
	}
	if o.Mode == ladder.Live {
		// Players need the master before the job ends; rewritten with measured figures at the end.
		if err := j.writeMaster(res, false); err != nil {
			return nil, err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, r := range j.rungs {
		g.Go(func() error { return j.runScaler(gctx, r) })
		g.Go(func() error { return j.runEncoder(gctx, r) })
	}
	stopProgress := j.startProgress(ctx)
	g.Go(func() error { return j.runSource(gctx) })
	err = g.Wait()
	stopProgress()
	if err != nil {
		return nil, err
	}
	return j.finish(res)
}

// openRungs opens every rung's encoder and muxers. When NVENC cannot open and the job allows
// it, every rung falls back to the CPU encoder of the same format.
func (j *job) openRungs(targets []ladder.Target, res *Result) error {
	o := &j.o
	for attempt := 0; ; attempt++ {
		err := j.openEncoders(targets)
		if err == nil {
			break
		}
		for _, r := range j.rungs {
			r.Close()
		}
		j.rungs = nil
		if !errors.Is(err, ErrNVENCUnavailable) || !o.FallbackToCPU || attempt > 0 {
			return err
		}
		o.Logger.Warn("NVENC unavailable, falling back to the CPU", "codec", o.Codec, "fallback", o.Codec.CPUFallback(), "err", err)
		res.FellBackFrom = o.Codec
		o.Codec, o.Preset = o.Codec.CPUFallback(), o.Codec.CPUFallback().DefaultPreset()
		res.Codec, res.Preset = o.Codec, o.Preset
	}
	var audioEnc *encoder
	if j.audio != nil {
		audioEnc = j.audio.enc
	}
	for _, r := range j.rungs {
		if o.HLS {
			dir := rungDir(o.OutputDir, r.target.Name)
			if err := ensureDir(dir); err != nil {
				return err
			}
			m, err := openMuxer(muxConfig{kind: "hls", path: filepath.Join(dir, "index.m3u8"),
				options: hlsOptions(o.SegmentSeconds, o.Mode == ladder.Live, o.ResumeHLS, dir), video: r.enc, audio: audioEnc})
			if err != nil {
				return fmt.Errorf("rung %s: %w", r.target.Name, err)
			}
			r.muxers = append(r.muxers, m)
		}
		if o.MP4 {
			m, err := openMuxer(muxConfig{kind: "mp4", path: filepath.Join(o.OutputDir, r.target.Name+".mp4"),
				options: []string{"movflags", "+faststart"}, video: r.enc, audio: audioEnc})
			if err != nil {
				return fmt.Errorf("rung %s: %w", r.target.Name, err)
			}
			r.muxers = append(r.muxers, m)
		}
	}
	return nil
}

func (j *job) openEncoders(targets []ladder.Target) error {
	o := &j.o
	threads := encoderThreads(targets, o.EncoderThreads, runtime.NumCPU())
	for i, t := range targets {
		cfg, err := ladder.EncoderSettings(o.Codec, o.Preset, o.Mode, t)
		if err != nil {
			return newError(CodeInternal, "rung "+t.Name, err)
		}
		r := &rung{target: t, cfg: cfg, scaler: newScaler(t.Width, t.Height)}
		j.rungs = append(j.rungs, r)
		if r.scaleIn, err = newQueue(o.QueueDepth); err != nil {
			return err
		}
		if r.encIn, err = newQueue(o.QueueDepth); err != nil {
			return err
		}
		if j.audio != nil {
			r.encIn.addProducer() // the source sends audio packets straight to the encoder stage
		}
		if o.Cascade && i > 0 {
			j.rungs[i-1].next = r
		}
		r.enc, err = openVideoEncoder(cfg, videoParams{Width: t.Width, Height: t.Height, FPS: t.FPS,
			PixFmt: encoderPixFmt, Threads: threads[i]})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Op = "rung " + t.Name + ": " + e.Op
			}
			return err
		}
		if r.codecString, err = videoCodecString(r.enc); err != nil {
			return newError(CodeInternal, "rung "+t.Name+": codec string", err)
		}
	}
	return nil
}

// encoderThreads gives each rung its encoder thread count (0: the encoder's default).
func encoderThreads(targets []ladder.Target, option, cores int) []int {
	out := make([]int, len(targets))
	switch {
	case option > 0:
		for i := range out {
			out[i] = option
		}
	case option == 0:
		var total float64
		for _, t := range targets {
			total += float64(t.Width * t.Height)
		}
		for i, t := range targets {
			out[i] = max(1, int(math.Round(1.5*float64(cores)*float64(t.Width*t.Height)/total)))
		}
	}
	return out
}

// runSource demuxes and decodes, runs the prefilter and hands every frame to the rungs, and
// encodes the audio once, sending its packets to every rung's encoder.
func (j *job) runSource(ctx context.Context) error {
	defer func() {
		for _, r := range j.rungs {
			if !j.o.Cascade || r == j.rungs[0] {
				r.scaleIn.done()
			}
			if j.audio != nil {
				r.encIn.done()
			}
		}
	}()
	sendAudio := func(pkt *astiav.Packet) error {
		for _, r := range j.rungs {
			if err := r.encIn.putAudio(ctx, pkt); err != nil {
				return err
			}
		}
		return nil
	}
	distribute := func(f *astiav.Frame, slot int64) error {
		j.decoded.Add(1)
		if j.audio != nil {
			j.audio.advance(float64(slot+1) * float64(j.fps.Den) / float64(j.fps.Num))
		}
		for _, r := range j.rungs {
			if j.o.Cascade && r != j.rungs[0] {
				break
			}
			if err := r.scaleIn.putFrame(ctx, f, slot); err != nil {
				return err
			}
		}
		return nil
	}
	toCFR := func(f *astiav.Frame) error { return j.cfr.push(f, distribute) }
	onVideo := func(f *astiav.Frame) error {
		if j.o.Realtime {
			if err := j.pace(ctx, f.Pts()); err != nil {
				return err
			}
		}
		f.SetPts(f.Pts() - j.origin)
		if j.cfr == nil {
			if err := j.startVideo(f); err != nil {
				return err
			}
		}
		if j.pre != nil {
			return j.pre.push(f, toCFR)
		}
		return toCFR(f)
	}
	var onAudio func(*astiav.Frame) error
	if j.audio != nil {
		onAudio = func(f *astiav.Frame) error { return j.audio.push(f, sendAudio) }
	}
	if err := j.in.run(ctx, onVideo, onAudio); err != nil {
		return err
	}
	if j.pre != nil {
		if err := j.pre.push(nil, toCFR); err != nil {
			return err
		}
	}
	if j.cfr != nil {
		if err := j.cfr.flush(distribute); err != nil {
			return err
		}
	}
	if j.audio != nil {
		return j.audio.push(nil, sendAudio)
	}
	return nil
}

// startVideo sets up what the first decoded frame decides: the prefilter (only interlaced or
// rotated sources need one) and the constant-frame-rate stage.
func (j *job) startVideo(first *astiav.Frame) error {
	tb := j.in.video.st.TimeBase()
	j.src.Interlaced = first.Flags().Has(astiav.FrameFlagInterlaced)
	if chain := prefilterChain(j.src.Interlaced, j.src.Rotation); chain != "" {
		var err error
		if j.pre, err = newPrefilter(first, tb, chain); err != nil {
			return err
		}
		tb = j.pre.timeBase()
	}
	// One frame at the source's nominal rate, in tb: the duration a frame without one gets.
	var nominal int64 = 1
	if j.src.FPSNum > 0 && tb.Num() > 0 {
		nominal = int64(math.Round(float64(j.src.FPSDen) * float64(tb.Den()) / (float64(j.src.FPSNum) * float64(tb.Num()))))
	}
	var err error
	j.cfr, err = newCFR(tb, j.fps, nominal)
	return err
}

// pace sleeps until the wall clock reaches the frame's time, as a live feed would deliver it.
func (j *job) pace(ctx context.Context, pts int64) error {
	t := time.Duration(float64(pts-j.origin) * j.in.video.st.TimeBase().Float64() * float64(time.Second))
	if j.wallStart.IsZero() {
		j.wallStart = time.Now().Add(-t)
	}
	if d := time.Until(j.wallStart.Add(t)); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctxError(ctx, "pace input")
		}
	}
	return nil
}

// runScaler turns the rung's input frames into encoder frames, and in cascade mode also feeds
// the next rung.
func (j *job) runScaler(ctx context.Context, r *rung) error {
	defer func() {
		r.encIn.done()
		if r.next != nil {
			r.next.scaleIn.done()
		}
	}()
	scratch := astiav.AllocFrame()
	if scratch == nil {
		return newError(CodeInternal, "allocate frame", nil)
	}
	defer scratch.Free()
	for it := range r.scaleIn.ch {
		err := r.scaler.scale(it.frame, scratch)
		r.scaleIn.release(it)
		if err == nil {
			err = r.encIn.putFrame(ctx, scratch, scratch.Pts())
		}
		if err == nil && r.next != nil {
			err = r.next.scaleIn.putFrame(ctx, scratch, scratch.Pts())
		}
		scratch.Unref()
		if err != nil {
			return fmt.Errorf("rung %s: %w", r.target.Name, err)
		}
	}
	return ctxErrOrNil(ctx, "rung "+r.target.Name)
}

// runEncoder encodes the rung's frames and muxes them with the audio packets, then flushes the
// encoder and finishes every output.
func (j *job) runEncoder(ctx context.Context, r *rung) error {
	writeVideo := func(pkt *astiav.Packet) error {
		if pkt.Duration() <= 0 {
			pkt.SetDuration(1) // CFR in a 1/fps time base: the muxers time segments with it
		}
		r.videoBytes.Add(int64(pkt.Size()))
		for _, m := range r.muxers {
			if err := m.write(pkt, false); err != nil {
				return err
			}
		}
		return nil
	}
	for it := range r.encIn.ch {
		var err error
		if it.frame != nil {
			t0 := time.Now()
			it.frame.SetPictureType(astiav.PictureTypeNone)
			err = r.enc.encode(it.frame, writeVideo)
			r.busy += time.Since(t0)
			r.frames.Add(1)
		} else {
			for _, m := range r.muxers {
				if err = m.write(it.audio, true); err != nil {
					break
				}
			}
		}
		r.encIn.release(it)
		if err != nil {
			return fmt.Errorf("rung %s: %w", r.target.Name, err)
		}
	}
	if err := ctxErrOrNil(ctx, "rung "+r.target.Name); err != nil {
		return err
	}
	t0 := time.Now()
	if err := r.enc.encode(nil, writeVideo); err != nil {
		return fmt.Errorf("rung %s: %w", r.target.Name, err)
	}
	r.busy += time.Since(t0)
	for _, m := range r.muxers {
		if err := m.finish(); err != nil {
			return fmt.Errorf("rung %s: %w", r.target.Name, err)
		}
	}
	return nil
}

func ctxErrOrNil(ctx context.Context, op string) error {
	if ctx.Err() != nil {
		return ctxError(ctx, op)
	}
	return nil
}

// startProgress reports progress until the returned function is called, which also sends the
// final report.
func (j *job) startProgress(ctx context.Context) (stop func()) {
	if j.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(j.o.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				j.o.Progress(j.progress())
			case <-ctx.Done():
				return
			case <-done:
				j.o.Progress(j.progress())
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (j *job) progress() Progress {
	p := Progress{Elapsed: time.Since(j.start), TotalFrames: j.src.EstimatedFrames, Frames: math.MaxInt64,
		RungBytes: make(map[string]int64, len(j.rungs))}
	for _, r := range j.rungs {
		p.Frames = min(p.Frames, r.frames.Load())
		p.RungBytes[r.target.Name] = r.videoBytes.Load()
	}
	if len(j.rungs) == 0 {
		p.Frames = 0
	}
	if s := p.Elapsed.Seconds(); s > 0 {
		p.FPS = float64(p.Frames) / s
	}
	if p.FPS > 0 && p.TotalFrames > p.Frames {
		p.ETA = time.Duration(float64(p.TotalFrames-p.Frames) / p.FPS * float64(time.Second))
	}
	return p
}

// finish measures the outputs and writes master.m3u8 and manifest.json.
func (j *job) finish(res *Result) (*Result, error) {
	o := &j.o
	res.Source = j.src // now with what decoding learned (interlacing)
	res.WallSeconds = time.Since(j.start).Seconds()
	res.SourceFrames = j.decoded.Load()
	res.FPS = float64(res.SourceFrames) / res.WallSeconds
	duration := float64(res.SourceFrames) * float64(j.fps.Den) / float64(j.fps.Num)
	for _, r := range j.rungs {
		rr := RungResult{Name: r.target.Name, Width: r.target.Width, Height: r.target.Height,
			FPS:    fmt.Sprintf("%d/%d", r.target.FPS.Num, r.target.FPS.Den),
			Frames: r.frames.Load(), VideoBytes: r.videoBytes.Load()}
		if duration > 0 {
			rr.BitrateKbps = float64(rr.VideoBytes) * 8 / duration / 1000
		}
		if r.busy > 0 {
			rr.EncodeFPS = float64(rr.Frames) / r.busy.Seconds()
		}
		rr.CodecString = r.codecString
		if o.HLS {
			rr.Playlist = filepath.ToSlash(filepath.Join(r.target.Name, "index.m3u8"))
			rr.Bytes += dirSize(rungDir(o.OutputDir, r.target.Name))
		}
		if o.MP4 {
			rr.MP4 = r.target.Name + ".mp4"
			if fi, err := os.Stat(filepath.Join(o.OutputDir, rr.MP4)); err == nil {
				rr.Bytes += fi.Size()
			}
		}
		res.Rungs = append(res.Rungs, rr)
	}
	if j.audio != nil {
		res.Audio = &AudioResult{CodecString: j.audioCodec, Samples: j.audio.samples, Seconds: float64(j.audio.samples) / audioSampleRate}
	}
	if o.HLS {
		if err := j.writeMaster(res, true); err != nil {
			return nil, err
		}
	}
	if err := writeManifest(o.OutputDir, res); err != nil {
		return nil, err
	}
	return res, nil
}

func dirSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}
