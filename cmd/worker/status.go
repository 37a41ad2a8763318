package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/internal/worker"
	"github.com/abrfleet/abrfleet/queue"
)

// runStatus is `worker status <id>`: the task's state and its result.
func runStatus(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker status", flag.ContinueOnError)
	var rf redisFlags
	rf.register(fs)
	q := fs.String("queue", "", "the task's queue (default: look in live and batch)")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := worker.ApplyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	id, err := parseWithID(fs, args, stderr)
	if err != nil {
		return err
	}
	c, err := rf.client()
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.Status(id, *q)
	if err != nil {
		return err
	}
	maxRetry := queue.Retries(s.Info.MaxRetry) // without the worker's spare
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"id": s.Info.ID, "queue": s.Info.Queue, "type": s.Info.Type,
			"state": s.Info.State.String(), "retried": s.Info.Retried, "max_retry": maxRetry,
			"last_error": s.Info.LastErr, "result": s.Result, "rung_bytes": s.RungBytes})
	}
	fmt.Fprintf(stdout, "%s  %s  %s  retried %d/%d\n", s.Info.ID, s.Info.Type, s.Info.State, s.Info.Retried, maxRetry)
	if s.Info.LastErr != "" {
		fmt.Fprintf(stdout, "last error: %s\n", s.Info.LastErr)
	}
	if r := s.Result; r != nil {
		if r.Progress != nil && r.Code == "" && s.Info.State.String() == "active" {
			fmt.Fprintf(stdout, "progress: %d/%d frames, %.1f fps, eta %.0f s, attempt %d\n",
				r.Progress.Frames, r.Progress.TotalFrames, r.Progress.FPS, r.Progress.ETASeconds, r.Attempt)
		}
		if r.Code != "" {
			fmt.Fprintf(stdout, "code: %s\n", r.Code)
		}
		if r.Output != "" {
			fmt.Fprintf(stdout, "output: %s (%.1f s, %.1f fps)\n", r.Output, r.WallSeconds, r.FPS)
		}
		for _, g := range r.Rungs {
			fmt.Fprintf(stdout, "  %-6s %4dx%-4d %6d frames %9.1f kb/s  %s\n", g.Name, g.Width, g.Height, g.Frames, g.BitrateKbps, g.CodecString)
		}
	}
	return nil
}

// parseWithID parses flags and one positional task id, flags first or last.
func parseWithID(fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	fs.SetOutput(stderr)
	var id string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", usageError(err)
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return "", usageError(err)
		}
	}
	if id == "" || fs.NArg() > 0 {
		fs.Usage()
		return "", fmt.Errorf("%w: want one task id", cli.ErrUsage)
	}
	return id, nil
}

// usageError is a flag parsing error as the commands return it: -h is cli.ErrHelp.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return cli.ErrHelp
	}
	return fmt.Errorf("%w: %v", cli.ErrUsage, err)
}
