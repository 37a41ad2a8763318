// Command bench measures transcoding throughput and turns it into price/performance.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/transcode"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, cli.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	os.Exit(cli.ExitCode(err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	transcode.RouteFFmpegLogs(slog.New(slog.NewTextHandler(stderr, nil)), slog.LevelError)
	return cli.Dispatch(ctx, "bench", []cli.Command{
		{Name: "run", Summary: "measure this machine: batch fps, quality per rung, live streams; results and report", Run: runRun},
		{Name: "report", Summary: "merge results from many machines into one report", Run: runReport},
		{Name: "pricing", Summary: "show or refresh the EC2 price catalog (pricing refresh)", Run: runPricing},
		{Name: "quality", Summary: "PSNR, SSIM, XPSNR of a rendition against its source", Run: runQuality},
		{Name: "compare-cli", Summary: "our pipeline against the ffmpeg CLI of the same build, same ladder", Run: runCompareCLI},
	}, args, stdout, stderr)
}
