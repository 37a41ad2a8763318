package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/transcode"
)

// runTranscode is `worker transcode`: one job, locally, no Redis.
func runTranscode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker transcode", flag.ContinueOnError)
	var (
		input    = fs.String("input", "", "input file, URL, or synthetic:<still|medium|high>?size=WxH&fps=N&frames=N (required)")
		output   = fs.String("output", "", "output directory (required)")
		codec    = fs.String("codec", "x264", "x264, x265, h264_nvenc or hevc_nvenc")
		preset   = fs.String("preset", "", "encoder preset (default: ultrafast on CPU, p1 on NVENC)")
		mode     = fs.String("mode", "batch", "batch (CRF) or live (CBR)")
		ladderF  = fs.String("ladder", "", "ladder YAML/JSON file (default: the built-in five rungs)")
		mp4      = fs.Bool("mp4", false, "also write one faststart MP4 per rung")
		noHLS    = fs.Bool("no-hls", false, "do not write HLS (needs --mp4)")
		fallback = fs.Bool("fallback-cpu", false, "when NVENC cannot open, encode on the CPU instead of failing")
		cascade  = fs.Bool("cascade", false, "scale each rung from the rung above it")
		realtime = fs.Bool("realtime", false, "pace the input at its frame rate (default: on for --mode live with synthetic input)")
		hwdec    = fs.String("hwdecode", "none", "none, cuda (NVDEC, required) or auto")
		depth    = fs.Int("queue-depth", 0, "frames queued in front of each stage (default 4)")
		threads  = fs.Int("encoder-threads", 0, "threads per rung encoder: 0 shares 1.5 per core among the rungs by size, -1 leaves each encoder its default")
		asJSON   = fs.Bool("json", false, "print the result as JSON on stdout")
		quiet    = fs.Bool("quiet", false, "no progress on stderr")
	)
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *input == "" || *output == "" {
		fs.Usage()
		return fmt.Errorf("%w: --input and --output are required", cli.ErrUsage)
	}
	c, err := ladder.ParseCodec(*codec)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	m, err := ladder.ParseMode(*mode)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	l := ladder.Default()
	if *ladderF != "" {
		if l, err = ladder.Load(*ladderF); err != nil {
			return err
		}
	}
	if *noHLS && !*mp4 {
		return fmt.Errorf("%w: --no-hls needs --mp4", cli.ErrUsage)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	transcode.RouteFFmpegLogs(logger, slog.LevelError)
	o := transcode.Options{
		Input: *input, OutputDir: *output, Codec: c, Preset: *preset, Mode: m, Ladder: l,
		HLS: !*noHLS, MP4: *mp4, FallbackToCPU: *fallback, Cascade: *cascade, EncoderThreads: *threads, QueueDepth: *depth,
		Realtime: *realtime, InputOptions: transcode.InputOptions{HWDecode: *hwdec}, Logger: logger,
	}
	if !*quiet {
		o.Progress = func(p transcode.Progress) {
			eta := "?"
			if p.ETA > 0 {
				eta = p.ETA.Round(time.Second).String()
			}
			fmt.Fprintf(stderr, "frames %d/%d  %.1f fps  eta %s\n", p.Frames, p.TotalFrames, p.FPS, eta)
		}
	}
	if m == ladder.Live && strings.HasPrefix(*input, "synthetic:") && !flagSet(fs, "realtime") {
		o.Realtime = true // a synthetic source arrives as fast as it is generated; a feed does not
	}
	res, err := transcode.Run(ctx, o)
	if err != nil {
		return err // its text starts with the stable code
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "%s %s %s: %d frames in %.2f s (%.1f fps)\n", res.Codec, res.Preset, res.Mode, res.SourceFrames, res.WallSeconds, res.FPS)
	for _, r := range res.Rungs {
		fmt.Fprintf(stdout, "  %-6s %4dx%-4d %5d frames %9.1f kb/s  %s  encode %.1f fps\n", r.Name, r.Width, r.Height, r.Frames, r.BitrateKbps, r.CodecString, r.EncodeFPS)
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) (set bool) {
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
