package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/transcode"
)

// runQuality is `bench quality`: PSNR, SSIM and XPSNR (VMAF when linked) of one rendition
// against its source scaled to the rendition's size.
func runQuality(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench quality", flag.ContinueOnError)
	ref := fs.String("reference", "", "the source (required)")
	dist := fs.String("rendition", "", "the encoded rendition (required)")
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *ref == "" || *dist == "" {
		return fmt.Errorf("%w: --reference and --rendition are required", cli.ErrUsage)
	}
	info, err := transcode.Probe(ctx, *dist, transcode.InputOptions{})
	if err != nil {
		return err
	}
	q, err := transcode.MeasureQuality(ctx, *ref, *dist, info.Width, info.Height)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(q)
}
