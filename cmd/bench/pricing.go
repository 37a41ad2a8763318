package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/pricing"
)

// runPricing is `bench pricing [show|refresh]`.
func runPricing(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"show"}
	}
	switch args[0] {
	case "show":
		return pricingShow(args[1:], stdout, stderr)
	case "refresh":
		return pricingRefresh(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: bench pricing show|refresh", cli.ErrUsage)
}

func pricingShow(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pricing show", flag.ContinueOnError)
	region := fs.String("region", "us-east-1", "region")
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, from, err := pricing.Current()
	if c == nil {
		return err
	}
	if err != nil {
		fmt.Fprintln(stderr, "warning:", err)
	}
	fmt.Fprintf(stdout, "catalog: %s\n", from)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "type\tvCPU\tGiB\tGPU\tNVENC\t$/h\tdate\tsource")
	for _, in := range c.Instances {
		p, err := c.Price(in.Type, *region)
		price, date, src := "-", "", ""
		if err == nil {
			price, date, src = fmt.Sprintf("%.4f", p.USDPerHour), p.Date, p.Source
		}
		gpu := "-"
		if in.GPUs > 0 {
			gpu = fmt.Sprintf("%dx %s", in.GPUs, in.GPUModel)
		}
		fmt.Fprintf(tw, "%s\t%d\t%g\t%s\t%d\t%s\t%s\t%s\n", in.Type, in.VCPUs, in.MemoryGiB, gpu, in.GPUs*in.NVENCPerGPU, price, date, src)
	}
	return tw.Flush()
}

// pricingRefresh updates the cache through the AWS Pricing API with the SDK's credential chain.
// Without credentials it fails and everything keeps using the embedded table.
func pricingRefresh(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pricing refresh", flag.ContinueOnError)
	regions := fs.String("regions", "", "comma-separated regions (default: those in the catalog)")
	spot := fs.Bool("spot", false, "also record current spot prices (EC2 DescribeSpotPriceHistory)")
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	base, err := pricing.Embedded()
	if err != nil {
		return err
	}
	client, err := pricing.NewPricingClient(ctx)
	if err != nil {
		return fmt.Errorf("pricing refresh: %w (the embedded table stays in use)", err)
	}
	var rs []string
	if *regions != "" {
		rs = strings.Split(*regions, ",")
	}
	c, err := pricing.Refresh(ctx, client, base, rs)
	if err != nil {
		return fmt.Errorf("pricing refresh: %w (the embedded table stays in use)", err)
	}
	if *spot {
		for _, r := range c.Regions() {
			sc, err := pricing.NewSpotClient(ctx, r)
			if err != nil {
				return err
			}
			if c, err = pricing.RefreshSpot(ctx, sc, c, r); err != nil {
				return fmt.Errorf("spot prices in %s: %w", r, err)
			}
		}
	}
	if err := c.Save(pricing.CachePath()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pricing: %d instance types written to %s\n", len(c.Instances), pricing.CachePath())
	return nil
}
