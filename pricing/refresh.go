package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awspricing "github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
)

// Sources Refresh and RefreshSpot give the prices they set.
const (
	RefreshSource = "AWS Pricing API GetProducts"
	SpotSource    = "EC2 DescribeSpotPriceHistory (Linux/UNIX, cheapest availability zone)"
)

// PricingAPI is the AWS Pricing API call Refresh makes; *pricing.Client
// (github.com/aws/aws-sdk-go-v2/service/pricing) implements it.
type PricingAPI interface {
	GetProducts(ctx context.Context, in *awspricing.GetProductsInput, optFns ...func(*awspricing.Options)) (*awspricing.GetProductsOutput, error)
}

// SpotAPI is the EC2 call RefreshSpot makes; *ec2.Client implements it.
type SpotAPI interface {
	DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
}

// NewPricingClient returns a Pricing API client from the default AWS
// configuration (environment, shared files, IMDS), in us-east-1 where the
// Pricing API lives.
func NewPricingClient(ctx context.Context) (PricingAPI, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		return nil, fmt.Errorf("pricing: load AWS config: %w", err)
	}
	return awspricing.NewFromConfig(cfg), nil
}

// NewSpotClient returns an EC2 client for region from the default AWS
// configuration.
func NewSpotClient(ctx context.Context, region string) (SpotAPI, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("pricing: load AWS config: %w", err)
	}
	return ec2.NewFromConfig(cfg), nil
}

// Refresh returns a copy of base with the on-demand Linux prices the Pricing
// API quotes for each of its types in each of regions (nil: base.Regions()),
// dated today (UTC) with source RefreshSource. A type the API has no price
// for in a region keeps the price it had, if any. Regions must be among those
// whose Pricing API location name is known (the common commercial ones).
func Refresh(ctx context.Context, client PricingAPI, base *Catalog, regions []string) (*Catalog, error) {
	if base == nil {
		return nil, errors.New("pricing: refresh: nil base catalog")
	}
	if len(regions) == 0 {
		regions = base.Regions()
	}
	locs := locations()
	for _, r := range regions {
		if _, ok := locs[r]; !ok {
			return nil, fmt.Errorf("pricing: refresh: no Pricing API location known for region %q (known: %s)",
				r, strings.Join(slices.Sorted(maps.Keys(locs)), ", "))
		}
	}
	out := base.clone()
	today := time.Now().UTC().Format(time.DateOnly)
	for i := range out.Instances {
		in := &out.Instances[i]
		for _, region := range regions {
			usd, ok, err := onDemand(ctx, client, in.Type, locs[region])
			if err != nil {
				return nil, fmt.Errorf("pricing: refresh %s in %s: %w", in.Type, region, err)
			}
			if ok {
				if in.Prices == nil {
					in.Prices = map[string]Price{}
				}
				in.Prices[region] = Price{USDPerHour: usd, Date: today, Source: RefreshSource}
			}
		}
	}
	out.Generated = today
	out.Source = RefreshSource + " where found; other prices as in the base catalog"
	if err := out.validate(); err != nil {
		return nil, fmt.Errorf("pricing: refresh: result invalid: %w", err)
	}
	return out, nil
}

// onDemand returns the hourly on-demand price of the Linux, shared-tenancy,
// no-preinstalled-software instanceType at location, and whether there was one.
func onDemand(ctx context.Context, client PricingAPI, instanceType, location string) (float64, bool, error) {
	term := func(field, value string) pricingtypes.Filter {
		return pricingtypes.Filter{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String(field), Value: aws.String(value)}
	}
	in := &awspricing.GetProductsInput{
		ServiceCode:   aws.String("AmazonEC2"),
		FormatVersion: aws.String("aws_v1"),
		Filters: []pricingtypes.Filter{
			term("instanceType", instanceType),
			term("location", location),
			term("operatingSystem", "Linux"),
			term("tenancy", "Shared"),
			term("preInstalledSw", "NA"),
			term("capacitystatus", "Used"),
		},
	}
	var usd []float64
	pages := awspricing.NewGetProductsPaginator(client, in, func(o *awspricing.GetProductsPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	for page := 1; pages.HasMorePages(); page++ {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("GetProducts page %d: %w", page, err)
		}
		for j, doc := range out.PriceList {
			ps, err := parseProduct(doc, instanceType)
			if err != nil {
				return 0, false, fmt.Errorf("GetProducts page %d, product %d: %w", page, j, err)
			}
			usd = append(usd, ps...)
		}
	}
	slices.Sort(usd)
	switch usd = slices.Compact(usd); len(usd) {
	case 0:
		return 0, false, nil
	case 1:
		return usd[0], true, nil
	}
	return 0, false, fmt.Errorf("%d different on-demand prices %v, want one", len(usd), usd)
}

// parseProduct returns the non-zero hourly USD on-demand prices in a Pricing
// API PriceList document, which must be for instanceType.
func parseProduct(doc, instanceType string) ([]float64, error) {
	var p struct {
		Product struct {
			Attributes struct {
				InstanceType string `json:"instanceType"`
			} `json:"attributes"`
		} `json:"product"`
		Terms struct {
			OnDemand map[string]struct {
				PriceDimensions map[string]struct {
					Unit         string `json:"unit"`
					PricePerUnit struct {
						USD string `json:"USD"`
					} `json:"pricePerUnit"`
				} `json:"priceDimensions"`
			} `json:"OnDemand"`
		} `json:"terms"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("unparseable price list document: %w", err)
	}
	if got := p.Product.Attributes.InstanceType; got != instanceType {
		return nil, fmt.Errorf("price list document for instance type %q, want %q", got, instanceType)
	}
	var usd []float64
	for code, term := range p.Terms.OnDemand {
		for dim, d := range term.PriceDimensions {
			v, err := strconv.ParseFloat(d.PricePerUnit.USD, 64)
			switch {
			case err != nil:
				return nil, fmt.Errorf("on-demand term %s, dimension %s: USD %q: %w", code, dim, d.PricePerUnit.USD, err)
			case d.Unit != "Hrs":
				return nil, fmt.Errorf("on-demand term %s, dimension %s: unit %q, want Hrs", code, dim, d.Unit)
			case v > 0:
				usd = append(usd, v)
			}
		}
	}
	return usd, nil
}

// RefreshSpot returns a copy of base with the current Linux/UNIX spot price in
// region, taken in its cheapest availability zone, of every type EC2 quotes
// there, dated today (UTC) with source SpotSource. client must be an EC2
// client for region (see NewSpotClient).
func RefreshSpot(ctx context.Context, client SpotAPI, base *Catalog, region string) (*Catalog, error) {
	if base == nil {
		return nil, errors.New("pricing: refresh spot: nil base catalog")
	}
	if !regionRE.MatchString(region) {
		return nil, fmt.Errorf("pricing: refresh spot: invalid region %q", region)
	}
	in := &ec2.DescribeSpotPriceHistoryInput{
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(time.Now()), // with no EndTime: the prices in force now
	}
	for _, i := range base.Instances {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(i.Type))
	}
	cheapest := map[string]float64{}
	pages := ec2.NewDescribeSpotPriceHistoryPaginator(client, in, func(o *ec2.DescribeSpotPriceHistoryPaginatorOptions) {
		o.StopOnDuplicateToken = true
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("pricing: refresh spot in %s: %w", region, err)
		}
		for _, sp := range out.SpotPriceHistory {
			t := string(sp.InstanceType)
			v, err := strconv.ParseFloat(aws.ToString(sp.SpotPrice), 64)
			if err != nil {
				return nil, fmt.Errorf("pricing: refresh spot %s in %s: price %q: %w", t, region, aws.ToString(sp.SpotPrice), err)
			}
			if old, ok := cheapest[t]; v > 0 && (!ok || v < old) {
				cheapest[t] = v
			}
		}
	}
	out := base.clone()
	today := time.Now().UTC().Format(time.DateOnly)
	for i := range out.Instances {
		in := &out.Instances[i]
		if v, ok := cheapest[in.Type]; ok {
			if in.Spot == nil {
				in.Spot = map[string]Price{}
			}
			in.Spot[region] = Price{USDPerHour: v, Date: today, Source: SpotSource}
		}
	}
	if err := out.validate(); err != nil {
		return nil, fmt.Errorf("pricing: refresh spot: result invalid: %w", err)
	}
	return out, nil
}

// locations maps region codes to the Pricing API's location names.
func locations() map[string]string {
	return map[string]string{
		"af-south-1":     "Africa (Cape Town)",
		"ap-east-1":      "Asia Pacific (Hong Kong)",
		"ap-northeast-1": "Asia Pacific (Tokyo)",
		"ap-northeast-2": "Asia Pacific (Seoul)",
		"ap-northeast-3": "Asia Pacific (Osaka)",
		"ap-south-1":     "Asia Pacific (Mumbai)",
		"ap-southeast-1": "Asia Pacific (Singapore)",
		"ap-southeast-2": "Asia Pacific (Sydney)",
		"ca-central-1":   "Canada (Central)",
		"eu-central-1":   "EU (Frankfurt)",
		"eu-north-1":     "EU (Stockholm)",
		"eu-south-1":     "EU (Milan)",
		"eu-west-1":      "EU (Ireland)",
		"eu-west-2":      "EU (London)",
		"eu-west-3":      "EU (Paris)",
		"me-south-1":     "Middle East (Bahrain)",
		"sa-east-1":      "South America (Sao Paulo)",
		"us-east-1":      "US East (N. Virginia)",
		"us-east-2":      "US East (Ohio)",
		"us-west-1":      "US West (N. California)",
		"us-west-2":      "US West (Oregon)",
	}
}
