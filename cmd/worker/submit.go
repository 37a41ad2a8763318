package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/internal/worker"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
)

// runSubmit is `worker submit`: validate a payload (from flags or --file),
// enqueue it, print the task id; with --wait, follow it to the end.
func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker submit", flag.ContinueOnError)
	var (
		rf          redisFlags
		file        = fs.String("file", "", "job payload JSON file (instead of the payload flags)")
		jobID       = fs.String("job-id", "", "job id, [A-Za-z0-9._-]{1,128}; resubmitting it is refused while retained (default: random)")
		mode        = fs.String("mode", "batch", "batch or live")
		input       = fs.String("input", "", "s3://bucket/key, file:///path, https://... (live also srt://, rtmp://, udp://)")
		output      = fs.String("output", "", "s3://bucket/prefix or an absolute directory")
		codec       = fs.String("codec", "x264", "x264, x265, h264_nvenc, hevc_nvenc or auto")
		preset      = fs.String("preset", "", "encoder preset (default: the codec's)")
		ladderName  = fs.String("ladder", "", "built-in ladder name (default: default)")
		ladderFile  = fs.String("ladder-file", "", "ladder YAML/JSON file, sent inline")
		outputs     = fs.String("outputs", "hls", "comma-separated packagings: hls, mp4")
		fallback    = fs.Bool("fallback-cpu", false, "fall back to the CPU codec when NVENC cannot open")
		timeout     = fs.Duration("timeout", 0, "job timeout (default: 2h batch, 12h live)")
		idleTimeout = fs.Duration("idle-timeout", 0, "live: input silence that ends the stream (default 30s)")
		wait        = fs.Bool("wait", false, "follow the job to its end; exit non-zero with its code on failure")
		limits      = worker.Default()
	)
	rf.register(fs)
	fs.Var(stringListFlag{&limits.AllowedInputRoots}, "allowed-input-roots", "directories file:// inputs may come from (as the workers')")
	fs.Var(stringListFlag{&limits.AllowedOutputRoots}, "allowed-output-roots", "directories local outputs may go to (as the workers')")
	if err := worker.ApplyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	var p queue.Payload
	if *file != "" {
		if flagsSet(fs, "job-id", "mode", "input", "output", "codec", "preset", "ladder", "ladder-file", "outputs", "fallback-cpu", "timeout", "idle-timeout") {
			return fmt.Errorf("%w: --file excludes the payload flags", cli.ErrUsage)
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		pp, err := queue.Parse(data, limits.Limits())
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		p = *pp
	} else {
		if *input == "" || *output == "" {
			fs.Usage()
			return fmt.Errorf("%w: --input and --output are required (or --file)", cli.ErrUsage)
		}
		p = queue.Payload{Version: queue.Version, JobID: *jobID, Mode: ladder.Mode(*mode), Input: *input, Output: *output,
			Codec: *codec, Preset: *preset, FallbackToCPU: *fallback,
			Timeout: queue.Duration{Duration: *timeout}, IdleTimeout: queue.Duration{Duration: *idleTimeout}}
		if *outputs != "" {
			p.Outputs = strings.Split(*outputs, ",")
		}
		switch {
		case *ladderName != "" && *ladderFile != "":
			return fmt.Errorf("%w: --ladder and --ladder-file exclude each other", cli.ErrUsage)
		case *ladderName != "":
			p.Ladder = &queue.LadderRef{Name: *ladderName}
		case *ladderFile != "":
			l, err := ladder.Load(*ladderFile)
			if err != nil {
				return err
			}
			p.Ladder = &queue.LadderRef{Inline: &l}
		}
	}
	c, err := rf.client()
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := c.Submit(ctx, &p, limits.Limits())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, info.ID)
	if !*wait {
		return nil
	}
	bar := &progressBar{w: stderr}
	s, err := c.Wait(ctx, info.ID, info.Queue, 500*time.Millisecond, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	return report(s, stdout)
}

// report prints a finished job's result and turns a failure into an error
// carrying its code.
func report(s *worker.Status, stdout io.Writer) error {
	if s.Result != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s.Result); err != nil {
			return err
		}
	}
	if s.Info.State.String() == "archived" {
		code, msg := "unknown", s.Info.LastErr
		if s.Result != nil && s.Result.Code != "" {
			code, msg = string(s.Result.Code), s.Result.Message
		}
		return fmt.Errorf("job %s failed: %s: %s", s.Info.ID, code, msg)
	}
	return nil
}

// progressBar draws one line on stderr, redrawn in place.
type progressBar struct {
	w     io.Writer
	drawn bool
}

func (b *progressBar) update(s *worker.Status) {
	line := s.Info.State.String()
	if r := s.Result; r != nil && r.Progress != nil && s.Info.State.String() == "active" {
		pr := r.Progress
		const width = 30
		frac := 0.0
		if pr.TotalFrames > 0 {
			frac = min(1, float64(pr.Frames)/float64(pr.TotalFrames))
		}
		n := int(frac * width)
		eta := "?"
		if pr.ETASeconds > 0 {
			eta = (time.Duration(pr.ETASeconds) * time.Second).String()
		}
		line = fmt.Sprintf("[%s%s] %3.0f%%  %d/%d frames  %.1f fps  eta %s  attempt %d",
			strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, pr.Frames, pr.TotalFrames, pr.FPS, eta, r.Attempt)
	} else if s.Info.State.String() == "retry" && s.Result != nil {
		line = fmt.Sprintf("retrying after %s (attempt %d)", s.Result.Code, s.Result.Attempt)
	}
	fmt.Fprintf(b.w, "\r\033[K%s", line)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// stringListFlag is a comma-separated list flag.
type stringListFlag struct{ p *[]string }

func (s stringListFlag) String() string {
	if s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s stringListFlag) Set(v string) error {
	*s.p = nil
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			*s.p = append(*s.p, e)
		}
	}
	return nil
}

func flagsSet(fs *flag.FlagSet, names ...string) (set bool) {
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			set = set || f.Name == n
		}
	})
	return set
}
