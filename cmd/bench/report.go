package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/pricing"
	"github.com/abrfleet/abrfleet/reports"
)

// runReport is `bench report`: merge result files from many machines (one per instance type)
// into one report.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	out := fs.String("out", "", "report folder (default: out/report-<time>)")
	ref := fs.String("reference", "c6i.4xlarge", "instance type whose x264 ultrafast cost is 1.0")
	region := fs.String("region", "us-east-1", "region every instance is priced in")
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: bench report [flags] results.json..."); fs.PrintDefaults() }
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ErrHelp
		}
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no results files", cli.ErrUsage)
	}
	results, err := reports.Load(fs.Args()...)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "report-"+time.Now().UTC().Format("20060102-150405"))
	}
	files, err := buildReport(dir, results, reports.Options{Reference: *ref, Region: *region})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s (%d files; open %s)\n", dir, len(files), filepath.Join(dir, "report.html"))
	return nil
}

// writeReport renders one run's results beside them, priced in their machine's region.
func writeReport(dir string, results []*reports.Results) ([]string, error) {
	return buildReport(dir, results, reports.Options{Region: results[0].Machine.Region})
}

func buildReport(dir string, results []*reports.Results, o reports.Options) ([]string, error) {
	catalog, from, err := pricing.Current()
	if catalog == nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	o.PricingNote = "prices: embedded catalog (recalled list prices, not refreshed; run 'bench pricing refresh')"
	if from == pricing.FromCache {
		o.PricingNote = "prices: " + pricing.CachePath() + " (refreshed through the AWS Pricing API)"
	}
	if err != nil {
		o.PricingNote += "; the refreshed cache could not be read: " + err.Error()
	}
	r, err := reports.Build(results, catalogPricer{catalog}, o)
	if err != nil {
		return nil, err
	}
	return reports.Write(dir, r)
}

// catalogPricer adapts the pricing catalog to what reports asks for.
type catalogPricer struct{ c *pricing.Catalog }

func (p catalogPricer) Price(instanceType, region string) (float64, string, string, error) {
	pr, err := p.c.Price(instanceType, region)
	if err != nil {
		return 0, "", "", err
	}
	return pr.USDPerHour, pr.Date, pr.Source, nil
}
