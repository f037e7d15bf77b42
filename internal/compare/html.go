package compare

import (
	"bytes"
	"html/template"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/svgsafe"
)

// comparisonPage is comparison.html: the headline, the change-per-metric
// chart, the results table, why it moved, the environment and every other
// chart, inline, in one page that opens offline and follows the reader's
// light or dark scheme. The charts are perfgate's own SVG, checked by the
// same filter the PR comment's images pass.
var comparisonPage = template.Must(template.New("comparison").Funcs(template.FuncMap{"pct": pct, "q": qText, "noise": noiseText}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>perfgate comparison: {{.C.Scenario}}</title>
<style>
:root{color-scheme:light dark;--fg:#1f2328;--bg:#ffffff;--muted:#59636e;--line:#d1d9e0;--head:#f6f8fa;--fail:#b34700;--warn:#8a5a00;--good:#00795a}
@media (prefers-color-scheme: dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d;--head:#151b23;--fail:#ff9b6b;--warn:#f0c35a;--good:#5fd3ad}}
body{font-family:-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:var(--fg);background:var(--bg);line-height:1.45}
h1{font-size:1.25em} h2{font-size:1.1em;margin-top:1.6em}
.fail{color:var(--fail)} .warn{color:var(--warn)} .improved{color:var(--good)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:right;white-space:nowrap}
th{background:var(--head)} td.l{text-align:left;white-space:normal;min-width:14em}
figure{margin:1.2em 0} figure svg{width:100%;height:auto;border-radius:6px;display:block}
figcaption,.muted{color:var(--muted);font-size:0.9em}
</style></head><body>
<h1 class="{{.C.Outcome.Verdict}}">{{.Mark}} {{.C.Outcome.Headline}}</h1>
<p class="muted">Scenario {{.C.Scenario}}; {{len .C.Baseline}} baseline and {{len .C.Candidate}} candidate trial(s){{with .C.Run}} — {{.Stopped}}{{end}}.</p>
{{range .C.Notes}}<p class="warn">⚠ {{.}}</p>
{{end}}{{with .Lead}}<figure id="{{.Name}}">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}<h2>Results</h2>
<div class="scroll"><table>
<tr><th></th><th>level</th><th>metric</th><th>baseline</th><th>candidate</th><th>Δ</th><th>95 % CI</th><th>q</th><th>n</th><th>noise</th><th>why</th></tr>
{{range .Rows}}<tr><td class="{{.Class}}">{{.Class}}</td><td>{{.R.Level}}</td><td class="l">{{.R.Metric}}</td><td>{{printf "%.4g" .R.BaselineMedian}}</td><td>{{printf "%.4g" .R.CandMedian}}</td><td>{{pct .R.ChangePct}}</td><td>{{pct .R.CILowPct}} … {{pct .R.CIHighPct}}</td><td>{{q .R.Q}}</td><td>{{index .R.N 0}}/{{index .R.N 1}}</td><td>{{noise .R.NoisePct}}</td><td class="l">{{.R.Reason}}</td></tr>
{{end}}</table></div>
<p class="muted">Δ is the candidate against the baseline (Hodges-Lehmann; for error_rate the pooled difference in percentage points); noise is the per-trial standard deviation of the metric's log values, in %.</p>
{{if .Why}}<h2>Why it moved</h2>
<p class="muted">Telemetry of both sides (medians over trials, measurement phase); changes clear against their own trial-to-trial noise come first and are the only ones named as causes.</p>
<ul>{{range .Why}}<li>level {{.Level}}: {{.Text}} — {{.Clarity}}</li>{{end}}</ul>
{{end}}<h2>Charts</h2>
{{range .Figs}}<figure id="{{.Name}}">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}<h2>Environment</h2>
<p>{{.C.Environment}}</p>
</body></html>
`))

type pageFig struct {
	Name, Caption string
	SVG           template.HTML
}

var figCaptions = map[string]string{
	"change":         "Every gating result's change toward worse, coloured by verdict, with its 95 % interval (an arrow: it goes on past the axis) and its warn (dashed) and fail thresholds.",
	"compare-hockey": "p99 end-to-end latency against output throughput, level by level: the median of each side's trials with a band for its 95 % confidence interval, and every trial.",
}

// comparisonHTML renders comparison.html from the comparison and its
// charts' SVG (by name).
func comparisonHTML(c *Comparison, svgs map[string][]byte) ([]byte, error) {
	type row struct {
		R     gate.Result
		Class string
	}
	type why struct {
		Level         int
		Text, Clarity string
	}
	d := struct {
		C    *Comparison
		Mark string
		Lead *pageFig
		Rows []row
		Why  []why
		Figs []pageFig
	}{C: c, Mark: c.Outcome.Verdict.Mark()}
	rs := resultsInOrder(c)
	for _, r := range rs {
		cl := string(r.Verdict)
		if r.Improved {
			cl = "improved"
		}
		d.Rows = append(d.Rows, row{r, cl})
	}
	for i, ch := range c.Explain {
		if i == 10 {
			break
		}
		d.Why = append(d.Why, why{ch.Level, ch.String(), clarity(ch)})
	}
	names := make([]string, 0, len(svgs))
	for n := range svgs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := svgsafe.Check(svgs[n]); err != nil {
			return nil, err
		}
		caption := figCaptions[n]
		if m, ok := strings.CutPrefix(n, "metric-"); ok {
			caption = "Each trial of " + m + ", the baseline beside the candidate level by level: a dot per trial, the median as a bar and its 95 % confidence interval as a whisker; the candidate's change and verdict under it."
		}
		// Our own SVG, from our canvas, checked above: trusted markup.
		f := pageFig{Name: n, Caption: caption, SVG: template.HTML(svgs[n])}
		if n == "change" {
			d.Lead = &f
			continue
		}
		d.Figs = append(d.Figs, f)
	}
	var b bytes.Buffer
	err := comparisonPage.Execute(&b, d)
	return b.Bytes(), err
}
