package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/abrfleet/abrfleet/internal/worker"
)

// runRun is `worker run`. The first SIGTERM or SIGINT (ctx) starts a
// graceful shutdown; a second one hands every running job back at once.
func runRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, err := worker.Load(args, os.LookupEnv, stderr)
	if errors.Is(err, worker.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	level, _ := cfg.SlogLevel()
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	abort, stopAbort := context.WithCancel(context.Background())
	defer stopAbort()
	go func() {
		for n := 0; ; n++ {
			select {
			case <-sigs:
				if n == 1 { // the first one canceled ctx
					stopAbort()
					return
				}
			case <-abort.Done():
				return
			}
		}
	}()
	return worker.Run(ctx, cfg, worker.Options{Logger: logger, Stderr: stderr, Abort: abort})
}
