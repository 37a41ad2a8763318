package pricing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awspricing "github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
)

// fakePricing serves pages of PriceList documents keyed by "type|location",
// paginating with NextToken "1", "2"…; a missing key is an empty result.
type fakePricing struct {
	t     *testing.T
	pages map[string][][]string
	err   error
}

func (f fakePricing) GetProducts(ctx context.Context, in *awspricing.GetProductsInput, _ ...func(*awspricing.Options)) (*awspricing.GetProductsOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	want := map[string]string{"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
	got := map[string]string{}
	for _, fl := range in.Filters {
		if fl.Type != pricingtypes.FilterTypeTermMatch {
			f.t.Errorf("filter %s: type %s", aws.ToString(fl.Field), fl.Type)
		}
		got[aws.ToString(fl.Field)] = aws.ToString(fl.Value)
	}
	for k, v := range want {
		if got[k] != v {
			f.t.Errorf("filter %s = %q, want %q", k, got[k], v)
		}
	}
	if aws.ToString(in.ServiceCode) != "AmazonEC2" || len(got) != 6 {
		f.t.Errorf("ServiceCode %q, filters %v", aws.ToString(in.ServiceCode), got)
	}
	pages := f.pages[got["instanceType"]+"|"+got["location"]]
	i, _ := strconv.Atoi(aws.ToString(in.NextToken))
	out := &awspricing.GetProductsOutput{}
	if i < len(pages) {
		out.PriceList = pages[i]
	}
	if i+1 < len(pages) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

// product is a PriceList document in the Pricing API's format, trimmed to
// the attributes that identify it.
func product(typ, location, usd string) string {
	return fmt.Sprintf(`{"product":{"productFamily":"Compute Instance","attributes":{"instanceType":%q,"location":%q,`+
		`"operatingSystem":"Linux","tenancy":"Shared","preInstalledSw":"NA","capacitystatus":"Used","licenseModel":"No License required"},"sku":"TESTSKU"},`+
		`"serviceCode":"AmazonEC2","terms":{"OnDemand":{"TESTSKU.JRTCKXETXF":{"priceDimensions":{"TESTSKU.JRTCKXETXF.6YS6EN2CT7":`+
		`{"unit":"Hrs","endRange":"Inf","description":"On Demand Linux","appliesTo":[],"rateCode":"TESTSKU.JRTCKXETXF.6YS6EN2CT7","beginRange":"0","pricePerUnit":{"USD":%q}}},`+
		`"sku":"TESTSKU","effectiveDate":"2025-01-01T00:00:00Z","offerTermCode":"JRTCKXETXF","termAttributes":{}}},`+
		`"Reserved":{"TESTSKU.4NA7Y494T4":{"priceDimensions":{"TESTSKU.4NA7Y494T4.6YS6EN2CT7":{"unit":"Hrs","pricePerUnit":{"USD":"0.0100000000"}}}}}},`+
		`"version":"20250101000000","publicationDate":"2025-01-01T00:00:00Z"}`, typ, location, usd)
}

type refreshCase struct {
	name    string
	pages   map[string][][]string
	regions []string
	want    map[string]map[string]float64 // type → region → $/h; types listed are refreshed there
	err     string
}

func refreshCases(t testing.TB) []refreshCase {
	real, err := os.ReadFile("testdata/getproducts-c6i.4xlarge-us-east-1.json")
	if err != nil {
		t.Fatal(err)
	}
	const va, ie = "US East (N. Virginia)", "EU (Ireland)"
	return []refreshCase{
		{
			name: "refresh, paginate, keep missing",
			pages: map[string][][]string{
				"c6i.4xlarge|" + va: {{string(real)}},
				"c6i.4xlarge|" + ie: {{}, {product("c6i.4xlarge", ie, "0.7680000000")}}, // second page
				"g4dn.xlarge|" + ie: {{product("g4dn.xlarge", ie, "0.5790000000")}},
				// g4dn.xlarge in us-east-1: nothing, keeps 0.526 from base.
			},
			want: map[string]map[string]float64{"c6i.4xlarge": {"us-east-1": 0.68, "eu-west-1": 0.768}, "g4dn.xlarge": {"eu-west-1": 0.579}},
		},
		{
			name:    "one region",
			pages:   map[string][][]string{"g4dn.xlarge|US West (Oregon)": {{product("g4dn.xlarge", "US West (Oregon)", "0.5260000000")}}},
			regions: []string{"us-west-2"},
			want:    map[string]map[string]float64{"g4dn.xlarge": {"us-west-2": 0.526}},
		},
		{
			name:  "same price twice",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{string(real)}, {product("c6i.4xlarge", va, "0.68")}}},
			want:  map[string]map[string]float64{"c6i.4xlarge": {"us-east-1": 0.68}},
		},
		{
			name:  "zero price ignored",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{product("c6i.4xlarge", va, "0.0000000000")}}},
			want:  map[string]map[string]float64{},
		},
		{
			name:  "unparseable document",
			pages: map[string][][]string{"g4dn.xlarge|" + ie: {{product("g4dn.xlarge", ie, "0.579")}, {`{"product":`}}},
			err:   "pricing: refresh g4dn.xlarge in eu-west-1: GetProducts page 2, product 0: unparseable price list document: ",
		},
		{
			name:  "document for another type",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{product("c6i.8xlarge", va, "1.36")}}},
			err:   `pricing: refresh c6i.4xlarge in us-east-1: GetProducts page 1, product 0: price list document for instance type "c6i.8xlarge", want "c6i.4xlarge"`,
		},
		{
			name:  "bad USD",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{product("c6i.4xlarge", va, "$0.68")}}},
			err:   `pricing: refresh c6i.4xlarge in us-east-1: GetProducts page 1, product 0: on-demand term TESTSKU.JRTCKXETXF, dimension TESTSKU.JRTCKXETXF.6YS6EN2CT7: USD "$0.68": `,
		},
		{
			name:  "bad unit",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{strings.Replace(product("c6i.4xlarge", va, "0.68"), `"Hrs"`, `"Quantity"`, 1)}}},
			err:   `unit "Quantity", want Hrs`,
		},
		{
			name:  "conflicting prices",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{string(real), product("c6i.4xlarge", va, "0.7")}}},
			err:   "pricing: refresh c6i.4xlarge in us-east-1: 2 different on-demand prices [0.68 0.7], want one",
		},
		{
			name:  "price out of range",
			pages: map[string][][]string{"c6i.4xlarge|" + va: {{product("c6i.4xlarge", va, "1000")}}},
			err:   "pricing: refresh: result invalid: instance 0 (\"c6i.4xlarge\"): prices: us-east-1: usd_per_hour 1000 out of range",
		},
		{
			name:    "unknown region",
			regions: []string{"xx-nowhere-1"},
			err:     `pricing: refresh: no Pricing API location known for region "xx-nowhere-1" (known: af-south-1, ap-east-1,`,
		},
	}
}

func TestRefresh(t *testing.T) {
	for _, tt := range refreshCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			base, err := Parse([]byte(validJSON))
			if err != nil {
				t.Fatal(err)
			}
			before := base.clone()
			day := time.Now().UTC().Format(time.DateOnly)
			got, err := Refresh(t.Context(), fakePricing{t: t, pages: tt.pages}, base, tt.regions)
			if !reflect.DeepEqual(base, before) {
				t.Error("Refresh modified its base")
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Refresh error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			today := func(d string) bool { return d == day || d == time.Now().UTC().Format(time.DateOnly) }
			for _, in := range got.Instances {
				old, _ := base.Lookup(in.Type)
				for region, p := range in.Prices {
					if usd, ok := tt.want[in.Type][region]; ok {
						if p.USDPerHour != usd || !today(p.Date) || p.Source != RefreshSource {
							t.Errorf("%s %s: %+v, want $%v/h refreshed today", in.Type, region, p, usd)
						}
					} else if p != old.Prices[region] {
						t.Errorf("%s %s: %+v, want the base's %+v", in.Type, region, p, old.Prices[region])
					}
				}
				for region := range tt.want[in.Type] {
					if _, ok := in.Prices[region]; !ok {
						t.Errorf("%s: no %s price", in.Type, region)
					}
				}
			}
			if !today(got.Generated) || !strings.HasPrefix(got.Source, RefreshSource) {
				t.Errorf("generated %q, source %q", got.Generated, got.Source)
			}
			checkRoundTrip(t, got)
		})
	}
}

func TestRefreshErrors(t *testing.T) {
	boom := errors.New("throttled")
	base, _ := Parse([]byte(validJSON))
	if _, err := Refresh(t.Context(), fakePricing{t: t, err: boom}, base, nil); !errors.Is(err, boom) ||
		!strings.HasPrefix(err.Error(), "pricing: refresh c6i.4xlarge in eu-west-1: GetProducts page 1: throttled") {
		t.Errorf("client error: %v", err)
	}
	if _, err := Refresh(t.Context(), fakePricing{t: t}, nil, nil); err == nil {
		t.Error("nil base: no error")
	}
}

// FuzzParseProduct: PriceList documents never panic the parser, and what it
// accepts is a set of positive prices.
func FuzzParseProduct(f *testing.F) {
	for _, tt := range refreshCases(f) {
		for _, pages := range tt.pages {
			for _, page := range pages {
				for _, doc := range page {
					f.Add(doc)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, doc string) {
		usd, err := parseProduct(doc, "c6i.4xlarge")
		for _, v := range usd {
			if err == nil && !(v > 0) {
				t.Fatalf("price %v", v)
			}
		}
	})
}

// fakeSpot serves spot price history in pages of one record.
type fakeSpot struct {
	t       *testing.T
	records []ec2types.SpotPrice
}

func (f fakeSpot) DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, _ ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error) {
	if !reflect.DeepEqual(in.ProductDescriptions, []string{"Linux/UNIX"}) || in.StartTime == nil ||
		!reflect.DeepEqual(in.InstanceTypes, []ec2types.InstanceType{"c6i.4xlarge", "g4dn.xlarge"}) {
		f.t.Errorf("input %+v", in)
	}
	i, _ := strconv.Atoi(aws.ToString(in.NextToken))
	out := &ec2.DescribeSpotPriceHistoryOutput{SpotPriceHistory: f.records[i : i+1]}
	if i+1 < len(f.records) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

func TestRefreshSpot(t *testing.T) {
	rec := func(typ, az, usd string) ec2types.SpotPrice {
		return ec2types.SpotPrice{InstanceType: ec2types.InstanceType(typ), AvailabilityZone: aws.String(az),
			ProductDescription: "Linux/UNIX", SpotPrice: aws.String(usd), Timestamp: aws.Time(time.Now())}
	}
	for _, tt := range []struct {
		name    string
		records []ec2types.SpotPrice
		want    map[string]float64
		err     string
	}{
		{name: "cheapest zone", records: []ec2types.SpotPrice{
			rec("c6i.4xlarge", "us-east-1a", "0.300000"), rec("c6i.4xlarge", "us-east-1b", "0.250000"),
			rec("c6i.4xlarge", "us-east-1c", "0.280000"), rec("m5.large", "us-east-1a", "0.03"),
		}, want: map[string]float64{"c6i.4xlarge": 0.25}},
		{name: "bad price", records: []ec2types.SpotPrice{rec("g4dn.xlarge", "us-east-1a", "n/a")},
			err: `pricing: refresh spot g4dn.xlarge in us-east-1: price "n/a": `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, _ := Parse([]byte(validJSON))
			got, err := RefreshSpot(t.Context(), fakeSpot{t: t, records: tt.records}, base, "us-east-1")
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("RefreshSpot error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, in := range got.Instances {
				p, old := in.Spot["us-east-1"], base.Instances[i].Spot["us-east-1"]
				if usd, ok := tt.want[in.Type]; ok && (p.USDPerHour != usd || p.Source != SpotSource) || !ok && p != old {
					t.Errorf("%s: spot %+v, want $%v/h or the base's %+v", in.Type, p, usd, old)
				}
			}
			checkRoundTrip(t, got)
		})
	}
}
