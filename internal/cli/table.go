package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// printTable writes the per-level summary a person reads at the end of a run.
func printTable(w io.Writer, sum record.Summary) {
	fmt.Fprintf(w, "\n%s — %s\n", sum.Scenario, sum.Status)
	if len(sum.Levels) == 0 {
		fmt.Fprintln(w, "no measured requests")
		return
	}
	pcts := sum.Percentiles
	if len(pcts) == 0 {
		pcts = scenario.DefaultPercentiles
	}
	hi := pcts[len(pcts)-1]
	pk := analysis.PercentileKey(hi)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"level", "load", "achieved", "done", "errors", "req/s", "out tok/s",
		"TTFT p50", "TTFT " + pk, "TPOT p50", "TPOT " + pk, "ITL p50", "E2EL p50", "E2EL " + pk, "sched " + "p99"}
	if sum.SLO.TTFTMs > 0 || sum.SLO.TPOTMs > 0 || sum.SLO.E2ELMs > 0 {
		head = append(head, "goodput")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, l := range sum.Levels {
		load := fmt.Sprintf("%g req/s", l.RequestedRate)
		if l.Arrival == scenario.ArrivalTrace {
			load = fmt.Sprintf("trace ×%g", l.RequestedRate)
		}
		achieved := fmt.Sprintf("%.2f", l.AchievedRate)
		if l.Mode == scenario.ModeClosed {
			load = fmt.Sprintf("%d conc", l.RequestedConcurrency)
			achieved = fmt.Sprintf("%.2f req/s", l.AchievedRate)
		}
		ms := func(k string) string {
			v, ok := l.Latency[k]
			if !ok {
				return numfmt.Dash
			}
			return numfmt.F("%.1f", v)
		}
		failed := fmt.Sprint(l.Errors)
		if mostFailed(l) {
			failed += " !"
		}
		sched := fmt.Sprintf("%.2f", l.P99SchedDelay)
		if l.Aggregate { // statistics alone: no send times
			achieved, sched = numfmt.Dash, numfmt.Dash
		}
		row := []string{fmt.Sprint(l.Level + 1), load, achieved, fmt.Sprint(l.Completed), failed,
			fmt.Sprintf("%.2f", l.RequestThrough), fmt.Sprintf("%.0f", l.OutputThrough),
			ms("median_ttft_ms"), ms(pk + "_ttft_ms"), ms("median_tpot_ms"), ms(pk + "_tpot_ms"),
			ms("median_itl_ms"), ms("median_e2el_ms"), ms(pk + "_e2el_ms"), sched}
		if l.RequestGoodput != nil {
			row = append(row, fmt.Sprintf("%.2f", *l.RequestGoodput))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "latencies in ms; sched = schedule delay (how late perfgate sent), ms")
	for _, l := range sum.Levels {
		if l.Errors > 0 {
			var parts []string
			for _, c := range record.ErrorClasses {
				if n := l.ErrorsByClass[c]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", c, n))
				}
			}
			fmt.Fprintf(w, "level %d errors: %s\n", l.Level+1, strings.Join(parts, ", "))
			if mostFailed(l) {
				fmt.Fprintf(w, "level %d: ! most requests failed (%d of %d): its latencies describe the few that succeeded\n", l.Level+1, l.Errors, l.NumRequests)
			}
		}
		if l.Canceled > 0 {
			fmt.Fprintf(w, "level %d: %d request(s) canceled by the client (perfgate: on_end: cancel, drain_timeout or Ctrl-C; an imported run: the tool that made it), not counted as completed\n", l.Level+1, l.Canceled)
		}
		for _, warn := range l.Warnings {
			fmt.Fprintf(w, "level %d warning: %s\n", l.Level+1, warn)
		}
	}
}

// mostFailed says whether more than half of a level's requests failed.
func mostFailed(l record.Level) bool { return l.NumRequests > 0 && 2*l.Errors > l.NumRequests }
