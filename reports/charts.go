package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is one rendered figure.
type chart struct {
	name, title, alt string // name: file name without extension
	png, svg         []byte
}

// figure is a plot waiting to be rendered, with its legend drawn to the
// right of the plot rather than over the data.
type figure struct {
	name, alt     string
	plot          *plot.Plot
	legend        *plot.Legend
	width, height vg.Length
}

const (
	chartDPI    = 110
	chartHeight = 4.5 * vg.Inch
	barWidth    = vg.Length(12)
	labelSize   = vg.Length(7.5)
	legendPad   = vg.Length(10)
)

// charts renders every chart that has data and says which it skipped.
func charts(r *Report) (out []chart, skipped []string, err error) {
	colors := newPalette(r)
	builders := []func(*Report, palette) (*figure, string){
		relativeCostFigure, liveStreamsFigure, liveStreamsPerDollarFigure, fpsFigure, rungSizeFigure, qualityFigure,
	}
	for _, build := range builders {
		f, skip := build(r, colors)
		if f == nil {
			if skip != "" {
				skipped = append(skipped, skip)
			}
			continue
		}
		c, err := f.render()
		if err != nil {
			return nil, nil, fmt.Errorf("chart %s: %w", f.name, err)
		}
		out = append(out, c)
	}
	return out, skipped, nil
}

// render draws the figure as PNG and SVG.
func (f *figure) render() (chart, error) {
	c := chart{name: f.name, title: f.plot.Title.Text, alt: f.alt}
	var err error
	png := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(f.width, f.height), vgimg.UseDPI(chartDPI))}
	if c.png, err = f.draw(png); err != nil {
		return c, err
	}
	c.svg, err = f.draw(vgsvg.New(f.width, f.height))
	return c, err
}

func (f *figure) draw(cv vg.CanvasWriterTo) ([]byte, error) {
	dc := draw.New(cv)
	area := dc
	if f.legend != nil {
		lw := legendWidth(f.legend, dc)
		area = draw.Crop(dc, 0, -(lw + 2*legendPad), 0, 0)
		top := f.plot.Title.TextStyle.Height(f.plot.Title.Text) + 2*legendPad
		f.legend.Draw(draw.Crop(dc, f.width-lw-legendPad, -legendPad, 0, -top))
	}
	f.plot.Draw(area)
	var buf bytes.Buffer
	if _, err := cv.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func legendWidth(l *plot.Legend, c draw.Canvas) vg.Length {
	r := l.Rectangle(c)
	return r.Max.X - r.Min.X
}

// newPlot is a plot with the report's common style.
// Nominal x axes get horizontal grid lines only.
func newPlot(title, xLabel, yLabel string, vgrid bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(13)
	p.Title.Padding = 8
	p.X.Label.Text, p.X.Label.TextStyle.Font = xLabel, sans(11)
	p.Y.Label.Text, p.Y.Label.TextStyle.Font = yLabel, sans(11)
	p.X.Tick.Label.Font, p.Y.Tick.Label.Font = sans(10), sans(10)
	grid := plotter.NewGrid()
	grid.Horizontal.Color = color.Gray{0xdd}
	grid.Vertical.Color = color.Gray{0xdd}
	if !vgrid {
		grid.Vertical.Color = nil
	}
	p.Add(grid)
	return p
}

// sans is the charts' font.
func sans(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

// logTicks labels 1, 2 and 5 times the powers of ten on a log axis, with
// unlabelled ticks between; every tick when that would label fewer than
// three.
func logTicks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				labelled++
			}
			ticks = append(ticks, t)
		}
	}
	if labelled < 3 {
		for i := range ticks {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', -1, 64)
		}
	}
	return ticks
}

// intTicks labels whole numbers only.
func intTicks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil((hi-lo)/6))
	var ticks []plot.Tick
	for v := math.Ceil(lo); v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}

func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.TextStyle.Font = sans(10)
	l.Padding = 3
	l.ThumbnailWidth = 16
	return &l
}

// configName is how charts name an encoder configuration.
func configName(codec, preset string) string { return codec + " " + preset }

// palette gives each encoder configuration of the report the same color in
// every chart, with a lighter shade for a second variant of it.
type palette struct{ configs []string } // sorted

func newPalette(r *Report) palette {
	var p palette
	add := func(codec, preset string) {
		if n := configName(codec, preset); !slices.Contains(p.configs, n) {
			p.configs = append(p.configs, n)
		}
	}
	for _, b := range r.BatchRows {
		add(b.Codec, b.Preset)
	}
	for _, l := range r.LiveRows {
		add(l.Codec, l.Preset)
	}
	slices.Sort(p.configs)
	return p
}

func (p palette) color(config string) color.Color { return p.shade(config, 0) }

// shade is the color of the variant-th variant of config: the even variants
// dark, the odd ones light.
func (p palette) shade(config string, variant int) color.Color {
	// Tableau 20: pairs of a dark and a light shade of ten hues.
	tableau := [...]color.RGBA{
		{0x4e, 0x79, 0xa7, 0xff}, {0xa0, 0xcb, 0xe8, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}, {0xff, 0xbe, 0x7d, 0xff},
		{0x59, 0xa1, 0x4f, 0xff}, {0x8c, 0xd1, 0x7d, 0xff}, {0xb6, 0x99, 0x2d, 0xff}, {0xf1, 0xce, 0x63, 0xff},
		{0x49, 0x98, 0x94, 0xff}, {0x86, 0xbc, 0xb6, 0xff}, {0xe1, 0x57, 0x59, 0xff}, {0xff, 0x9d, 0x9a, 0xff},
		{0x79, 0x70, 0x6e, 0xff}, {0xba, 0xb0, 0xac, 0xff}, {0xd3, 0x72, 0x95, 0xff}, {0xfa, 0xbf, 0xd2, 0xff},
		{0xb0, 0x7a, 0xa1, 0xff}, {0xd4, 0xa6, 0xc8, 0xff}, {0x9d, 0x76, 0x60, 0xff}, {0xd7, 0xb5, 0xa6, 0xff},
	}
	i, _ := slices.BinarySearch(p.configs, config)
	return tableau[(2*i+variant%2)%len(tableau)]
}

// bar is one bar of a grouped bar chart.
type bar struct {
	group, series string
	color         color.Color
	value         float64
	missing       bool // unavailable: no bar, labelled n/a
}

// barChart lays out grouped bars: one group per x category, in each group
// the series present there side by side.
type barChart struct {
	name, title, alt, yLabel string
	bars                     []bar
	groups                   []string             // display order; sorted when nil
	format                   func(float64) string // value labels above the bars; nil for none
	refLine                  float64              // dashed line at this y when > 0
	refLabel                 string
	wholeNumbers             bool // y ticks at whole numbers only
}

// add adds a bar unless its group already has one of its series.
func (c *barChart) add(b bar) {
	if !slices.ContainsFunc(c.bars, func(o bar) bool { return o.group == b.group && o.series == b.series }) {
		c.bars = append(c.bars, b)
	}
}

// figure lays out the chart, or is nil when no bar has a value.
func (c barChart) figure() *figure {
	if !slices.ContainsFunc(c.bars, func(b bar) bool { return !b.missing }) {
		return nil
	}
	groups := c.groups
	if groups == nil {
		groups = sortedUnique(c.bars, func(b bar) string { return b.group })
	}
	series := sortedUnique(c.bars, func(b bar) string { return b.series })
	p := newPlot(c.title, "", c.yLabel, false)
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.Y.Min = 0
	if c.wholeNumbers {
		p.Y.Tick.Marker = plot.TickerFunc(intTicks)
	}

	slots := map[string][]bar{} // per group, in series order
	maxSlots, ymax := 1, c.refLine
	for _, b := range c.bars {
		slots[b.group] = append(slots[b.group], b)
		ymax = math.Max(ymax, b.value)
	}
	for _, bs := range slots {
		slices.SortStableFunc(bs, func(a, b bar) int {
			return cmp.Compare(slices.Index(series, a.series), slices.Index(series, b.series))
		})
		maxSlots = max(maxSlots, len(bs))
	}
	colors := map[string]color.Color{}
	for gi, g := range groups {
		bs := slots[g]
		for i, b := range bs {
			colors[b.series] = cmp.Or(colors[b.series], b.color)
			offset := (vg.Length(i) - vg.Length(len(bs)-1)/2) * barWidth
			switch {
			case b.missing:
				p.Add(valueLabel(float64(gi), 0, offset, "n/a"))
				continue
			case b.value > 0:
				p.Add(&plotter.BarChart{Values: plotter.Values{b.value}, Width: barWidth, Color: b.color, XMin: float64(gi), Offset: offset})
			}
			if c.format != nil {
				p.Add(valueLabel(float64(gi), b.value, offset, c.format(b.value)))
			}
		}
	}
	if c.format != nil {
		ymax *= 1.15 // room for the labels above the bars
	}
	p.Y.Max = math.Max(ymax, 1) * 1.05

	l := newLegend()
	for _, s := range series {
		l.Add(s, swatch{colors[s]})
	}
	if c.refLine > 0 {
		ref := plotter.NewFunction(func(float64) float64 { return c.refLine })
		ref.LineStyle = draw.LineStyle{Color: color.Gray{0x40}, Width: 1, Dashes: []vg.Length{4, 3}}
		p.Add(ref)
		l.Add(c.refLabel, ref)
	}
	return &figure{name: c.name, alt: c.alt, plot: p, legend: l, width: figureWidth(len(groups), maxSlots, l), height: chartHeight}
}

// figureWidth leaves room for groups of slots bars side by side and the
// legend.
func figureWidth(groups, slots int, l *plot.Legend) vg.Length {
	w := vg.Length(groups*(slots+2))*barWidth + 1.2*vg.Inch
	return max(w, 6*vg.Inch) + legendWidth(l, draw.Canvas{}) + 2*legendPad
}

// sortedUnique is the sorted distinct keys of xs.
func sortedUnique[T any](xs []T, key func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, key(x))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// busiest is the key with the highest count: on ties AllSources, then the
// first in order.
func busiest(count map[string]int) string {
	return slices.MaxFunc(slices.Sorted(maps.Keys(count)), func(a, b string) int {
		return cmp.Or(cmp.Compare(count[a], count[b]), cmp.Compare(sourceRank(a), sourceRank(b)), strings.Compare(b, a))
	})
}

// valueLabel writes s upwards from just above (x, y), shifted by dx points.
func valueLabel(x, y float64, dx vg.Length, s string) *plotter.Labels {
	return &plotter.Labels{
		XYs:    plotter.XYs{{X: x, Y: y}},
		Labels: []string{s},
		TextStyle: []text.Style{{
			Font:     sans(labelSize),
			Handler:  plot.DefaultTextHandler,
			Rotation: math.Pi / 2,
			XAlign:   draw.XLeft,
			YAlign:   draw.YCenter,
			Color:    color.Gray{0x30},
		}},
		Offset: vg.Point{X: dx, Y: 2},
	}
}

// swatch is a legend thumbnail of a plain color.
type swatch struct{ color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(s.Color, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}

func formatFixed(prec int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
}

func sourceLabel(source string) string {
	if source == AllSources {
		return "mean over all sources"
	}
	return "source " + source
}

// relativeCostFigure is the study's batch chart: relative cost per instance
// type and configuration, for the source (or the all-sources average) that
// covers the most configurations.
func relativeCostFigure(r *Report, colors palette) (*figure, string) {
	count := map[string]int{}
	for _, b := range r.BatchRows {
		if b.RelativeCost > 0 {
			count[b.Source]++
		}
	}
	if len(count) == 0 {
		return nil, "Chart relative-cost skipped: no relative costs."
	}
	source := busiest(count)
	c := barChart{
		name:     "relative-cost",
		title:    fmt.Sprintf("Batch encoding cost per 1M frames\nrelative to x264 ultrafast on %s (%s)", r.Reference, sourceLabel(source)),
		alt:      fmt.Sprintf("Grouped bar chart of the cost of encoding one million frames per instance type and encoder configuration, relative to x264 ultrafast on %s; %s.", r.Reference, sourceLabel(source)),
		yLabel:   "relative cost (lower is cheaper)",
		format:   formatFixed(2),
		refLine:  1,
		refLabel: "reference = 1.0",
	}
	for _, b := range r.BatchRows {
		name := configName(b.Codec, b.Preset)
		switch {
		case b.RelativeCost > 0 && b.Source == source:
			c.add(bar{group: b.InstanceType, series: name, color: colors.color(name), value: b.RelativeCost})
		case b.Unavailable && (b.Source == source || source == AllSources):
			c.add(bar{group: b.InstanceType, series: name, color: colors.color(name), missing: true})
		}
	}
	return c.figure(), ""
}

// liveBars is a bar per live row with value v, its series named by the
// configuration, and by the source too when the live rows have several.
func liveBars(r *Report, colors palette, keep func(LiveRow) bool, v func(LiveRow) float64) []bar {
	several := len(sortedUnique(r.LiveRows, func(l LiveRow) string { return l.Source })) > 1
	var bars []bar
	for _, l := range r.LiveRows {
		if !keep(l) {
			continue
		}
		config := configName(l.Codec, l.Preset)
		series := config
		if several {
			series += " (" + l.Source + ")"
		}
		bars = append(bars, bar{group: l.InstanceType, series: series, color: colors.color(config), value: v(l), missing: l.Unavailable})
	}
	return bars
}

func liveStreamsFigure(r *Report, colors palette) (*figure, string) {
	if len(r.LiveRows) == 0 {
		return nil, "Charts live-streams and live-streams-per-dollar skipped: no live results."
	}
	c := barChart{
		name:         "live-streams",
		title:        "Live streams sustained per instance",
		alt:          "Grouped bar chart of the number of live ABR ladders each instance type sustains in real time, per encoder configuration.",
		yLabel:       "live streams sustained",
		format:       formatFixed(0),
		wholeNumbers: true,
		bars: liveBars(r, colors, func(LiveRow) bool { return true },
			func(l LiveRow) float64 { return float64(l.Streams) }),
	}
	if f := c.figure(); f != nil {
		return f, ""
	}
	return nil, "Charts live-streams and live-streams-per-dollar skipped: every live case was unavailable."
}

func liveStreamsPerDollarFigure(r *Report, colors palette) (*figure, string) {
	c := barChart{
		name:   "live-streams-per-dollar",
		title:  "Live streams sustained per $/h of instance",
		alt:    "Grouped bar chart of live streams sustained per dollar per hour of on-demand instance price, per instance type and encoder configuration.",
		yLabel: "streams per $/h",
		format: formatFixed(2),
		bars: liveBars(r, colors, func(l LiveRow) bool { return l.USDPerHour > 0 || l.Unavailable },
			func(l LiveRow) float64 { return l.StreamsPerDollarHour }),
	}
	if f := c.figure(); f != nil {
		return f, ""
	}
	if !slices.ContainsFunc(r.LiveRows, func(l LiveRow) bool { return !l.Unavailable }) {
		return nil, "" // said with live-streams
	}
	return nil, "Chart live-streams-per-dollar skipped: no priced live results."
}

// fpsFigure shows the median throughput of every measured batch row, with
// the 95% confidence interval of the mean as error bars, on a log scale.
func fpsFigure(r *Report, colors palette) (*figure, string) {
	rows := slices.DeleteFunc(slices.Clone(r.BatchRows), func(b BatchRow) bool { return b.FPS.N == 0 })
	if len(rows) == 0 {
		return nil, "Chart fps skipped: no batch throughput."
	}
	several := len(sortedUnique(rows, func(b BatchRow) string { return b.Source })) > 1
	group := func(b BatchRow) string {
		if several {
			return b.InstanceType + "\n" + b.Source
		}
		return b.InstanceType
	}
	groups := sortedUnique(rows, group)
	series := sortedUnique(rows, func(b BatchRow) string { return configName(b.Codec, b.Preset) })
	slots := map[string][]string{} // per group, sorted: rows are sorted by configuration
	maxSlots := 1
	for _, b := range rows {
		g := group(b)
		slots[g] = append(slots[g], configName(b.Codec, b.Preset))
		maxSlots = max(maxSlots, len(slots[g]))
	}

	p := newPlot("Batch throughput (median, 95% CI of the mean)", "", "source frames/s, all jobs (log scale)", false)
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.TickerFunc(logTicks)
	step := 0.8 / float64(maxSlots)
	ymin, ymax := math.Inf(1), 0.0
	thumbs := map[string]plot.Thumbnailer{}
	for _, b := range rows {
		s, ss := configName(b.Codec, b.Preset), slots[group(b)]
		x := float64(slices.Index(groups, group(b))) + (float64(slices.Index(ss, s))-float64(len(ss)-1)/2)*step
		m := b.FPS.Median
		lo := math.Min(math.Max(0, m-b.FPS.CI95Low), 0.9*m) // stays positive for the log scale
		hi := math.Max(0, b.FPS.CI95High-m)
		ymin, ymax = math.Min(ymin, m-lo), math.Max(ymax, m+hi)
		xy := plotter.XYs{{X: x, Y: m}}
		col := colors.color(s)
		point := &plotter.Scatter{XYs: xy, GlyphStyle: draw.GlyphStyle{Color: col, Radius: 3.5, Shape: draw.CircleGlyph{}}}
		p.Add(&plotter.YErrorBars{XYs: xy, YErrors: plotter.YErrors{{Low: lo, High: hi}}, LineStyle: draw.LineStyle{Color: col, Width: 1}, CapWidth: 6}, point)
		if _, ok := thumbs[s]; !ok {
			thumbs[s] = point
		}
	}
	p.Y.Min, p.Y.Max = ymin/1.5, ymax*1.5
	l := newLegend()
	for _, s := range series {
		l.Add(s, thumbs[s])
	}
	return &figure{
		name:   "fps",
		alt:    "Dot plot of the median batch throughput in source frames per second per instance type and encoder configuration, with error bars for the 95% confidence interval of the mean, on a log scale.",
		plot:   p,
		legend: l,
		width:  figureWidth(len(groups), maxSlots, l),
		height: chartHeight,
	}, ""
}

// ladder is the rungs of one configuration, for the rung charts.
type ladder struct {
	name, config string // config: codec and preset, for the color
	variant      int    // how many ladders of the same config come before
	rungs        []RungRow
}

// ladders groups the rung rows of the source with the most of them by
// configuration. A configuration that gives the same bytes and quality on
// every instance type is one ladder; others are one per instance type.
func ladders(r *Report) (source string, out []ladder) {
	if len(r.RungRows) == 0 {
		return "", nil
	}
	count := map[string]int{}
	for _, g := range r.RungRows {
		count[g.Source]++
	}
	source = busiest(count)
	byConfig := map[string][][]RungRow{} // per instance type; rows are sorted by instance type
	for _, g := range r.RungRows {
		if g.Source != source {
			continue
		}
		c := configName(g.Codec, g.Preset)
		ls := byConfig[c]
		if n := len(ls); n > 0 && ls[n-1][0].InstanceType == g.InstanceType {
			ls[n-1] = append(ls[n-1], g)
		} else {
			ls = append(ls, []RungRow{g})
		}
		byConfig[c] = ls
	}
	same := func(a, b []RungRow) bool {
		return slices.EqualFunc(a, b, func(x, y RungRow) bool {
			return x.Rung == y.Rung && x.Bytes == y.Bytes && x.BitrateKbps == y.BitrateKbps && x.PSNR == y.PSNR && x.XPSNR == y.XPSNR
		})
	}
	for _, c := range slices.Sorted(maps.Keys(byConfig)) {
		ls := byConfig[c]
		if !slices.ContainsFunc(ls[1:], func(l []RungRow) bool { return !same(l, ls[0]) }) {
			out = append(out, ladder{name: c, config: c, rungs: ls[0]})
			continue
		}
		for i, l := range ls {
			out = append(out, ladder{name: c + " (" + l[0].InstanceType + ")", config: c, variant: i, rungs: l})
		}
	}
	return source, out
}

func rungSizeFigure(r *Report, colors palette) (*figure, string) {
	source, ls := ladders(r)
	if len(ls) == 0 {
		return nil, "Charts rung-size and quality-bitrate skipped: no rung figures."
	}
	c := barChart{
		name:   "rung-size",
		title:  fmt.Sprintf("Output size per rung (source %s)", source),
		alt:    fmt.Sprintf("Grouped bar chart of the output size in megabytes of each ladder rung, per encoder configuration, for source %s.", source),
		yLabel: "output size (MB)",
	}
	for _, l := range ls {
		for _, g := range l.rungs { // by decreasing height
			if !slices.Contains(c.groups, g.Rung) {
				c.groups = append(c.groups, g.Rung)
			}
			c.add(bar{group: g.Rung, series: l.name, color: colors.shade(l.config, l.variant), value: float64(g.Bytes) / 1e6})
		}
	}
	return c.figure(), ""
}

func qualityFigure(r *Report, colors palette) (*figure, string) {
	source, ls := ladders(r)
	if len(ls) == 0 {
		return nil, "" // said with rung-size
	}
	metric, get := "XPSNR", func(g RungRow) float64 { return g.XPSNR }
	for _, l := range ls {
		if slices.ContainsFunc(l.rungs, func(g RungRow) bool { return g.XPSNR <= 0 }) {
			metric, get = "PSNR", func(g RungRow) float64 { return g.PSNR }
		}
	}
	p := newPlot(fmt.Sprintf("%s against bitrate per rung (source %s)", metric, source), "bitrate (kbit/s, log scale)", metric+" (dB)", true)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.TickerFunc(logTicks)
	l := newLegend()
	var lines int
	for _, ld := range ls {
		var xys plotter.XYs
		for _, g := range ld.rungs {
			if g.BitrateKbps > 0 {
				xys = append(xys, plotter.XY{X: g.BitrateKbps, Y: get(g)})
			}
		}
		if len(xys) == 0 {
			continue
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		col := colors.shade(ld.config, ld.variant)
		line := &plotter.Line{XYs: xys, LineStyle: draw.LineStyle{Color: col, Width: 1.5, Dashes: plotutil.Dashes(ld.variant)}}
		points := &plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{Color: col, Radius: 3, Shape: plotutil.Shape(ld.variant)}}
		p.Add(line, points)
		l.Add(ld.name, line, points)
		lines++
	}
	if lines == 0 {
		return nil, "Chart quality-bitrate skipped: no bitrates."
	}
	return &figure{
		name:   "quality-bitrate",
		alt:    fmt.Sprintf("Line chart of %s in decibels against bitrate for each ladder rung, one line per encoder configuration, for source %s.", metric, source),
		plot:   p,
		legend: l,
		width:  7*vg.Inch + legendWidth(l, draw.Canvas{}) + 2*legendPad,
		height: chartHeight,
	}, ""
}
