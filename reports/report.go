package reports

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// AllSources is the Source of the batch rows that average a configuration's
// relative cost over every source the reference measured.
const AllSources = "all sources"

// Pricer gives the on-demand price of an instance type in a region, with the
// date and the source of that price.
type Pricer interface {
	Price(instanceType, region string) (usdPerHour float64, date, source string, err error)
}

// Options tune Build.
type Options struct {
	Reference   string // instance type whose x264 ultrafast cost is 1.0; default "c6i.4xlarge"
	Region      string // region every instance is priced in; default "us-east-1"
	PricingNote string // how prices were obtained, e.g. "embedded catalog (not refreshed)"
}

// Report is the merged view of results from many machines.
type Report struct {
	Generated time.Time
	Options
	Machines  []Machine // one per instance type, InstanceType set to the row label
	Prices    []PriceRow
	BatchRows []BatchRow
	LiveRows  []LiveRow
	RungRows  []RungRow
	Notes     []string
}

// PriceRow is the price used for one instance type.
type PriceRow struct {
	InstanceType, Region string
	USDPerHour           float64
	Date, Source         string
}

// BatchRow is the best throughput of one configuration on one instance type
// and what encoding a million frames with it costs.
type BatchRow struct {
	InstanceType, Source, Codec, Preset string
	Parallel                            int   // jobs at once of the best run; 0 in AllSources rows
	FPS                                 Stats // zero in AllSources rows
	USDPerHour                          float64
	PriceDate, PriceSource              string
	CostPer1MFrames                     float64 // USD; 0 when unpriced
	RelativeCost                        float64 // 0 when not available
	Unavailable                         bool
	Reason                              string
	Noisy                               bool
}

// LiveRow is how many live streams one configuration sustains on one
// instance type.
type LiveRow struct {
	InstanceType, Source, Codec, Preset string
	Streams                             int
	USDPerHour, StreamsPerDollarHour    float64
	Unavailable                         bool
	Reason                              string
}

// RungRow is one rung of the ladder encoded by the best run of a batch row.
type RungRow struct {
	InstanceType, Source, Codec, Preset, Rung string
	Width, Height                             int
	Bytes                                     int64
	BitrateKbps, PSNR, SSIM, XPSNR            float64
	VMAF                                      *float64
}

type configKey struct{ source, codec, preset string }

type batchKey struct {
	configKey
	mode     string
	parallel int
}

// machineRuns is everything measured on one instance type.
type machineRuns struct {
	label    string // instance type, or "unknown (run ID)"
	unknown  bool   // no instance type
	machine  Machine
	runIDs   []string
	replaced int
	versions []string // distinct FFmpeg versions
	batch    map[batchKey]BatchCase
	live     map[configKey]LiveCase
	price    *PriceRow
}

// Build merges results from many machines into a report. Results of the same
// instance type are merged case by case, the later run winning.
func Build(results []*Results, p Pricer, o Options) (*Report, error) {
	if len(results) == 0 {
		return nil, errors.New("no results")
	}
	for i, r := range results {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("results %d (run %q): %w", i, r.RunID, err)
		}
	}
	if o.Reference == "" {
		o.Reference = "c6i.4xlarge"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	rep := &Report{Generated: time.Now().UTC(), Options: o}
	ms := rep.merge(results)
	rep.price(ms, p)
	for _, m := range ms {
		rep.Machines = append(rep.Machines, m.machine)
	}
	rep.batch(ms)
	rep.live(ms)
	return rep, nil
}

func (r *Report) notef(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// merge groups results by instance type, sorted by label.
func (r *Report) merge(results []*Results) []*machineRuns {
	results = slices.Clone(results)
	slices.SortStableFunc(results, func(a, b *Results) int {
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.RunID, b.RunID))
	})
	byLabel := map[string]*machineRuns{}
	for _, res := range results {
		label, unknown := res.Machine.InstanceType, res.Machine.InstanceType == ""
		if unknown {
			label = fmt.Sprintf("unknown (run %s)", res.RunID)
		}
		m := byLabel[label]
		if m == nil {
			m = &machineRuns{label: label, unknown: unknown, batch: map[batchKey]BatchCase{}, live: map[configKey]LiveCase{}}
			byLabel[label] = m
		}
		m.machine = res.Machine
		m.machine.InstanceType = label
		m.runIDs = append(m.runIDs, res.RunID)
		if !slices.Contains(m.versions, res.Machine.FFmpegVersion) {
			m.versions = append(m.versions, res.Machine.FFmpegVersion)
		}
		for _, c := range res.Batch {
			k := batchKey{configKey{c.Source, c.Codec, c.Preset}, c.Mode, c.Parallel}
			if _, ok := m.batch[k]; ok {
				m.replaced++
			}
			m.batch[k] = c
		}
		for _, c := range res.Live {
			k := configKey{c.Source, c.Codec, c.Preset}
			if _, ok := m.live[k]; ok {
				m.replaced++
			}
			m.live[k] = c
		}
	}
	ms := slices.SortedFunc(maps.Values(byLabel), func(a, b *machineRuns) int {
		return strings.Compare(a.label, b.label)
	})
	for _, m := range ms {
		if len(m.runIDs) > 1 {
			r.notef("%s: merged %d results files (runs %s); later runs replace earlier ones case by case (%d replaced).",
				m.label, len(m.runIDs), strings.Join(m.runIDs, ", "), m.replaced)
		}
		if len(m.versions) > 1 {
			r.notef("%s: merged runs used different FFmpeg versions (%s).", m.label, strings.Join(m.versions, ", "))
		}
	}
	return ms
}

// price looks up the price of every known instance type.
func (r *Report) price(ms []*machineRuns, p Pricer) {
	for _, m := range ms {
		switch {
		case m.unknown:
			r.notef("%s: instance type unknown (instance source %q): fps shown, costs omitted.", m.label, m.machine.InstanceSource)
			continue
		case p == nil:
			r.notef("%s: no price source: fps shown, costs omitted.", m.label)
			continue
		}
		usd, date, source, err := p.Price(m.label, r.Region)
		if err == nil && usd <= 0 {
			err = fmt.Errorf("price %v is not positive", usd)
		}
		if err != nil {
			r.notef("%s: no price in %s (%v): fps shown, costs omitted.", m.label, r.Region, err)
			continue
		}
		m.price = &PriceRow{InstanceType: m.label, Region: r.Region, USDPerHour: usd, Date: date, Source: source}
		r.Prices = append(r.Prices, *m.price)
	}
}

// batch fills BatchRows and RungRows from the batch-mode cases.
func (r *Report) batch(ms []*machineRuns) {
	var liveMode int
	for _, m := range ms {
		groups := map[configKey][]BatchCase{}
		for k, c := range m.batch {
			if k.mode != "batch" {
				liveMode++
				continue
			}
			groups[k.configKey] = append(groups[k.configKey], c)
		}
		for k, cases := range groups {
			row, best := pick(m, k, cases)
			r.BatchRows = append(r.BatchRows, row)
			for _, g := range best.Rungs {
				r.RungRows = append(r.RungRows, RungRow{
					InstanceType: m.label, Source: k.source, Codec: k.codec, Preset: k.preset,
					Rung: g.Name, Width: g.Width, Height: g.Height, Bytes: g.Bytes,
					BitrateKbps: g.BitrateKbps, PSNR: g.PSNR, SSIM: g.SSIM, XPSNR: g.XPSNR, VMAF: g.VMAF,
				})
			}
		}
	}
	if liveMode > 0 {
		r.notef("Throughput cases measured with live rate control, not in the batch tables: %d.", liveMode)
	}
	r.relativeCosts(ms)
	slices.SortFunc(r.BatchRows, func(a, b BatchRow) int {
		return cmp.Or(strings.Compare(a.InstanceType, b.InstanceType),
			cmp.Compare(sourceRank(a.Source), sourceRank(b.Source)),
			strings.Compare(a.Source, b.Source),
			strings.Compare(a.Codec, b.Codec),
			strings.Compare(a.Preset, b.Preset))
	})
	slices.SortFunc(r.RungRows, func(a, b RungRow) int {
		return cmp.Or(strings.Compare(a.InstanceType, b.InstanceType),
			strings.Compare(a.Source, b.Source),
			strings.Compare(a.Codec, b.Codec),
			strings.Compare(a.Preset, b.Preset),
			cmp.Compare(b.Height, a.Height),
			strings.Compare(a.Rung, b.Rung))
	})
	var noisy int
	for _, b := range r.BatchRows {
		if b.FPS.Noisy {
			noisy++
		}
	}
	if noisy > 0 {
		r.notef("Noisy batch rows (coefficient of variation of fps above %.0f%%): %d. Their costs are less certain.", NoisyCV*100, noisy)
	}
}

// sourceRank sorts AllSources rows after the per-source rows.
func sourceRank(s string) int {
	if s == AllSources {
		return 1
	}
	return 0
}

// pick makes the row of one configuration from its runs at several levels of
// parallelism: the available one with the best median fps, the lowest
// parallelism on ties.
func pick(m *machineRuns, k configKey, cases []BatchCase) (BatchRow, BatchCase) {
	slices.SortFunc(cases, func(a, b BatchCase) int { return cmp.Compare(a.Parallel, b.Parallel) })
	row := BatchRow{InstanceType: m.label, Source: k.source, Codec: k.codec, Preset: k.preset}
	var (
		best       *BatchCase
		bestMedian float64
	)
	for i, c := range cases {
		if c.Unavailable {
			continue
		}
		if med := Summarize(c.Runs).Median; best == nil || med > bestMedian {
			best, bestMedian = &cases[i], med
		}
	}
	if best == nil {
		row.Unavailable, row.Reason, row.Parallel = true, cases[0].Reason, cases[0].Parallel
		return row, BatchCase{}
	}
	row.Parallel = best.Parallel
	row.FPS = Summarize(best.Runs)
	row.Noisy = row.FPS.Noisy
	if p := m.price; p != nil {
		row.USDPerHour, row.PriceDate, row.PriceSource = p.USDPerHour, p.Date, p.Source
		if row.FPS.Median > 0 {
			row.CostPer1MFrames = costPer1MFrames(p.USDPerHour, row.FPS.Median)
		}
	}
	return row, *best
}

func costPer1MFrames(usdPerHour, fps float64) float64 {
	return usdPerHour / (3600 * fps) * 1e6
}

// isReferenceConfig tells whether a configuration is the study's baseline,
// x264 ultrafast, by the encoder's short or FFmpeg name.
func isReferenceConfig(codec, preset string) bool {
	return (codec == "x264" || codec == "libx264") && preset == "ultrafast"
}

// relativeCosts divides every cost by the reference's cost for the same
// source and adds the AllSources rows.
func (r *Report) relativeCosts(ms []*machineRuns) {
	refMeasured := slices.ContainsFunc(ms, func(m *machineRuns) bool { return m.label == r.Reference })
	if !refMeasured {
		r.notef("Reference %s was not measured: relative costs are n/a.", r.Reference)
		return
	}
	ref := map[string]float64{} // source -> reference cost
	var sources []string
	for _, b := range r.BatchRows {
		if !slices.Contains(sources, b.Source) {
			sources = append(sources, b.Source)
		}
		if b.InstanceType == r.Reference && isReferenceConfig(b.Codec, b.Preset) && b.CostPer1MFrames > 0 {
			ref[b.Source] = b.CostPer1MFrames
		}
	}
	slices.Sort(sources)
	for _, s := range sources {
		if ref[s] == 0 {
			r.notef("Reference %s has no priced x264 ultrafast result for source %q: relative costs for it are n/a.", r.Reference, s)
		}
	}
	for i, b := range r.BatchRows {
		if c := ref[b.Source]; c > 0 && b.CostPer1MFrames > 0 {
			r.BatchRows[i].RelativeCost = b.CostPer1MFrames / c
		}
	}
	if len(ref) < 2 {
		return
	}

	// Average each configuration over every source the reference has.
	refSources := slices.Sorted(maps.Keys(ref))
	type acc struct {
		row       BatchRow
		n         int
		cost, rel float64
	}
	all := map[[3]string]*acc{}
	var keys [][3]string
	for _, b := range r.BatchRows {
		if b.Unavailable {
			continue
		}
		k := [3]string{b.InstanceType, b.Codec, b.Preset}
		a := all[k]
		if a == nil {
			a = &acc{row: BatchRow{
				InstanceType: b.InstanceType, Source: AllSources, Codec: b.Codec, Preset: b.Preset,
				USDPerHour: b.USDPerHour, PriceDate: b.PriceDate, PriceSource: b.PriceSource,
			}}
			all[k] = a
			keys = append(keys, k)
		}
		if b.RelativeCost > 0 {
			a.n++
			a.cost += b.CostPer1MFrames
			a.rel += b.RelativeCost
			a.row.Noisy = a.row.Noisy || b.Noisy
		}
	}
	partial := map[string][]string{}
	for _, k := range keys {
		a := all[k]
		switch a.n {
		case 0:
		case len(refSources):
			a.row.CostPer1MFrames = a.cost / float64(a.n)
			a.row.RelativeCost = a.rel / float64(a.n)
			r.BatchRows = append(r.BatchRows, a.row)
		default:
			partial[k[0]] = append(partial[k[0]], k[1]+" "+k[2])
		}
	}
	for _, it := range slices.Sorted(maps.Keys(partial)) {
		cfgs := partial[it]
		slices.Sort(cfgs)
		r.notef("%s: no %q relative cost for %s: not every source (%s) was measured.",
			it, AllSources, strings.Join(cfgs, ", "), strings.Join(refSources, ", "))
	}
}

// live fills LiveRows.
func (r *Report) live(ms []*machineRuns) {
	for _, m := range ms {
		for k, c := range m.live {
			row := LiveRow{
				InstanceType: m.label, Source: k.source, Codec: k.codec, Preset: k.preset,
				Streams: c.MaxSustained, Unavailable: c.Unavailable, Reason: c.Reason,
			}
			if c.Unavailable {
				row.Streams = 0
			} else if m.price != nil {
				row.USDPerHour = m.price.USDPerHour
				row.StreamsPerDollarHour = float64(row.Streams) / row.USDPerHour
			}
			r.LiveRows = append(r.LiveRows, row)
		}
	}
	slices.SortFunc(r.LiveRows, func(a, b LiveRow) int {
		return cmp.Or(strings.Compare(a.InstanceType, b.InstanceType),
			strings.Compare(a.Source, b.Source),
			strings.Compare(a.Codec, b.Codec),
			strings.Compare(a.Preset, b.Preset))
	})
}
