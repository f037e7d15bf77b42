package github

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/internal/history"
)

// TrackingMarker is the hidden line that finds a set's tracking issue again.
func TrackingMarker(set string) string { return "<!-- perfgate:tracking:" + SafeName(set) + " -->" }

// TrackingLinks turn commits and series into links for the tracking issue.
type TrackingLinks struct {
	Server, Repo string            // https://github.com, owner/name ("": no links)
	PlotURL      map[string]string // trend plot file name → its page
	Results      []history.Result
}

func (k TrackingLinks) commit(sha string) string {
	if k.Repo == "" || !isHex(sha) {
		return fmt.Sprintf("`%.12s`", Esc(sha))
	}
	return fmt.Sprintf("[`%.12s`](%s/%s/commit/%s)", sha, k.Server, k.Repo, sha)
}

func (k TrackingLinks) suspects(e history.Entry) string {
	r := fmt.Sprintf("`%.12s..%.12s`", Esc(e.LastGood), Esc(e.FirstBad))
	if k.Repo != "" && isHex(e.LastGood) && isHex(e.FirstBad) {
		r = fmt.Sprintf("[%s](%s/%s/compare/%s...%s)", r, k.Server, k.Repo, e.LastGood, e.FirstBad)
	}
	return r
}

// plot is the link to the series' trend plot, when it was published.
func (k TrackingLinks) plot(e history.Entry) string {
	for i, r := range k.Results {
		if r.Series == (history.Series{Scenario: e.Scenario, Level: e.Level, Metric: e.Metric, Env: e.Env}) {
			if u := k.PlotURL[TrendPlotName(i, r)+".svg"]; u != "" {
				return fmt.Sprintf(" · [trend](%s)", u)
			}
		}
	}
	return ""
}

// TrendPlotName is the file name (without extension) of the i-th series'
// trend plot in mode track.
func TrendPlotName(i int, r history.Result) string {
	return strings.ToLower(fmt.Sprintf("trend-%02d-%s-l%d-%s", i+1, SafeName(r.Series.Scenario), r.Series.Level, SafeName(r.Series.Metric)))
}

func isHex(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// MaxIssueBody is the most an issue body may hold (GitHub counts
// characters; a byte count is never fewer).
const MaxIssueBody = 65536

// TrackingIssueBody is the tracking issue: the record itself (hidden,
// compact, and first, so that it is never what a size limit cuts), this
// run's head line, the open regressions and the closed ones — as many rows
// as fit in an issue body, saying how many more there are.
func TrackingIssueBody(head string, l history.Ledger, k TrackingLinks, runURL string) string {
	var b strings.Builder
	b.WriteString(l.Marshal() + "\n")
	b.WriteString(head)
	// what is always written after the rows: the footer and the notes
	// that rows were left out
	room := MaxIssueBody - 2000 - len(runURL)
	open := l.Open()
	if len(open) == 0 {
		b.WriteString("No open regressions: each one below was accepted or recovered.\n\n")
	} else {
		fmt.Fprintf(&b, "### Open regressions (%d)\n\n", len(open))
		b.WriteString("| series | change | first bad | suspects | culprit | since |\n| --- | ---: | --- | --- | --- | --- |\n")
		shown := 0
		for _, e := range open {
			row := openRow(e, k)
			if b.Len()+len(row) > room {
				break
			}
			b.WriteString(row)
			shown++
		}
		if shown < len(open) {
			fmt.Fprintf(&b, "\n%d more open regressions are not listed: an issue holds %d characters. `perfgate history check` lists them all.\n", len(open)-shown, MaxIssueBody)
		}
		b.WriteString("\nTo record one as intended: `perfgate history accept --store … --from FIRST_BAD --reason \"…\"`.\n\n")
	}
	var closed []history.Entry
	for _, e := range l.Entries {
		if !e.IsOpen() {
			closed = append(closed, e)
		}
	}
	if len(closed) > 0 && b.Len() < room {
		fmt.Fprintf(&b, "<details><summary>Closed (%d)</summary>\n\n| series | change | first bad | suspects | closed | why |\n| --- | ---: | --- | --- | --- | --- |\n", len(closed))
		for i := len(closed) - 1; i >= 0 && i >= len(closed)-50; i-- { // the newest 50
			e := closed[i]
			row := fmt.Sprintf("| %s level %d `%s` | %+.1f %% | %s | %s | %s | %s |\n", Esc(e.Scenario), e.Level, Esc(e.Metric), e.ChangePct,
				k.commit(e.FirstBad), k.suspects(e), e.Closed.Format("2006-01-02"), Esc(e.Why))
			if b.Len()+len(row) > room {
				break
			}
			b.WriteString(row)
		}
		b.WriteString("\n</details>\n")
	}
	if runURL != "" {
		fmt.Fprintf(&b, "\n[Latest workflow run](%s)\n", runURL)
	}
	return b.String()
}

// openRow is one open regression's row of the tracking issue.
func openRow(e history.Entry, k TrackingLinks) string {
	prov := ""
	switch {
	case e.Provisional && e.Newest == 2:
		prov = " (provisional: the newest two points)"
	case e.Provisional:
		prov = " (provisional: one point)"
	}
	culprit := "–"
	switch {
	case e.Culprit != "":
		culprit = k.commit(e.Culprit) + " (" + Esc(e.Bisect) + ")"
	case e.Bisect != "":
		culprit = Esc(e.Bisect)
	}
	return fmt.Sprintf("| %s level %d `%s`%s | %+.1f %% | %s | %s%s | %s | %s |\n", Esc(e.Scenario), e.Level, Esc(e.Metric), prov, e.ChangePct,
		k.commit(e.FirstBad), k.suspects(e), k.plot(e), culprit, e.Opened.Format("2006-01-02"))
}
