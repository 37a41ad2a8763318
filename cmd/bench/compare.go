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
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/reports"
	"github.com/abrfleet/abrfleet/transcode"
	"github.com/montanaflynn/stats"
)

// compareCase is one codec/preset pair of `bench compare-cli`.
type compareCase struct {
	Codec  ladder.Codec `json:"codec"`
	Preset string       `json:"preset"`

	OursFPS   float64 `json:"ours_fps"` // medians over the repeats
	CLIFPS    float64 `json:"cli_fps"`
	Ratio     float64 `json:"ratio"` // ours / cli
	OursRSSMB float64 `json:"ours_rss_mb"`
	CLIRSSMB  float64 `json:"cli_rss_mb"`

	// Each repeat runs the two sides back to back, so each pair saw the same machine. The
	// median of the pairs' fps ratios, with its distribution-free confidence interval, says
	// whether the speed target is met, missed, or cannot be told apart on this machine.
	PairRatios     []float64 `json:"pair_ratios"`
	PairRatio      float64   `json:"pair_ratio_median"`
	RatioCILow     float64   `json:"ratio_ci_low"`
	RatioCIHigh    float64   `json:"ratio_ci_high"`
	RatioCILevel   float64   `json:"ratio_ci_level"` // the interval's coverage, e.g. 0.9375 for n = 5
	Target         float64   `json:"target"`
	SpeedVerdict   string    `json:"speed_verdict"` // met, not met, inconclusive, too few runs, no data
	RSSRatio       float64   `json:"rss_ratio"`     // ours / cli, target <= rssTarget
	RSSVerdict     string    `json:"rss_verdict"`
	OursCPUSeconds float64   `json:"ours_cpu_s"` // user + system CPU seconds, medians
	CLICPUSeconds  float64   `json:"cli_cpu_s"`

	OursRuns []runFigures `json:"ours_runs"`
	CLIRuns  []runFigures `json:"cli_runs"`
}

// runFigures is one measured run of a child process.
type runFigures struct {
	Seconds    float64 `json:"seconds"`
	FPS        float64 `json:"fps"`
	RSSMB      float64 `json:"rss_mb"`
	CPUSeconds float64 `json:"cpu_s"` // user + system
}

type compareReport struct {
	Source  string         `json:"source"`
	Frames  int            `json:"frames"`
	N       int            `json:"n"`
	FFmpeg  string         `json:"ffmpeg"`
	Machine string         `json:"machine"`
	Options string         `json:"our_options"`
	Cases   []*compareCase `json:"cases"`
}

// runCompareCLI is `bench compare-cli`: the same ladder through our pipeline and through the
// ffmpeg CLI of the same build (split=5 + scale, the same encoder options), alternating, n times.
// Each run is a child process, so wall time and peak RSS are measured the same way for both.
func runCompareCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench compare-cli", flag.ContinueOnError)
	var (
		n        = fs.Int("n", 5, "repeats per case and side")
		cases    = fs.String("cases", "x264:ultrafast,x264:medium,x265:ultrafast", "codec:preset list")
		size     = fs.String("size", "1920x1080", "source size")
		fps      = fs.Int("fps", 30, "source frame rate")
		frames   = fs.Int("frames", 300, "source frames")
		work     = fs.String("workdir", "out/compare-cli", "where sources and outputs go")
		oursArgs = fs.String("ours", "", "extra worker transcode flags for our side, e.g. \"--cascade --encoder-threads=-1\"")
		asJSON   = fs.Bool("json", false, "print the report as JSON")
	)
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("%w: --n must be at least 1", cli.ErrUsage)
	}
	ffmpeg, err := ffmpegCLI()
	if err != nil {
		return err
	}
	var list []*compareCase
	for _, s := range strings.Split(*cases, ",") {
		c, p, _ := strings.Cut(strings.TrimSpace(s), ":")
		codec, err := ladder.ParseCodec(c)
		if err != nil {
			return fmt.Errorf("%w: --cases: %v", cli.ErrUsage, err)
		}
		if err := ladder.ValidatePreset(codec, p); err != nil {
			return fmt.Errorf("%w: --cases: %v", cli.ErrUsage, err)
		}
		list = append(list, &compareCase{Codec: codec, Preset: p})
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return err
	}
	src := filepath.Join(*work, fmt.Sprintf("source-medium-%s-%d-%d.mp4", *size, *fps, *frames))
	if err := ensureSource(ctx, src, transcode.Synthetic{Kind: "medium", FPSNum: *fps, FPSDen: 1, Frames: *frames, Audio: true}, *size, stderr); err != nil {
		return err
	}
	worker, err := workerBinary()
	if err != nil {
		return err
	}
	info, err := transcode.Probe(ctx, src, transcode.InputOptions{})
	if err != nil {
		return err
	}
	targets, err := ladder.Default().Fit(ladder.Source{Width: info.DisplayWidth, Height: info.DisplayHeight,
		FPS: ladder.Rational{Num: info.FPSNum, Den: info.FPSDen}})
	if err != nil {
		return err
	}
	rep := compareReport{Source: src, Frames: *frames, N: *n, FFmpeg: transcode.FFmpegVersion(),
		Machine: fmt.Sprintf("%s, %d CPUs", cpuModel(), runtime.NumCPU()), Options: "worker transcode " + *oursArgs}
	for _, c := range list {
		out := filepath.Join(*work, string(c.Codec)+"-"+c.Preset)
		ours := func() (runFigures, error) {
			args := []string{"transcode", "--quiet", "--input", src, "--output", out + "-ours", "--codec", string(c.Codec), "--preset", c.Preset}
			args = append(args, strings.Fields(*oursArgs)...)
			return measure(ctx, *frames, worker, args...)
		}
		theirs := func() (runFigures, error) {
			args, err := cliArgs(src, out+"-cli", targets, c.Codec, c.Preset)
			if err != nil {
				return runFigures{}, err
			}
			return measure(ctx, *frames, ffmpeg, args...)
		}
		// Warm-up (page cache, CPU frequency), not counted.
		if _, err := ours(); err != nil {
			return fmt.Errorf("%s %s ours: %w", c.Codec, c.Preset, err)
		}
		for i := range *n {
			// Alternate which side goes first, so drift over time cannot favour one.
			first, second := ours, theirs
			if i%2 == 1 {
				first, second = theirs, ours
			}
			a, err := first()
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.Codec, c.Preset, err)
			}
			b, err := second()
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.Codec, c.Preset, err)
			}
			if i%2 == 1 {
				a, b = b, a
			}
			c.OursRuns, c.CLIRuns = append(c.OursRuns, a), append(c.CLIRuns, b)
			fmt.Fprintf(stderr, "%s %s run %d/%d: ours %.1f fps %.0f MB, cli %.1f fps %.0f MB\n",
				c.Codec, c.Preset, i+1, *n, a.FPS, a.RSSMB, b.FPS, b.RSSMB)
		}
		c.summarize()
		rep.Cases = append(rep.Cases, c)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tn\tours fps (median, min-max)\tcli fps (median, min-max)\tratio\tpair ratio (CI)\ttarget\tspeed\tours RSS MB\tcli RSS MB\tRSS\tours CPU-s\tcli CPU-s\t\n")
	for _, c := range rep.Cases {
		fmt.Fprintf(tw, "%s %s\t%d\t%.1f (%s)\t%.1f (%s)\t%.2f\t%.3f (%.3f-%.3f)\t>= %.2f\t%s\t%.0f\t%.0f\t%s\t%.1f\t%.1f\t\n",
			c.Codec, c.Preset, len(c.OursRuns), c.OursFPS, spread(c.OursRuns), c.CLIFPS, spread(c.CLIRuns), c.Ratio,
			c.PairRatio, c.RatioCILow, c.RatioCIHigh, c.Target, c.SpeedVerdict, c.OursRSSMB, c.CLIRSSMB, c.RSSVerdict,
			c.OursCPUSeconds, c.CLICPUSeconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	level := 0.0
	if len(rep.Cases) > 0 {
		level = rep.Cases[0].RatioCILevel
	}
	fmt.Fprintf(stdout, "\npair ratio: median of the %d back-to-back pairs' fps ratios, with its %.1f%% confidence interval\n"+
		"(order statistics, no assumption about the noise). speed is met when the whole interval is at or above\n"+
		"the target, not met when it is all below, inconclusive otherwise: run more repeats or quiet the machine;\n"+
		"fewer than 5 repeats give no verdict.\n"+
		"RSS is met when ours <= %.1f x the CLI's.\n", rep.N, 100*level, rssTarget)
	fmt.Fprintf(stdout, "source %s, %d frames; FFmpeg %s; %s; ours: %s\n", rep.Source, rep.Frames, rep.FFmpeg, rep.Machine, rep.Options)
	return nil
}

// The transcode issue's targets: at least 1.10 times the CLI's speed at x264 and x265 ultrafast,
// at least its speed everywhere else, and at most 1.1 times its peak RSS.
const rssTarget = 1.1

func speedTarget(codec ladder.Codec, preset string) float64 {
	if preset == "ultrafast" && (codec == ladder.X264 || codec == ladder.X265) {
		return 1.10
	}
	return 1.00
}

// minCILevel is the least coverage a verdict may rest on: five pairs give 93.75%, four 87.5%.
const minCILevel = 0.9

// verdict judges a confidence interval against a lower bound.
func verdict(low, high, target float64) string {
	switch {
	case low >= target:
		return "met"
	case high < target:
		return "not met"
	}
	return "inconclusive"
}

// summarize fills in the medians, ratios and verdicts from the runs.
func (c *compareCase) summarize() {
	c.OursFPS, c.CLIFPS = median(c.OursRuns, fpsOf), median(c.CLIRuns, fpsOf)
	c.OursRSSMB, c.CLIRSSMB = median(c.OursRuns, rssOf), median(c.CLIRuns, rssOf)
	c.OursCPUSeconds, c.CLICPUSeconds = median(c.OursRuns, cpuOf), median(c.CLIRuns, cpuOf)
	if c.CLIFPS > 0 {
		c.Ratio = c.OursFPS / c.CLIFPS
	}
	c.PairRatios = nil
	for i := range min(len(c.OursRuns), len(c.CLIRuns)) {
		if c.CLIRuns[i].FPS > 0 {
			c.PairRatios = append(c.PairRatios, c.OursRuns[i].FPS/c.CLIRuns[i].FPS)
		}
	}
	c.PairRatio, _ = stats.Median(c.PairRatios)
	c.RatioCILow, c.RatioCIHigh, c.RatioCILevel = reports.MedianCI(c.PairRatios, 0.95)
	c.Target = speedTarget(c.Codec, c.Preset)
	switch {
	case len(c.PairRatios) == 0:
		c.SpeedVerdict = "no data"
	case c.RatioCILevel < minCILevel:
		c.SpeedVerdict = "too few runs"
	default:
		c.SpeedVerdict = verdict(c.RatioCILow, c.RatioCIHigh, c.Target)
	}
	c.RSSVerdict = "not met"
	if c.CLIRSSMB > 0 {
		c.RSSRatio = c.OursRSSMB / c.CLIRSSMB
		if c.RSSRatio <= rssTarget {
			c.RSSVerdict = "met"
		}
	}
}

func fpsOf(r runFigures) float64 { return r.FPS }
func rssOf(r runFigures) float64 { return r.RSSMB }
func cpuOf(r runFigures) float64 { return r.CPUSeconds }

func values(runs []runFigures, f func(runFigures) float64) []float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return xs
}

func median(runs []runFigures, f func(runFigures) float64) float64 {
	m, _ := stats.Median(values(runs, f))
	return m
}

// spread is the fps range, min-max.
func spread(runs []runFigures) string {
	xs := values(runs, fpsOf)
	lo, _ := stats.Min(xs)
	hi, _ := stats.Max(xs)
	return fmt.Sprintf("%.1f-%.1f", lo, hi)
}

// measure runs a child to completion and returns its wall time, source fps and peak RSS.
func measure(ctx context.Context, frames int, name string, args ...string) (runFigures, error) {
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	secs := time.Since(t0).Seconds()
	if err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return runFigures{}, fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, tail)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return runFigures{}, errors.New("no rusage")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return runFigures{Seconds: secs, FPS: float64(frames) / secs, RSSMB: float64(ru.Maxrss) / 1024, CPUSeconds: cpu}, nil
}

// cliArgs renders the ffmpeg command that does what our pipeline does: decode once, split into
// the five rungs, scale each (bicubic, as ours), encode each with the same AVOptions, and write
// the same fMP4 HLS per rung. The CLI has no way to encode audio once for five outputs, so
// it encodes the same AAC five times.
func cliArgs(src, outDir string, targets []ladder.Target, codec ladder.Codec, preset string) ([]string, error) {
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", src}
	var graph []string
	splits := ""
	for i := range targets {
		splits += fmt.Sprintf("[s%d]", i)
	}
	graph = append(graph, fmt.Sprintf("[0:v]split=%d%s", len(targets), splits))
	for i, t := range targets {
		graph = append(graph, fmt.Sprintf("[s%d]scale=%d:%d:flags=bicubic,format=yuv420p[v%d]", i, t.Width, t.Height, i))
	}
	args = append(args, "-filter_complex", strings.Join(graph, ";"))
	for i, t := range targets {
		cfg, err := ladder.EncoderSettings(codec, preset, ladder.Batch, t)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(outDir, t.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-map", "0:a?", "-c:v", cfg.Encoder)
		for _, o := range cfg.Options {
			args = append(args, "-"+o.Key+":v", o.Value)
		}
		args = append(args, "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
			"-f", "hls", "-hls_time", "6", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
			"-hls_segment_filename", filepath.Join(dir, "seg_%05d.m4s"), "-hls_playlist_type", "vod",
			"-hls_list_size", "0", "-hls_flags", "independent_segments+temp_file", filepath.Join(dir, "index.m3u8"))
	}
	return args, nil
}

// workerBinary is bin/worker, built beside bin/bench: compare-cli measures the product's own
// command, in its own process.
func workerBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(self), "worker")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("worker binary beside bench: %w (make build puts both in bin/)", err)
	}
	return p, nil
}

// ffmpegCLI is the ffmpeg binary of the FFmpeg build we link against: $FFMPEG_PREFIX/bin, or
// beside the linked libavcodec.
func ffmpegCLI() (string, error) {
	prefix := os.Getenv("FFMPEG_PREFIX")
	if prefix == "" {
		prefix = transcode.FFmpegPrefix()
	}
	if prefix == "" {
		return "", errors.New("cannot tell where the linked FFmpeg is: set FFMPEG_PREFIX (make -s print-ffmpeg-prefix)")
	}
	p := filepath.Join(prefix, "bin", "ffmpeg")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("ffmpeg CLI of the linked build: %w", err)
	}
	return p, nil
}

// ensureSource renders a synthetic mezzanine file once (H.264 high quality, AAC).
func ensureSource(ctx context.Context, path string, s transcode.Synthetic, size string, stderr io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if _, err := fmt.Sscanf(size, "%dx%d", &s.Width, &s.Height); err != nil {
		return fmt.Errorf("%w: size %q: want WxH", cli.ErrUsage, size)
	}
	fmt.Fprintf(stderr, "rendering %s\n", path)
	tmp := path + ".tmp.mp4"
	err := transcode.Render(ctx, transcode.RenderOptions{Source: s.URL(), Output: tmp,
		Options: []ladder.Option{{Key: "preset", Value: "veryfast"}, {Key: "crf", Value: "16"}, {Key: "g", Value: "60"}}})
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
