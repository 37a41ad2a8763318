package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/abrfleet/abrfleet/internal/worker"
)

// runCancel is `worker cancel <id>`: delete a waiting job, or stop a running
// one and archive it so it does not run again.
func runCancel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker cancel", flag.ContinueOnError)
	var rf redisFlags
	rf.register(fs)
	q := fs.String("queue", "", "the task's queue (default: look in live and batch)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for a running job to stop")
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
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	what, err := c.Cancel(ctx, id, *q)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", id, what)
	return nil
}
