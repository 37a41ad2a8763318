package reports

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Write renders r into dir: charts as PNG and SVG, report.md, a
// self-contained report.html, and batch.csv, live.csv and rungs.csv. It
// returns the paths written. The output depends only on r.
func Write(dir string, r *Report) (files []string, err error) {
	cs, skipped, err := charts(r)
	if err != nil {
		return nil, err
	}
	notes := slices.Concat(r.Notes, skipped)
	ts := tables(r, notes)

	var md, page bytes.Buffer
	writeMarkdown(&md, r, cs, ts)
	if err := writeHTML(&page, r, cs, ts); err != nil {
		return nil, err
	}
	type file struct {
		name string
		data []byte
	}
	out := []file{
		{"report.md", md.Bytes()},
		{"report.html", page.Bytes()},
		{"batch.csv", batchCSV(r)},
		{"live.csv", liveCSV(r)},
		{"rungs.csv", rungsCSV(r)},
	}
	for _, c := range cs {
		out = append(out, file{c.name + ".png", c.png}, file{c.name + ".svg", c.svg})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, o := range out {
		p := filepath.Join(dir, o.name)
		if err := os.WriteFile(p, o.data, 0o644); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}

// table is one table of the report, rendered alike in Markdown and HTML.
type table struct {
	id, title, intro string
	header           []string
	right            []bool // right-aligned (numeric) columns
	rows             [][]string
}

const dash = "—"

func tables(r *Report, notes []string) []table {
	machines := table{
		id: "machines", title: "Machines",
		header: []string{"Instance", "Region", "Identified by", "CPU", "Cores", "Memory (MiB)", "GPUs", "FFmpeg", "abrfleet", "Go", "OS"},
		right:  []bool{4: true, 5: true},
	}
	for _, m := range r.Machines {
		machines.rows = append(machines.rows, []string{
			m.InstanceType, m.Region, m.InstanceSource, m.CPUModel, strconv.Itoa(m.Cores), strconv.Itoa(m.MemoryMB),
			orDash(strings.Join(m.GPUs, ", ")), m.FFmpegVersion, m.ProjectVersion, m.GoVersion, m.OS,
		})
	}

	batch := table{
		id: "batch", title: "Batch encoding",
		intro: fmt.Sprintf("Encoding one source into the whole ladder, at the number of parallel jobs with the best median throughput. "+
			"fps: source frames per second over all jobs, median ± half the 95%% confidence interval of the mean. "+
			"Cost: USD to encode one million source frames. Relative: cost over that of x264 ultrafast on %s for the same source; "+
			"%q rows average it over the sources. Noisy: coefficient of variation above %.0f%%.", r.Reference, AllSources, NoisyCV*100),
		header: []string{"Instance", "Source", "Codec", "Preset", "Jobs", "fps", "CV", "$/h", "$ per 1M frames", "Relative cost", "Status"},
		right:  []bool{4: true, 5: true, 6: true, 7: true, 8: true, 9: true},
	}
	for _, b := range r.BatchRows {
		row := []string{b.InstanceType, b.Source, b.Codec, b.Preset, dash, dash, dash, dash, dash, dash, "ok"}
		switch {
		case b.Unavailable:
			row[10] = "unavailable: " + b.Reason
			batch.rows = append(batch.rows, row)
			continue
		case b.Noisy:
			row[10] = "noisy"
		}
		if b.FPS.N > 0 {
			row[4] = strconv.Itoa(b.Parallel)
			row[5] = fmtFPS(b.FPS)
			row[6] = fmtFloat(b.FPS.CV*100, 1) + "%"
		}
		row[7] = orNA(b.USDPerHour, 4)
		row[8] = orNA(b.CostPer1MFrames, 4)
		row[9] = orNA(b.RelativeCost, 2)
		batch.rows = append(batch.rows, row)
	}

	live := table{
		id: "live", title: "Live streams",
		intro:  "The most live ladders run at once with every stream keeping up with real time (segments done before their deadlines).",
		header: []string{"Instance", "Source", "Codec", "Preset", "Streams", "$/h", "Streams per $/h", "Status"},
		right:  []bool{4: true, 5: true, 6: true},
	}
	for _, l := range r.LiveRows {
		row := []string{l.InstanceType, l.Source, l.Codec, l.Preset, strconv.Itoa(l.Streams), orNA(l.USDPerHour, 4), orNA(l.StreamsPerDollarHour, 2), "ok"}
		if l.Unavailable {
			row[4], row[5], row[6], row[7] = dash, dash, dash, "unavailable: "+l.Reason
		} else if l.USDPerHour > 0 {
			row[6] = fmtFloat(l.StreamsPerDollarHour, 2)
		}
		live.rows = append(live.rows, row)
	}

	rungs := table{
		id: "rungs", title: "Ladder rungs",
		intro:  "Output of the best batch run of each configuration. Quality is measured against the source scaled to the rung.",
		header: []string{"Instance", "Source", "Codec", "Preset", "Rung", "Size", "Bytes", "kbit/s", "PSNR", "SSIM", "XPSNR", "VMAF"},
		right:  []bool{6: true, 7: true, 8: true, 9: true, 10: true, 11: true},
	}
	for _, g := range r.RungRows {
		vmaf := dash
		if g.VMAF != nil {
			vmaf = fmtFloat(*g.VMAF, 2)
		}
		rungs.rows = append(rungs.rows, []string{
			g.InstanceType, g.Source, g.Codec, g.Preset, g.Rung, fmt.Sprintf("%d×%d", g.Width, g.Height),
			strconv.FormatInt(g.Bytes, 10), fmtFloat(g.BitrateKbps, 0), fmtFloat(g.PSNR, 2), fmtFloat(g.SSIM, 4), fmtFloat(g.XPSNR, 2), vmaf,
		})
	}

	prices := table{
		id: "prices", title: "Prices",
		intro:  "On-demand Linux price per hour used for the costs.",
		header: []string{"Instance", "Region", "$/h", "Date", "Source"},
		right:  []bool{2: true},
	}
	for _, p := range r.Prices {
		prices.rows = append(prices.rows, []string{p.InstanceType, p.Region, fmtFloat(p.USDPerHour, 4), p.Date, p.Source})
	}

	notesTable := table{id: "notes", title: "Notes", header: []string{"Note"}}
	for _, n := range notes {
		notesTable.rows = append(notesTable.rows, []string{n})
	}
	return []table{machines, batch, live, rungs, prices, notesTable}
}

func fmtFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

// fmtFPS is the median ± half the confidence interval.
func fmtFPS(s Stats) string {
	if s.N < 2 {
		return fmtFloat(s.Median, 1) + " (n=1)"
	}
	return fmtFloat(s.Median, 1) + " ± " + fmtFloat((s.CI95High-s.CI95Low)/2, 1)
}

// orNA formats v, or says n/a when it is not positive.
func orNA(v float64, prec int) string {
	if v <= 0 {
		return "n/a"
	}
	return fmtFloat(v, prec)
}

func orDash(s string) string {
	if s == "" {
		return dash
	}
	return s
}

func headline(r *Report) string {
	s := fmt.Sprintf("Generated %s. Relative costs: x264 ultrafast on %s = 1.00. Prices: %s on-demand",
		r.Generated.UTC().Format(time.RFC3339), r.Reference, r.Region)
	if r.PricingNote != "" {
		s += ", " + r.PricingNote
	}
	return s + "."
}

func writeMarkdown(b *bytes.Buffer, r *Report, cs []chart, ts []table) {
	b.WriteString("# abrfleet benchmark report\n\n")
	b.WriteString(headline(r) + "\n")
	if len(cs) > 0 {
		b.WriteString("\n## Charts\n")
		for _, c := range cs {
			fmt.Fprintf(b, "\n![%s](%s.png)\n\n%s ([SVG](%s.svg))\n", mdEscape(c.alt), c.name, mdEscape(c.title), c.name)
		}
	}
	for _, t := range ts {
		if len(t.rows) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n## %s\n\n", t.title)
		if t.id == "notes" {
			for _, row := range t.rows {
				fmt.Fprintf(b, "- %s\n", mdEscape(row[0]))
			}
			continue
		}
		if t.intro != "" {
			b.WriteString(mdEscape(t.intro) + "\n\n")
		}
		mdRow(b, t.header)
		seps := make([]string, len(t.header))
		for i := range seps {
			seps[i] = "---"
			if i < len(t.right) && t.right[i] {
				seps[i] = "--:"
			}
		}
		mdRow(b, seps)
		for _, row := range t.rows {
			mdRow(b, row)
		}
	}
}

func mdRow(b *bytes.Buffer, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + strings.ReplaceAll(mdEscape(c), "|", `\|`) + " |")
	}
	b.WriteString("\n")
}

// mdEscape keeps text on one line and free of Markdown markup that the
// report's text could trigger by accident.
func mdEscape(s string) string {
	return strings.NewReplacer("\n", " ", "*", `\*`, "<", "&lt;").Replace(s)
}

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>abrfleet benchmark report</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:2rem auto;max-width:80rem;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
</style>
</head>
<body>
<h1>abrfleet benchmark report</h1>
<p>{{.Headline}}</p>
{{if .Charts}}<h2 id="charts">Charts</h2>
{{range .Charts}}<figure>
<img id="chart-{{.Name}}" alt="{{.Alt}}" {{.Src}}>
<figcaption>{{.Title}}</figcaption>
</figure>
{{end}}{{end}}{{range .Tables}}<h2 id="{{.ID}}">{{.Title}}</h2>
{{if .Notes}}<ul>
{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>
{{else}}{{with .Intro}}<p>{{.}}</p>
{{end}}<table>
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td{{if .Num}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}{{end}}</body>
</html>
`

func writeHTML(b *bytes.Buffer, r *Report, cs []chart, ts []table) error {
	type cell struct {
		Text string
		Num  bool
	}
	type htmlTable struct {
		ID, Title, Intro string
		Header           []string
		Rows             [][]cell
		Notes            []string
	}
	type htmlChart struct {
		Name, Title, Alt string
		Src              template.HTMLAttr // base64 needs no escaping, and gets none
	}
	data := struct {
		Headline string
		Charts   []htmlChart
		Tables   []htmlTable
	}{Headline: headline(r)}
	for _, c := range cs {
		src := template.HTMLAttr(`src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(c.png) + `"`)
		data.Charts = append(data.Charts, htmlChart{Name: c.name, Title: c.title, Alt: c.alt, Src: src})
	}
	for _, t := range ts {
		if len(t.rows) == 0 {
			continue
		}
		ht := htmlTable{ID: t.id, Title: t.title, Intro: t.intro, Header: t.header}
		for _, row := range t.rows {
			if t.id == "notes" {
				ht.Notes = append(ht.Notes, row[0])
				continue
			}
			cells := make([]cell, len(row))
			for i, s := range row {
				cells[i] = cell{Text: s, Num: i < len(t.right) && t.right[i]}
			}
			ht.Rows = append(ht.Rows, cells)
		}
		data.Tables = append(data.Tables, ht)
	}
	tmpl, err := template.New("report").Parse(htmlTemplate)
	if err != nil {
		return err
	}
	return tmpl.Execute(b, data)
}

// CSV cells: fixed precision for stable output, empty when not available.

func csvFloat(v float64, prec int) string {
	if v == 0 {
		return ""
	}
	return fmtFloat(v, prec)
}

func writeCSV(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(rows) // writes to memory: no error but from the rows, which are valid
	return b.Bytes()
}

func batchCSV(r *Report) []byte {
	rows := [][]string{{
		"instance_type", "source", "codec", "preset", "parallel",
		"fps_n", "fps_median", "fps_mean", "fps_stddev", "fps_p95", "fps_ci95_low", "fps_ci95_high", "fps_cv", "noisy",
		"usd_per_hour", "price_date", "price_source", "cost_per_1m_frames_usd", "relative_cost", "unavailable", "reason",
	}}
	for _, b := range r.BatchRows {
		row := []string{b.InstanceType, b.Source, b.Codec, b.Preset, "", "", "", "", "", "", "", "", "", strconv.FormatBool(b.Noisy)}
		if s := b.FPS; s.N > 0 {
			row[4] = strconv.Itoa(b.Parallel)
			row[5] = strconv.Itoa(s.N)
			for i, v := range []float64{s.Median, s.Mean, s.Stddev, s.P95, s.CI95Low, s.CI95High} {
				row[6+i] = fmtFloat(v, 3)
			}
			row[12] = fmtFloat(s.CV, 5)
		}
		row = append(row, csvFloat(b.USDPerHour, 4), b.PriceDate, b.PriceSource,
			csvFloat(b.CostPer1MFrames, 6), csvFloat(b.RelativeCost, 6), strconv.FormatBool(b.Unavailable), b.Reason)
		rows = append(rows, row)
	}
	return writeCSV(rows)
}

func liveCSV(r *Report) []byte {
	rows := [][]string{{"instance_type", "source", "codec", "preset", "streams", "usd_per_hour", "streams_per_usd_hour", "unavailable", "reason"}}
	for _, l := range r.LiveRows {
		streams, perDollar := strconv.Itoa(l.Streams), csvFloat(l.StreamsPerDollarHour, 4)
		if l.Unavailable {
			streams = ""
		} else if l.USDPerHour > 0 {
			perDollar = fmtFloat(l.StreamsPerDollarHour, 4)
		}
		rows = append(rows, []string{l.InstanceType, l.Source, l.Codec, l.Preset, streams,
			csvFloat(l.USDPerHour, 4), perDollar, strconv.FormatBool(l.Unavailable), l.Reason})
	}
	return writeCSV(rows)
}

func rungsCSV(r *Report) []byte {
	rows := [][]string{{"instance_type", "source", "codec", "preset", "rung", "width", "height", "bytes", "bitrate_kbps", "psnr", "ssim", "xpsnr", "vmaf"}}
	for _, g := range r.RungRows {
		vmaf := ""
		if g.VMAF != nil {
			vmaf = fmtFloat(*g.VMAF, 3)
		}
		rows = append(rows, []string{g.InstanceType, g.Source, g.Codec, g.Preset, g.Rung,
			strconv.Itoa(g.Width), strconv.Itoa(g.Height), strconv.FormatInt(g.Bytes, 10),
			fmtFloat(g.BitrateKbps, 3), fmtFloat(g.PSNR, 3), fmtFloat(g.SSIM, 5), fmtFloat(g.XPSNR, 3), vmaf})
	}
	return writeCSV(rows)
}
