package main

import (
	"context"
	"io"
	"os"

	"github.com/abrfleet/abrfleet/internal/worker"
)

// runChild is `worker _child`, the transcode process that `worker run`
// starts per job: a job spec on stdin, JSON lines on stdout.
func runChild(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	return worker.RunChild(ctx, os.Stdin, stdout, stderr)
}
