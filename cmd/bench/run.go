package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/reports"
	"github.com/abrfleet/abrfleet/transcode"
)

// profile is a named set of defaults for `bench run`.
type profile struct {
	sources     []string
	size        string
	fps         int
	frames      int
	codecs      []ladder.Codec
	cpuPresets  []string
	gpuPresets  []string
	modes       []ladder.Mode
	parallel    []int
	fastOnly    bool // parallel levels above 1 only for the fast presets (ultrafast, p1)
	n           int
	live        bool
	liveSize    string
	liveWindow  time.Duration
	liveCodecs  []string // codec:preset
	liveMaxJobs int
}

var allCodecs = []ladder.Codec{ladder.X264, ladder.X265, ladder.H264NVENC, ladder.HEVCNVENC}

// profiles: quick finishes in about 3 minutes on 2 cores and still fills every chart; study is
// the study's setting (4K60 sources, the five rungs, both presets, both modes).
func profiles(name string) (profile, error) {
	switch name {
	case "quick":
		return profile{sources: transcode.SyntheticKinds, size: "960x540", fps: 30, frames: 30,
			codecs: allCodecs, cpuPresets: []string{"ultrafast", "medium"}, gpuPresets: []string{"p1", "medium"},
			modes: []ladder.Mode{ladder.Batch}, parallel: []int{1, 2}, fastOnly: true, n: 5,
			live: true, liveSize: "1280x720", liveWindow: 6 * time.Second,
			liveCodecs: []string{"x264:ultrafast", "h264_nvenc:p1"}, liveMaxJobs: 16}, nil
	case "study":
		return profile{sources: transcode.SyntheticKinds, size: "3840x2160", fps: 60, frames: 300,
			codecs: allCodecs, cpuPresets: []string{"ultrafast", "medium"}, gpuPresets: []string{"p1", "medium"},
			modes: []ladder.Mode{ladder.Batch, ladder.Live}, parallel: []int{1, 2, 4}, n: 5,
			live: true, liveSize: "1920x1080", liveWindow: 30 * time.Second,
			liveCodecs: []string{"x264:ultrafast", "x264:medium", "x265:ultrafast", "h264_nvenc:p1", "hevc_nvenc:p1"}, liveMaxJobs: 64}, nil
	}
	return profile{}, fmt.Errorf("%w: unknown profile %q (want quick or study)", cli.ErrUsage, name)
}

// runRun is `bench run`: the batch matrix (sources x codecs x presets x modes x parallel jobs),
// quality per rung, and the live streams-per-instance search; results JSON and a report.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	var (
		quick        = fs.Bool("quick", false, "the quick profile (same as --profile quick; the make bench default)")
		profileName  = fs.String("profile", "quick", "quick or study")
		sources      = fs.String("sources", "", "still,medium,high and/or media files (default: the profile's)")
		codecs       = fs.String("codecs", "", "comma-separated codecs (default: x264,x265,h264_nvenc,hevc_nvenc)")
		n            = fs.Int("n", 0, "measured repeats per case (default: the profile's, 5)")
		parallel     = fs.String("parallel", "", "parallel job counts, e.g. 1,2,4 (default: the profile's)")
		noLive       = fs.Bool("no-live", false, "skip the live streams-per-instance search")
		liveWindow   = fs.Duration("live-window", 0, "how long each live level runs (default: the profile's)")
		instanceType = fs.String("instance-type", "", "EC2 instance type of this machine (default: from IMDSv2, else unknown)")
		region       = fs.String("region", "", "AWS region for prices (default: from IMDSv2, else us-east-1)")
		out          = fs.String("out", "out/bench", "where runs go: <out>/<run id>/")
	)
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *quick {
		*profileName = "quick"
	}
	p, err := profiles(*profileName)
	if err != nil {
		return err
	}
	if *sources != "" {
		p.sources = strings.Split(*sources, ",")
	}
	if *codecs != "" {
		p.codecs = nil
		for _, c := range strings.Split(*codecs, ",") {
			codec, err := ladder.ParseCodec(c)
			if err != nil {
				return fmt.Errorf("%w: --codecs: %v", cli.ErrUsage, err)
			}
			p.codecs = append(p.codecs, codec)
		}
	}
	if *n > 0 {
		p.n = *n
	}
	if *parallel != "" {
		p.parallel = nil
		for _, s := range strings.Split(*parallel, ",") {
			k, err := strconv.Atoi(s)
			if err != nil || k < 1 {
				return fmt.Errorf("%w: --parallel %q", cli.ErrUsage, *parallel)
			}
			p.parallel = append(p.parallel, k)
		}
	}
	if *noLive {
		p.live = false
	}
	if *liveWindow > 0 {
		p.liveWindow = *liveWindow
	}
	worker, err := workerBinary()
	if err != nil {
		return err
	}

	started := time.Now().UTC()
	runID := started.Format("20060102-150405")
	dir := filepath.Join(*out, runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	res := &reports.Results{Schema: reports.SchemaVersion, RunID: runID, Started: started, Profile: *profileName,
		Machine: describeMachine(ctx, *instanceType, *region)}
	fmt.Fprintf(stderr, "bench run %s (%s profile) on %s (%s), %d cores, FFmpeg %s\n", runID, *profileName,
		orUnknown(res.Machine.InstanceType), res.Machine.CPUModel, res.Machine.Cores, res.Machine.FFmpegVersion)

	available := probeCodecs(p.codecs)
	liveCases := 0
	if p.live {
		liveCases = len(p.liveCodecs)
	}
	prog := newProgress(stderr, p.batchRuns(available), liveCases)
	defer prog.wait()
	b := &bencher{worker: worker, dir: dir, srcDir: filepath.Join(*out, "sources"), stderr: prog.out, n: p.n, progress: prog}
	for _, src := range p.sources {
		path, spec, err := b.source(ctx, src, p.size, p.fps, p.frames)
		if err != nil {
			return err
		}
		for _, codec := range p.codecs {
			presets := p.cpuPresets
			if codec.IsNVENC() {
				presets = p.gpuPresets
			}
			for _, preset := range presets {
				for _, mode := range p.modes {
					for _, k := range p.parallel {
						if k > 1 && p.fastOnly && preset != "ultrafast" && preset != "p1" {
							continue
						}
						bc := reports.BatchCase{Source: src, Width: spec.Width, Height: spec.Height,
							FPS: float64(spec.FPSNum) / float64(spec.FPSDen), Frames: spec.Frames,
							Codec: string(codec), Preset: preset, Mode: string(mode), Parallel: k}
						if why := available[codec]; why != "" {
							bc.Unavailable, bc.Reason = true, why
						} else if err := b.batch(ctx, path, &bc, k == p.parallel[0] && mode == ladder.Batch); err != nil {
							return err
						}
						res.Batch = append(res.Batch, bc)
					}
				}
			}
		}
	}
	if p.live {
		path, spec, err := b.source(ctx, "medium", p.liveSize, p.fps, int(p.liveWindow.Seconds()*float64(p.fps))+p.fps)
		if err != nil {
			return err
		}
		for _, cp := range p.liveCodecs {
			c, preset, _ := strings.Cut(cp, ":")
			codec, err := ladder.ParseCodec(c)
			if err != nil {
				return err
			}
			lc := reports.LiveCase{Source: "medium", Width: spec.Width, Height: spec.Height,
				FPS: float64(spec.FPSNum) / float64(spec.FPSDen), Codec: c, Preset: preset,
				SegmentSeconds: 2, WindowSeconds: p.liveWindow.Seconds()}
			if why := available[codec]; why != "" {
				lc.Unavailable, lc.Reason = true, why
			} else if why := probeOne(codec); why != "" {
				lc.Unavailable, lc.Reason = true, why
			} else if err := b.live(ctx, path, &lc, liveGuess(res.Batch, lc), p.liveMaxJobs); err != nil {
				return err
			}
			res.Live = append(res.Live, lc)
			prog.liveCase()
		}
	}

	prog.wait()
	resultsPath := filepath.Join(dir, "results.json")
	if err := res.Save(resultsPath); err != nil {
		return err
	}
	files, err := writeReport(dir, []*reports.Results{res})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "results: %s\nreport:  %s (%d files; open %s)\n", resultsPath, dir, len(files), filepath.Join(dir, "report.html"))
	return nil
}

// liveGuess estimates from the batch results how many real-time streams of lc might run: the
// best batch throughput of the same codec and preset on the medium source, scaled by pixel
// count to the live source's size, over its frame rate. 0 when there is nothing to go on.
func liveGuess(batch []reports.BatchCase, lc reports.LiveCase) int {
	best := 0.0
	for _, c := range batch {
		if c.Codec == lc.Codec && c.Preset == lc.Preset && c.Source == lc.Source && !c.Unavailable && c.Width > 0 {
			scale := float64(c.Width*c.Height) / float64(lc.Width*lc.Height)
			best = max(best, c.Throughput.Median*scale/lc.FPS)
		}
	}
	return int(best)
}

// batchRuns counts the child runs of the batch matrix (warm-ups included), for the progress bar.
func (p profile) batchRuns(available map[ladder.Codec]string) int {
	n := 0
	for _, codec := range p.codecs {
		if available[codec] != "" {
			continue
		}
		presets := p.cpuPresets
		if codec.IsNVENC() {
			presets = p.gpuPresets
		}
		for _, preset := range presets {
			for _, k := range p.parallel {
				if k == 1 || !p.fastOnly || preset == "ultrafast" || preset == "p1" {
					n += len(p.modes) * (p.n + 1)
				}
			}
		}
	}
	return n * len(p.sources)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown instance type"
	}
	return s
}

// probeCodecs tells, for each codec, why it cannot run here ("" when it can).
func probeCodecs(codecs []ladder.Codec) map[ladder.Codec]string {
	m := map[ladder.Codec]string{}
	for _, c := range codecs {
		m[c] = probeOne(c)
	}
	return m
}

func probeOne(c ladder.Codec) string {
	if err := transcode.ProbeEncoder(c, ""); err != nil {
		return err.Error()
	}
	return ""
}

// bencher runs the measured children.
type bencher struct {
	worker   string
	dir      string // this run's folder
	srcDir   string // rendered sources, shared across runs
	stderr   io.Writer
	n        int
	seq      int
	progress *progress
}

// source renders (once) the mezzanine file for a synthetic kind, or returns a user's file.
func (b *bencher) source(ctx context.Context, kind, size string, fps, frames int) (string, transcode.Synthetic, error) {
	spec := transcode.Synthetic{Kind: kind, FPSNum: fps, FPSDen: 1, Frames: frames, Audio: true}
	if _, err := fmt.Sscanf(size, "%dx%d", &spec.Width, &spec.Height); err != nil {
		return "", spec, fmt.Errorf("%w: size %q", cli.ErrUsage, size)
	}
	if !slices.Contains(transcode.SyntheticKinds, kind) {
		info, err := transcode.Probe(ctx, kind, transcode.InputOptions{})
		if err != nil {
			return "", spec, err
		}
		spec.Width, spec.Height, spec.FPSNum, spec.FPSDen = info.DisplayWidth, info.DisplayHeight, info.FPSNum, info.FPSDen
		spec.Frames = int(info.EstimatedFrames)
		return kind, spec, nil
	}
	if err := os.MkdirAll(b.srcDir, 0o755); err != nil {
		return "", spec, err
	}
	path := filepath.Join(b.srcDir, fmt.Sprintf("%s-%s-%d-%d.mp4", kind, size, fps, frames))
	return path, spec, ensureSource(ctx, path, spec, size, b.stderr)
}

// batch measures one case: a warm-up, then n repeats of k jobs at once; the figure is source
// frames per second over all k jobs. withRungs also records the sizes and quality of each rung.
func (b *bencher) batch(ctx context.Context, src string, bc *reports.BatchCase, withRungs bool) error {
	label := fmt.Sprintf("%s %s %s %s x%d", bc.Source, bc.Codec, bc.Preset, bc.Mode, bc.Parallel)
	for i := -1; i < b.n; i++ { // i == -1: warm-up
		t0 := time.Now()
		if err := b.parallel(ctx, src, bc); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		if i >= 0 {
			bc.Runs = append(bc.Runs, float64(bc.Parallel*bc.Frames)/time.Since(t0).Seconds())
		}
		b.progress.batchRun()
	}
	bc.Throughput = reports.Summarize(bc.Runs)
	fmt.Fprintf(b.stderr, "  %-40s %7.1f fps (median of %d, CV %.1f%%)\n", label, bc.Throughput.Median, bc.Throughput.N, 100*bc.Throughput.CV)
	if !withRungs {
		return nil
	}
	// One more, unmeasured run keeps its outputs (and MP4s) for the size and quality figures.
	b.seq++
	lastDir := filepath.Join(b.dir, "jobs", fmt.Sprintf("%04d", b.seq))
	last, err := b.transcode(ctx, src, lastDir, bc.Codec, bc.Preset, bc.Mode, true)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	for _, r := range last.Rungs {
		rf := reports.RungFigures{Name: r.Name, Width: r.Width, Height: r.Height, Bytes: r.VideoBytes, BitrateKbps: r.BitrateKbps}
		q, err := transcode.MeasureQuality(ctx, src, filepath.Join(lastDir, r.MP4), r.Width, r.Height)
		if err != nil {
			return fmt.Errorf("%s: quality of %s: %w", label, r.Name, err)
		}
		rf.PSNR, rf.SSIM, rf.XPSNR, rf.VMAF = q.PSNR, q.SSIM, q.XPSNR, q.VMAF
		bc.Rungs = append(bc.Rungs, rf)
	}
	return nil
}

// parallel runs bc.Parallel worker children at once on src and waits for all of them.
func (b *bencher) parallel(ctx context.Context, src string, bc *reports.BatchCase) error {
	errs := make([]error, bc.Parallel)
	var wg sync.WaitGroup
	for j := range bc.Parallel {
		b.seq++
		dir := filepath.Join(b.dir, "jobs", fmt.Sprintf("%04d", b.seq))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[j] = b.transcode(ctx, src, dir, bc.Codec, bc.Preset, bc.Mode, false)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// transcode runs `worker transcode` as a child process: the product's own path, isolated.
func (b *bencher) transcode(ctx context.Context, src, out, codec, preset, mode string, keep bool) (*transcode.Result, error) {
	args := []string{"transcode", "--quiet", "--json", "--input", src, "--output", out, "--codec", codec, "--preset", preset, "--mode", mode}
	if keep {
		args = append(args, "--mp4") // the kept run also writes MP4s, for the quality figures
	}
	cmd := exec.CommandContext(ctx, b.worker, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w: %s", strings.Join(args, " "), err, tail(stderr.String(), 1500))
	}
	var res transcode.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("worker result: %w", err)
	}
	if !keep {
		_ = os.RemoveAll(out) // only the kept run's outputs are looked at
	}
	return &res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
