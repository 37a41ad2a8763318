// Command worker runs abrfleet transcode jobs: from Redis (run), or one locally (transcode).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !worker.IsReported(err) && !errors.Is(err, cli.ErrHelp) {
		fmt.Fprintln(os.Stderr, "worker:", err)
	}
	os.Exit(cli.ExitCode(err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Dispatch(ctx, "worker", []cli.Command{
		{Name: "run", Summary: "serve the live and batch queues from Redis", Run: runRun},
		{Name: "submit", Summary: "submit a job and print its task id (--wait follows it)", Run: runSubmit},
		{Name: "status", Summary: "show a job's state, progress and result", Run: runStatus},
		{Name: "cancel", Summary: "cancel a job: delete it if waiting, stop it if running", Run: runCancel},
		{Name: "transcode", Summary: "run one job locally, without Redis", Run: runTranscode},
		{Name: "_child", Hidden: true, Summary: "transcode one job spec from stdin (started by run)", Run: runChild},
	}, args, stdout, stderr)
}
