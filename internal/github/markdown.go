package github

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/numfmt"
)

// MaxComment is GitHub's limit on a comment body, in characters.
const MaxComment = 65536

// MaxSummary is GitHub's limit on one step's job summary, in bytes.
const MaxSummary = 1 << 20

// Plot is one chart, by the addresses it is served at.
type Plot struct {
	Name string
	Img  string // what the comment shows (SVG, or PNG where SVG would not render)
	Link string // what a click opens (the SVG)
}

// ScenarioResult is one scenario of a report.
type ScenarioResult struct {
	Name       string
	Comparison *comparison.ValidComparison // nil when the scenario did not finish
	Error      string
	Plots      []Plot
}

// Report is what a comment, a job summary and a status say.
type Report struct {
	Set              string // the scenario set: names the marker and the status context
	Verdict          metric.Verdict
	Error            string // why, when the verdict is error
	PR               int
	Title            string
	BaseSHA, HeadSHA string
	BaseRef, HeadRef string
	Profile          string
	RunURL           string
	Scenarios        []ScenarioResult
	Notes            []string     // e.g. "plots could not be pushed: …"
	History          *HistoryGate // release: the candidate against main's recent history
}

// Marker is the hidden line that finds a set's sticky comment again.
func Marker(set string) string { return "<!-- perfgate:sticky:" + SafeName(set) + " -->" }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SafeName reduces s to letters, digits, dot, dash and underscore (at most
// 64), for markers, status contexts, file names and Mermaid labels.
func SafeName(s string) string {
	// no "." or ".." path parts, no hidden names
	s = strings.Trim(unsafeName.ReplaceAllString(strings.ReplaceAll(s, "..", "-"), "-"), "-.")
	if len(s) > 64 {
		s = s[:64]
	}
	if s == "" {
		s = "default"
	}
	return s
}

var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;",
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "{", `\{`, "}", `\}`, "[", `\[`, "]", `\]`,
	"(", `\(`, ")", `\)`, "#", `\#`, "+", `\+`, "-", `\-`, "!", `\!`, "|", `\|`, "~", `\~`,
	// No mentions, no team pings: a zero-width space after @.
	"@", "@\u200b",
	// No autolinks: GitHub links a bare http(s):// or www. address.
	"://", ":\u200b//", "www.", "www\u200b.", "WWW.", "WWW\u200b.",
	"\r", " ", "\n", " ", "\t", " ",
)

// Esc makes a string from the pull request (a title, a branch name, a model
// name, an error) inert in markdown and HTML: one line of at most 300
// characters in which nothing is a tag, a link (bare addresses included),
// a table cell, a comment end or a mention.
func Esc(s string) string {
	s = strings.ToValidUTF8(s, "�")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return ' ' // control and bidi-override characters
		}
		return r
	}, s)
	s = numfmt.Cut(s, 300, "…")
	return mdEscaper.Replace(s)
}

func rowMark(x row) string {
	if x.res.Improved {
		return "🚀"
	}
	return x.res.Verdict.Mark()
}

func qCell(q *float64) string { return numfmt.P("%.3g", q) }

// Headline is the one line a status description and a job title carry.
func (r *Report) Headline() string {
	switch r.Verdict {
	case "error":
		return "perfgate could not decide: " + r.Error
	}
	var parts []string
	for _, s := range r.Scenarios {
		if s.Comparison != nil && s.Comparison.Outcome.Verdict != metric.Pass {
			parts = append(parts, s.Name+": "+s.Comparison.Outcome.Headline)
		}
	}
	verdict := strings.ToUpper(string(r.Verdict))
	if names := r.cannotFail(); len(names) > 0 {
		// first, so that a status description's 140 characters keep it
		verdict += " (too few trials for any fail: " + strings.Join(names, ", ") + ")"
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s: no regression in %d scenario(s)", verdict, len(r.Scenarios))
	}
	return verdict + " — " + strings.Join(parts, "; ")
}

// cannotFail names the scenarios with a gating metric that no change,
// however large, could have failed: too few trials for its test (a fixed
// trials: 2 gave a green check on a 31 % regression, the reason only in
// the log).
func (r *Report) cannotFail() []string {
	var names []string
	for _, s := range r.Scenarios {
		if s.Comparison == nil {
			continue
		}
		for _, x := range s.Comparison.Outcome.Results {
			if x.Gating && !x.CanBeSignif {
				names = append(names, s.Name)
				break
			}
		}
	}
	return names
}

type row struct {
	scenario string
	res      comparison.ValidResult
}

func (r *Report) rows() []row {
	var rows []row
	for _, s := range r.Scenarios {
		if s.Comparison == nil {
			continue
		}
		for _, res := range s.Comparison.Outcome.Results {
			if res.Gating || res.Verdict != metric.Pass || res.Improved {
				rows = append(rows, row{s.Name, res})
			}
		}
	}
	rank := func(x row) int {
		switch {
		case x.res.Verdict == metric.Fail:
			return 0
		case x.res.Verdict == metric.Warn:
			return 1
		case x.res.Improved:
			return 2
		}
		return 3
	}
	slices.SortStableFunc(rows, func(a, b row) int { return rank(a) - rank(b) })
	return rows
}

func num(p *float64) string { return numfmt.P("%.4g", p) }

func signed(p *float64) string { return numfmt.P("%+.1f %%", p) }

// CommitURLTemplate is a GitHub repository's commit page with {sha} for the
// commit ("" without a repository).
func CommitURLTemplate(server, repo string) string {
	if repo == "" {
		return ""
	}
	return cmp.Or(server, "https://github.com") + "/" + repo + "/commit/{sha}"
}

// ShortSHA is a commit SHA cut to 12 characters.
func ShortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// layout says how much of a report to render.
type layout struct {
	maxRows     int
	plots       bool
	mermaid     bool
	summaryLink string // where the full report is, when something is left out
}

// Comment renders the sticky comment: at most MaxComment characters, leaving
// out the plots, then the Mermaid chart, then table rows, as it must, and
// saying where the rest is.
func (r *Report) Comment(summaryLink string) string {
	l := layout{maxRows: -1, plots: true, mermaid: true, summaryLink: summaryLink}
	for {
		md := r.render(l)
		if utf8.RuneCountInString(md) <= MaxComment {
			return md
		}
		switch {
		case l.plots:
			l.plots = false
		case l.mermaid:
			l.mermaid = false
		case l.maxRows < 0:
			l.maxRows = len(r.rows()) / 2
		case l.maxRows > 0:
			l.maxRows /= 2
		default:
			// Nothing left to drop: cut, keeping the marker first.
			return numfmt.Cut(md, MaxComment, "\n\n… cut at GitHub's comment limit; the job summary has the full report.\n")
		}
	}
}

// Summary renders the job summary: everything, at most MaxSummary bytes.
func (r *Report) Summary() string {
	md := r.render(layout{maxRows: -1, plots: true, mermaid: true})
	return numfmt.Cut(md, MaxSummary, "\n\n… cut at GitHub's 1 MiB job summary limit; the run folder (artifact) has every result.\n")
}

func (r *Report) render(l layout) string {
	var b strings.Builder
	r.writeHead(&b)
	hasChange := r.writeLead(&b, l)
	r.writeTables(&b, l, hasChange)
	r.writePlots(&b, l, hasChange)
	r.writeFoot(&b)
	return b.String()
}

// writeHead: the marker, the verdict, the commits, the error, one line per
// scenario, the history and the notes.
func (r *Report) writeHead(b *strings.Builder) {
	b.WriteString(Marker(r.Set) + "\n")
	fmt.Fprintf(b, "## %s perfgate: %s", r.Verdict.Mark(), strings.ToUpper(string(r.Verdict)))
	if r.Set != "" {
		fmt.Fprintf(b, " · %s", Esc(r.Set))
	}
	if r.Profile == "release" {
		b.WriteString(" · release gate")
	}
	b.WriteString("\n\n")
	if r.PR > 0 {
		fmt.Fprintf(b, "Pull request #%d", r.PR)
		if r.Title != "" {
			fmt.Fprintf(b, " “%s”", Esc(r.Title))
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(b, "baseline `%s`", ShortSHA(r.BaseSHA))
	if r.BaseRef != "" {
		fmt.Fprintf(b, " (%s)", Esc(r.BaseRef))
	}
	fmt.Fprintf(b, " → candidate `%s`", ShortSHA(r.HeadSHA))
	if r.HeadRef != "" {
		fmt.Fprintf(b, " (%s)", Esc(r.HeadRef))
	}
	b.WriteString("\n\n")
	if r.Verdict == metric.Error {
		fmt.Fprintf(b, "> **Error:** %s\n>\n> No verdict: an error is never a pass.\n\n", Esc(r.Error))
	}
	for _, s := range r.Scenarios {
		switch {
		case s.Error != "":
			fmt.Fprintf(b, "- 💥 **%s**: %s\n", Esc(s.Name), Esc(s.Error))
		case s.Comparison != nil:
			fmt.Fprintf(b, "- %s **%s**: %s", s.Comparison.Outcome.Verdict.Mark(), Esc(s.Name), Esc(s.Comparison.Outcome.Headline))
			if run := s.Comparison.Run; run != nil {
				fmt.Fprintf(b, " (%d + %d trials; %s)", run.Trials[0], run.Trials[1], Esc(run.Stopped))
				if len(run.Reruns) > 0 {
					fmt.Fprintf(b, "; %d outlier trial(s) re-run", len(run.Reruns))
				}
			}
			b.WriteString("\n")
		}
	}
	if h := r.History; h != nil {
		fmt.Fprintf(b, "- %s **against %s**: %s\n", h.Verdict.Mark(), Esc(h.Against), strings.ToUpper(string(h.Verdict)))
		for _, l := range h.Lines {
			fmt.Fprintf(b, "  - %s\n", Esc(l))
		}
		fmt.Fprintf(b, "\nGated on both: the A/B against the baseline above and the history; the verdict is the worse of the two.\n\n")
	}
	if names := r.cannotFail(); len(names) > 0 {
		fmt.Fprintf(b, "- ⚠️ %s: too few trials for any test to fail, however large the change; this verdict cannot be a FAIL. Run more trials per side (the scenario's `gate.min_trials`, or the trials input).\n", Esc(strings.Join(names, ", ")))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- ℹ️ %s\n", Esc(n))
	}
}

// writeLead: the picture the comment leads with, each scenario's change per
// metric (when plots are shown); it says whether there was one.
func (r *Report) writeLead(b *strings.Builder, l layout) (hasChange bool) {
	if l.plots {
		for _, s := range r.Scenarios {
			for _, p := range s.Plots {
				if p.Name == "change" {
					hasChange = true
					fmt.Fprintf(b, "\n<a href=\"%s\"><img src=\"%s\" alt=\"%s: change per metric\" width=\"680\"></a>\n", htmlAttr(p.Link), htmlAttr(p.Img), htmlAttr(s.Name))
				}
			}
		}
	}
	return hasChange
}

// writeTables: what moved, in three narrow columns for a phone; the full
// table (and, without the change chart, a Mermaid chart) folded below, or a
// pointer to the summary when the layout leaves them out.
func (r *Report) writeTables(b *strings.Builder, l layout, hasChange bool) {
	rows := r.rows()
	// On a phone: what moved, in three narrow columns; the full table and
	// the chart folded below.
	var notable []row
	for _, x := range rows {
		if x.res.Verdict != metric.Pass || x.res.Improved {
			notable = append(notable, x)
		}
	}
	if len(notable) > 0 {
		b.WriteString("\n| | metric | Δ (95 % CI) |\n| --- | --- | ---: |\n")
		for i, x := range notable {
			if l.maxRows >= 0 && i == l.maxRows {
				fmt.Fprintf(b, "\n… and %d more: %s has them all.\n", len(notable)-i, l.summaryText())
				break
			}
			fmt.Fprintf(b, "| %s | %s L%d %s | %s (%s … %s) |\n", rowMark(x), Esc(x.scenario), x.res.Level, Esc(x.res.Metric),
				signed(x.res.ChangePct), signed(x.res.CILowPct), signed(x.res.CIHighPct))
		}
	}
	if len(rows) > 0 && l.maxRows < 0 {
		if len(rows) == 1 {
			b.WriteString("\n<details><summary>The result</summary>\n\n")
		} else {
			fmt.Fprintf(b, "\n<details><summary>All %d results</summary>\n\n", len(rows))
		}
		b.WriteString("| scenario | level | metric | baseline | candidate | Δ | 95 % CI | q | verdict |\n| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | --- |\n")
		for _, x := range rows {
			fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s … %s | %s | %s %s |\n", Esc(x.scenario), x.res.Level, Esc(x.res.Metric),
				num(&x.res.BaselineMedian), num(&x.res.CandMedian), signed(x.res.ChangePct), signed(x.res.CILowPct), signed(x.res.CIHighPct), qCell(x.res.Q), rowMark(x), x.res.Verdict)
		}
		b.WriteString("\nΔ: the candidate against the baseline (Hodges-Lehmann; pooled percentage points for error_rate); q: the fail test's Benjamini-Hochberg value (is the candidate worse than the warn threshold plus a quarter of the way to the fail threshold?).\n")
		if l.mermaid && !hasChange { // the change-per-metric chart above says it better
			b.WriteString(r.mermaid(rows))
		}
		b.WriteString("\n</details>\n")
	} else if len(rows) > 0 {
		fmt.Fprintf(b, "\nThe full table and the chart are in %s.\n", l.summaryText())
	}
}

// writePlots: every plot, folded, or a pointer to the summary.
func (r *Report) writePlots(b *strings.Builder, l layout, hasChange bool) {
	var plots int
	for _, s := range r.Scenarios {
		plots += len(s.Plots)
	}
	if plots > 0 && l.plots {
		b.WriteString("\n<details><summary>Plots</summary>\n\n")
		for _, s := range r.Scenarios {
			if len(s.Plots) == 0 {
				continue
			}
			fmt.Fprintf(b, "**%s**\n\n", Esc(s.Name))
			for _, p := range s.Plots {
				if p.Name == "change" && hasChange {
					continue
				}
				fmt.Fprintf(b, "<a href=\"%s\"><img src=\"%s\" alt=\"%s\" width=\"720\"></a>\n\n", htmlAttr(p.Link), htmlAttr(p.Img), htmlAttr(p.Name))
			}
		}
		b.WriteString("</details>\n")
	} else if plots > 0 {
		fmt.Fprintf(b, "\nThe plots are in %s.\n", l.summaryText())
	}
}

// writeFoot: the environment, folded, the run's link and the method.
func (r *Report) writeFoot(b *strings.Builder) {
	envs := map[string]bool{}
	b.WriteString("\n<details><summary>Environment</summary>\n\n")
	fmt.Fprintf(b, "- baseline: `%s`\n- candidate: `%s`\n", r.BaseSHA, r.HeadSHA)
	for _, s := range r.Scenarios {
		if s.Comparison != nil && !envs[s.Comparison.Environment] {
			envs[s.Comparison.Environment] = true
			fmt.Fprintf(b, "- %s\n", Esc(s.Comparison.Environment))
		}
	}
	b.WriteString("\n</details>\n")
	if r.RunURL != "" {
		fmt.Fprintf(b, "\n[Workflow run](%s) · ", htmlAttr(r.RunURL))
	} else {
		b.WriteString("\n")
	}
	b.WriteString("perfgate decides with t-tests on log values over interleaved trials, looking after every pair; see docs/statistics.md.\n")
}

func (l layout) summaryText() string {
	if l.summaryLink != "" {
		return "[the job summary](" + htmlAttr(l.summaryLink) + ")"
	}
	return "the job summary"
}

// htmlAttr is for URLs perfgate built itself: it still refuses quotes,
// brackets and spaces.
func htmlAttr(s string) string {
	return strings.NewReplacer(`"`, "%22", "<", "%3C", ">", "%3E", " ", "%20", "(", "%28", ")", "%29", "'", "%27").Replace(s)
}

// mermaid draws how much worse each gating metric is, as a line of points
// against a line at zero, which GitHub renders from a fenced block. Bars
// would not do: xychart-beta draws them up from the bottom of the axis, so
// −7 % would look like a short bar and 0 % like a half-height one. Above
// zero is worse for every metric (throughput's sign is turned).
func (r *Report) mermaid(rows []row) string {
	var labels, vals, zeros []string
	lo, hi := 0.0, 0.0
	for _, x := range rows {
		if x.res.ChangePct == nil || !x.res.Gating || len(labels) == 24 {
			continue
		}
		v := *x.res.ChangePct
		if gate.HigherIsBetter(x.res.Metric) {
			v = -v
		}
		lo, hi = min(lo, v), max(hi, v)
		label := fmt.Sprintf("%s L%d %s", SafeName(x.scenario), x.res.Level, strings.TrimSuffix(SafeName(x.res.Metric), "_ms"))
		labels = append(labels, `"`+label+`"`)
		vals = append(vals, fmt.Sprintf("%.2f", v))
		zeros = append(zeros, "0")
	}
	if len(labels) == 0 {
		return ""
	}
	pad := max(1, (hi-lo)*0.1)
	return fmt.Sprintf("\n```mermaid\nxychart-beta\n    title \"How much worse each gating metric is (%%, above the zero line is worse)\"\n    x-axis [%s]\n    y-axis \"worse %%\" %.1f --> %.1f\n    line [%s]\n    line [%s]\n```\n",
		strings.Join(labels, ", "), math.Floor(lo-pad), math.Ceil(hi+pad), strings.Join(vals, ", "), strings.Join(zeros, ", "))
}
