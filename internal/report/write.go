package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/plot"
	"github.com/perfgate/perfgate/internal/record"
)

// Formats a report can be written in (the export package writes other
// tools' files: --format vllm).
var Formats = []string{"md", "json", "csv", "html"}

// Written lists the files a report wrote, relative to its folder.
type Written struct {
	Files []string
}

// Write renders the runs into out: report.<format> for each format, and
// plots/<chart>.svg and .png.
// A canceled ctx (SIGINT, SIGTERM) stops it between charts with the
// context's cause.
func Write(ctx context.Context, runs []*Run, out string, formats []string) (Written, error) {
	return write(ctx, runs, out, formats, true)
}

func write(ctx context.Context, runs []*Run, out string, formats []string, withPNG bool) (Written, error) {
	var w Written
	if err := os.MkdirAll(filepath.Join(out, "plots"), 0o755); err != nil {
		return w, err
	}
	figs := Figures(runs)
	svgs := map[string][]byte{}
	layouts := map[string]plot.Layout{}
	for _, f := range figs {
		if err := ctx.Err(); err != nil {
			return w, fmt.Errorf("stopped while drawing the charts: %w", context.Cause(ctx))
		}
		var s []byte
		var err error
		if f.svgLayout != nil {
			var l plot.Layout
			s, l, err = f.svgLayout()
			layouts[f.Name] = l
		} else {
			s, err = f.svg()
		}
		if err != nil {
			return w, fmt.Errorf("chart %s: %w", f.Name, err)
		}
		svgs[f.Name] = s
		files := map[string][]byte{".svg": s}
		if withPNG {
			p, err := f.png()
			if err != nil {
				return w, fmt.Errorf("chart %s: %w", f.Name, err)
			}
			files[".png"] = p
		}
		for ext, b := range files {
			name := filepath.Join("plots", f.Name+ext)
			if err := record.WriteFileAtomic(filepath.Join(out, name), b); err != nil {
				return w, err
			}
			w.Files = append(w.Files, name)
		}
	}
	for _, format := range formats {
		var b []byte
		var err error
		switch format {
		case "md":
			b = []byte(Markdown(runs, figs, "plots/"))
		case "json":
			b, err = jsonReport(runs)
		case "csv":
			b, err = csvReport(runs)
		case "html":
			b = []byte(htmlReport(runs, figs, svgs, layouts))
		default:
			return w, fmt.Errorf("unknown report format %q (formats: %s)", format, strings.Join(Formats, ", "))
		}
		if err != nil {
			return w, err
		}
		name := "report." + format
		if err := record.WriteFileAtomic(filepath.Join(out, name), b); err != nil {
			return w, err
		}
		w.Files = append(w.Files, name)
	}
	slices.Sort(w.Files)
	return w, nil
}

func f1(v float64) string { return numfmt.F("%.1f", v) }

func f2(v float64) string { return numfmt.F("%.2f", v) }

func ptr1(p *float64, scale float64, unit string) string {
	if p == nil {
		return numfmt.Dash
	}
	return numfmt.F("%.1f"+strings.ReplaceAll(unit, "%", "%%"), *p*scale)
}

// table is rows of cells with a header.
type table struct {
	head []string
	rows [][]string
}

func (t table) markdown() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for range t.head {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func throughputTable(r *Run) table {
	t := table{head: []string{"level", "load", "achieved req/s", "completed", "errors", "error rate", "req/s", "output tok/s", "total tok/s", "goodput req/s", "p99 sched delay (ms)"}}
	for _, l := range SortedLevels(r) {
		good := "–"
		if l.RequestGoodput != nil {
			good = f2(*l.RequestGoodput)
		}
		t.rows = append(t.rows, []string{fmt.Sprint(l.Level + 1), levelName(l), f2(l.AchievedRate), fmt.Sprint(l.Completed), fmt.Sprint(l.Errors),
			fmt.Sprintf("%.1f%%", 100*l.ErrorRate), f2(l.RequestThrough), f1(l.OutputThrough), f1(l.TotalThrough), good, f2(l.P99SchedDelay)})
	}
	return t
}

func latencyTable(r *Run) table {
	var ps []float64
	for _, p := range r.Summary.Percentiles {
		if p != 50 { // the median has its own column
			ps = append(ps, p)
		}
	}
	head := []string{"level", "metric", "mean", "median"}
	for _, p := range ps {
		head = append(head, analysis.PercentileKey(p))
	}
	t := table{head: head}
	for _, l := range SortedLevels(r) {
		for _, m := range metricNames {
			row := []string{levelName(l), strings.ToUpper(m.key), f1(l.Latency["mean_"+m.key+"_ms"]), f1(l.Latency["median_"+m.key+"_ms"])}
			for _, p := range ps {
				row = append(row, f1(l.Latency[analysis.PercentileKey(p)+"_"+m.key+"_ms"]))
			}
			t.rows = append(t.rows, row)
		}
	}
	return t
}

// turnTable is multi-turn sessions' latency by turn index.
func turnTable(r *Run) (table, bool) {
	t := table{head: []string{"level", "turn", "completed", "mean input tokens", "TTFT median", "TTFT p99", "E2EL median"}}
	for _, l := range SortedLevels(r) {
		for _, ts := range l.ByTurn {
			t.rows = append(t.rows, []string{levelName(l), fmt.Sprint(ts.Turn), fmt.Sprint(ts.Completed), f1(ts.MeanInput), f1(ts.MedianTTFTMs), f1(ts.P99TTFTMs), f1(ts.MedianE2ELMs)})
		}
	}
	return t, len(t.rows) > 0
}

func errorTable(r *Run) (table, bool) {
	t := table{head: []string{"level"}}
	t.head = append(t.head, record.ErrorClasses...)
	any := false
	for _, l := range SortedLevels(r) {
		row := []string{levelName(l)}
		for _, c := range record.ErrorClasses {
			n := l.ErrorsByClass[c]
			if c == record.ErrCanceled {
				n = l.Canceled
			}
			any = any || n > 0
			row = append(row, fmt.Sprint(n))
		}
		t.rows = append(t.rows, row)
	}
	return t, any
}

func telemetryTable(r *Run) (table, bool) {
	t := table{head: []string{"level", "GPU util", "power", "J/token", "SM clock min", "throttled", "KV peak", "preemptions", "prefix hit", "running", "waiting", "queue ms", "prefill ms", "decode ms", "client CPU peak"}}
	any := false
	for _, l := range SortedLevels(r) {
		if l.Telemetry == nil || l.Telemetry.Measure == nil {
			continue
		}
		m := l.Telemetry.Measure
		any = true
		thr := "–"
		if m.Throttled != nil {
			thr = "no"
			if *m.Throttled {
				thr = strings.Join(m.ThrottleReasons, ", ")
			}
		}
		t.rows = append(t.rows, []string{levelName(l), ptr1(m.GPUUtilMeanPct, 1, "%"), ptr1(m.PowerMeanW, 1, " W"), ptr1(m.EnergyPerOutputTokenJ, 1, " J"),
			ptr1(m.SMClockMinMHz, 1, " MHz"), thr, ptr1(m.KVCachePeakPct, 1, "%"), ptr1(m.Preemptions, 1, ""), ptr1(m.PrefixCacheHitRate, 100, "%"),
			ptr1(m.RunningMean, 1, ""), ptr1(m.WaitingMean, 1, ""), ptr1(m.QueueTimeMeanMs, 1, ""), ptr1(m.PrefillTimeMeanMs, 1, ""), ptr1(m.DecodeTimeMeanMs, 1, ""),
			ptr1(m.ClientCPUPeakPct, 1, "%")})
	}
	return t, any
}

func saturationLine(r *Run) string {
	s := r.Saturation
	var b strings.Builder
	switch {
	case !s.Found:
		fmt.Fprintf(&b, "Saturation point: not found — %s.", s.Reason)
	case s.AllMeet:
		fmt.Fprintf(&b, "Saturation point: beyond the sweep — every level met the SLOs (≥ %.0f%% of requests good), up to %g %s (%.0f output tok/s).", 100*analysis.AttainmentTarget, s.Load, s.Unit, s.Output)
	default:
		fmt.Fprintf(&b, "Saturation point: **%.3g %s** (%.0f output tok/s), the highest load at which %.0f%% of requests meet every SLO, interpolated between levels.", s.Load, s.Unit, s.Output, 100*analysis.AttainmentTarget)
	}
	if r.Knee >= 0 {
		l := r.Summary.Levels[r.Knee]
		fmt.Fprintf(&b, " Knee of the throughput–latency curve: %s (%.0f output tok/s, p99 E2EL %s ms).", levelName(l), l.OutputThrough, f1(l.Latency["p99_e2el_ms"]))
	}
	return b.String()
}

func runHeader(r *Run) []string {
	m := r.Meta
	lines := []string{
		fmt.Sprintf("scenario `%s`, status %s, started %s", r.Summary.Scenario, r.Summary.Status, m.StartWall.Format("2006-01-02 15:04:05 UTC")),
		fmt.Sprintf("engine %s (%s), model %s, server version %s", m.Engine.Kind, m.Engine.API, m.Engine.Model, orDash(m.Engine.Version)),
		fmt.Sprintf("perfgate %s, %s, %s/%s, %d CPUs (%s)", m.PerfgateVersion, m.GoVersion, m.OS, m.Arch, m.NumCPU, orDash(m.Host.CPUModel)),
	}
	if m.GPU != nil {
		var names []string
		for _, g := range m.GPU.GPUs {
			names = append(names, fmt.Sprintf("%d: %s", g.Index, g.Name))
		}
		lines = append(lines, fmt.Sprintf("GPUs %s; driver %s, CUDA %s", strings.Join(names, ", "), m.GPU.DriverVersion, m.GPU.CUDADriverVersion))
	}
	if len(m.Tags) > 0 {
		lines = append(lines, "tags "+TagString(m.Tags))
	}
	return lines
}

// TagString is "k=v, k2=v2", sorted by key.
func TagString(tags map[string]string) string {
	var parts []string
	for k, v := range tags {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func orDash(s string) string { return numfmt.Or(s) }

// Markdown is report.md: ready to paste into a PR or a job summary.
func Markdown(runs []*Run, figs []Figure, plotDir string) string {
	var b strings.Builder
	b.WriteString("# perfgate report\n\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "## %s\n\n", r.Name)
		for _, l := range runHeader(r) {
			b.WriteString("- " + l + "\n")
		}
		for _, n := range r.Notices {
			b.WriteString("- ⚠ " + n + "\n")
		}
		b.WriteString("\n" + saturationLine(r) + "\n")
		for _, sec := range runSections(r) {
			fmt.Fprintf(&b, "\n### %s\n\n%s", sec.Title, sec.markdown())
		}
		b.WriteString("\n")
	}
	if plotDir != "" && len(figs) > 0 {
		b.WriteString("## Charts\n\n")
		for _, f := range figs {
			fmt.Fprintf(&b, "![%s](%s%s.svg)\n\n", f.Title, plotDir, f.Name)
		}
	}
	return b.String()
}

// section is one part of a run's report: a titled table, or a titled
// list. report.md and report.html render the same sections in the same
// order, so neither can leave one out.
type section struct {
	Title string
	Head  []string   // a table's header, with Rows; nil for a list
	Rows  [][]string // a table's rows
	Items []string   // a list's items
}

func tableSection(title string, t table) section {
	return section{Title: title, Head: t.head, Rows: t.rows}
}

// runSections are a run's sections after its header: throughput, latency,
// and what the run has of turns, errors, telemetry and warnings.
func runSections(r *Run) []section {
	out := []section{tableSection("Throughput", throughputTable(r)), tableSection("Latency (ms)", latencyTable(r))}
	if t, ok := turnTable(r); ok {
		out = append(out, tableSection("By turn (multi-turn sessions; ms)", t))
	}
	if t, ok := errorTable(r); ok {
		out = append(out, tableSection("Errors by class", t))
	}
	if t, ok := telemetryTable(r); ok {
		out = append(out, tableSection("Telemetry (measurement phase)", t))
	}
	var warns []string
	for _, l := range SortedLevels(r) {
		for _, w := range l.Warnings {
			warns = append(warns, fmt.Sprintf("%s: %s", levelName(l), w))
		}
	}
	if len(warns) > 0 {
		out = append(out, section{Title: "Warnings", Items: warns})
	}
	return out
}

func (s section) markdown() string {
	if s.Head != nil {
		return table{s.Head, s.Rows}.markdown()
	}
	return "- " + strings.Join(s.Items, "\n- ") + "\n"
}

// fileJSON is report.json.
type fileJSON struct {
	SchemaVersion int       `json:"schema_version"`
	Runs          []runJSON `json:"runs"`
}

type runJSON struct {
	Dir        string              `json:"dir"`
	Name       string              `json:"name"`
	Complete   bool                `json:"complete"`
	Notices    []string            `json:"notices,omitempty"`
	Meta       record.Meta         `json:"meta"`
	Summary    record.Summary      `json:"summary"`
	Saturation analysis.Saturation `json:"saturation"`
	KneeLevel  *int                `json:"knee_level"` // from 1
}

// jsonReport is report.json: everything in the tables, machine-readable.
func jsonReport(runs []*Run) ([]byte, error) {
	out := fileJSON{SchemaVersion: 1}
	for _, r := range runs {
		rj := runJSON{Dir: r.Dir, Name: r.Name, Complete: r.Complete, Notices: r.Notices, Meta: r.Meta, Summary: r.Summary, Saturation: r.Saturation}
		if r.Knee >= 0 {
			k := r.Summary.Levels[r.Knee].Level + 1 // numbered from 1, as in every file
			rj.KneeLevel = &k
		}
		out.Runs = append(out.Runs, rj)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	return append(b, '\n'), err
}

// csvReport is report.csv: one row per run and level, every numeric metric a column.
func csvReport(runs []*Run) ([]byte, error) {
	keySet := map[string]bool{}
	rows := []map[string]string{}
	for _, r := range runs {
		for _, l := range SortedLevels(r) {
			b, err := json.Marshal(l)
			if err != nil {
				return nil, err
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			row := map[string]string{"run": r.Name, "dir": r.Dir}
			for k, v := range m {
				switch x := v.(type) {
				case float64:
					// plain decimals: fmt's %v writes 7.588798e+06 for
					// a duration in µs, which spreadsheets misread
					row[k] = strconv.FormatFloat(x, 'f', -1, 64)
					keySet[k] = true
				case string:
					row[k] = x
					keySet[k] = true
				case nil:
					row[k] = ""
					keySet[k] = true
				}
			}
			for c, n := range l.ErrorsByClass {
				row["errors_"+c] = fmt.Sprint(n)
				keySet["errors_"+c] = true
			}
			rows = append(rows, row)
		}
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	head := append([]string{"run", "dir"}, keys...)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(head)
	for _, row := range rows {
		rec := make([]string, len(head))
		for i, h := range head {
			rec[i] = row[h]
		}
		w.Write(rec)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// reportPage is report.html: one self-contained page (inline SVG charts,
// tables, run metadata) that opens offline, rendered with html/template so
// that every text from a run folder is escaped by the template, not by hand.
var reportPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>perfgate report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{color-scheme:light dark;--fg:#222;--bg:#fff;--line:#ccc;--head:#f3f3f3;--notice:#a15c00}
@media (prefers-color-scheme: dark){:root{--fg:#e6edf3;--bg:#0d1117;--line:#3d444d;--head:#151b23;--notice:#f0c35a}}
body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:var(--fg);background:var(--bg)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:right}
th{background:var(--head)}
figure{margin:1.5em 0;position:relative}
figure svg{max-width:100%;height:auto;border:1px solid #eee}
.tip{display:none;position:absolute;background:#222;color:#fff;font-size:0.8em;padding:2px 6px;border-radius:3px;pointer-events:none;white-space:nowrap}
.notice{color:var(--notice)}
</style></head><body>
<h1>perfgate report</h1>
{{range .Runs}}<h2>{{.Name}}</h2>
<ul>
{{range .Header}}<li>{{.}}</li>
{{end}}{{range .Notices}}<li class="notice">{{.}}</li>
{{end}}</ul>
<p>{{.Saturation}}</p>
{{range .Sections}}<h3>{{.Title}}</h3>
{{if .Head}}<div class="scroll"><table><thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table></div>
{{else}}<ul>{{range .Items}}<li>{{.}}</li>{{end}}</ul>
{{end}}{{end}}{{end}}<h2>Charts</h2>
{{range .Figs}}<figure id="{{.Name}}"{{with .Layout}} data-layout="{{.}}"{{end}}>
{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}<script>
{{.Script}}</script>
</body></html>
`))

// htmlReport is report.html: one self-contained page (inline SVG charts, tables,
// run metadata) that opens offline.
func htmlReport(runs []*Run, figs []Figure, svgs map[string][]byte, layouts map[string]plot.Layout) string {
	type runView struct {
		Name            string
		Header, Notices []string
		Saturation      string
		Sections        []section
	}
	type figView struct {
		Name, Caption, Layout string
		SVG                   template.HTML
	}
	d := struct {
		Runs   []runView
		Figs   []figView
		Script template.JS
	}{Script: template.JS(hoverScript)}
	for _, r := range runs {
		v := runView{Name: r.Name, Notices: r.Notices, Saturation: strings.ReplaceAll(saturationLine(r), "**", "")}
		for _, l := range runHeader(r) {
			v.Header = append(v.Header, strings.ReplaceAll(l, "`", ""))
		}
		v.Sections = runSections(r)
		d.Runs = append(d.Runs, v)
	}
	for _, f := range figs {
		fv := figView{Name: f.Name, Caption: f.Caption, SVG: template.HTML(svgs[f.Name])} // perfgate's own SVG canvas
		if l, ok := layouts[f.Name]; ok {
			if j, err := json.Marshal(l); err == nil {
				fv.Layout = string(j)
			}
		}
		d.Figs = append(d.Figs, fv)
	}
	var b strings.Builder
	if err := reportPage.Execute(&b, d); err != nil {
		return "<!DOCTYPE html><p>report.html could not be rendered: " + html.EscapeString(err.Error()) + "</p>\n"
	}
	return b.String()
}

// hoverScript shows, under the pointer on a chart, the nearest point's
// series and values (within 24 px), read from the figure's data-layout.
// Inline and dependency-free: the page opens offline.
const hoverScript = `document.querySelectorAll("figure[data-layout]").forEach(function (f) {
  var L = JSON.parse(f.dataset.layout), svg = f.querySelector("svg"), tip = document.createElement("div");
  tip.className = "tip"; f.appendChild(tip);
  function px(p) {
    var fx = (p.X - L.X0) / (L.X1 - L.X0), fy = L.LogY ? (Math.log(p.Y) - Math.log(L.Y0)) / (Math.log(L.Y1) - Math.log(L.Y0)) : (p.Y - L.Y0) / (L.Y1 - L.Y0);
    return [L.Left + fx * L.Width, L.Top + (1 - fy) * L.Height];
  }
  var pts = (L.Points || []).map(function (p) { return {p: p, at: px(p)}; });
  svg.addEventListener("mousemove", function (e) {
    var r = svg.getBoundingClientRect(), k = r.width / L.W, mx = (e.clientX - r.left) / k, my = (e.clientY - r.top) / k, best = null, bd = 24 * 24;
    pts.forEach(function (q) { var dx = q.at[0] - mx, dy = q.at[1] - my, d = dx * dx + dy * dy; if (d < bd) { bd = d; best = q; } });
    if (!best) { tip.style.display = "none"; return; }
    tip.textContent = (best.p.Label ? best.p.Label + ": " : "") + L.XLabel + " " + (+best.p.X.toPrecision(4)) + ", " + L.YLabel + " " + (+best.p.Y.toPrecision(4));
    tip.style.display = "block"; tip.style.left = (best.at[0] * k + 10) + "px"; tip.style.top = (best.at[1] * k + 10) + "px";
  });
  svg.addEventListener("mouseleave", function () { tip.style.display = "none"; });
});
`
