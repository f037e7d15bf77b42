// Command table prints the change point comparison of docs/history.md:
//
//	go run ./internal/history/cpsim/table [-series 200] [-seed 1]
package main

import (
	"flag"
	"fmt"
	"math"
	"sync"

	"github.com/perfgate/perfgate/internal/history/cpsim"
)

func main() {
	n := flag.Int("series", 200, "series per case")
	seed := flag.Uint64("seed", 1, "random seed")
	set := flag.Int("set", 18, "series in a set checked together")
	flag.Parse()
	type cell struct{ d, z int }
	rows := make([][]cpsim.Row, len(cpsim.Noises))
	for i := range rows {
		rows[i] = make([]cpsim.Row, len(cpsim.Detectors))
	}
	var wg sync.WaitGroup
	for zi, z := range cpsim.Noises {
		for di, d := range cpsim.Detectors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rows[zi][di] = cpsim.Measure(d, z, *n, *seed+uint64(zi))
			}()
		}
	}
	wg.Wait()
	fmt.Printf("%d series per case, latency with fail threshold %d %%, steps of +%d %%.\n\n", *n, cpsim.FailPct, 2*cpsim.FailPct)
	fmt.Println("| noise | detector | false change points per 100 commits | false alarms (exit 3) per commit | step listed after 1 / 2 / 3 commits | alarm at the 1st | still listed 15 later | reverted step listed twice |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	pct := func(x float64) string {
		if math.IsNaN(x) {
			return "–"
		}
		return fmt.Sprintf("%.0f %%", 100*x)
	}
	for zi, z := range cpsim.Noises {
		for _, r := range rows[zi] {
			fa := "–"
			if !math.IsNaN(r.FalseAlarms) {
				fa = fmt.Sprintf("%.2f %%", 100*r.FalseAlarms)
			}
			fmt.Printf("| %s | %s | %.3f | %s | %s / %s / %s | %s | %s | %s |\n", z.Name, r.Detector, r.FalsePer100, fa,
				pct(r.Listed1), pct(r.Listed2), pct(r.Listed3), pct(r.Alarm1), pct(r.Stays), pct(r.Reverted))
		}
	}
	fmt.Println()
	for _, z := range cpsim.Noises {
		fmt.Printf("- %s: %s\n", z.Name, z.Desc)
	}
	fmt.Println()
	cases := []struct {
		trials int
		atOnce float64
	}{{1, 1}, {3, 1}, {1, 0}, {3, 0}}
	sets := make([]cpsim.SetRow, len(cases)*len(cpsim.Noises))
	for ci, c := range cases {
		for zi, z := range cpsim.Noises {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sets[ci*len(cpsim.Noises)+zi] = cpsim.MeasureSet(z, *set, *n/2, c.trials, c.atOnce, *seed+uint64(zi))
			}()
		}
	}
	wg.Wait()
	fmt.Printf("A set of %d independent series checked together (%d sets per case): the share of quiet commits at which some series raises a new alarm, and a +%d %% step in one series named at its first commit and by its second. A point is one trial, or the median of 3 as `mode: track` runs them (the noise above is then per trial). --at-once: how far, in smallest steps, the newest point alone must be to raise the alarm (1: every step at its first commit; the default 4: a smaller step waits for the newest two points together).\n\n", *set, *n/2, 2*cpsim.FailPct)
	fmt.Println("| noise | a point is | --at-once | provisional alarms per quiet commit | any new alarm per quiet commit | step named at the 1st / by the 2nd commit |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: |")
	for _, r := range sets {
		what := "one trial"
		if r.Trials > 1 {
			what = fmt.Sprintf("the median of %d", r.Trials)
		}
		fmt.Printf("| %s | %s | %g | %.1f %% | %.1f %% | %s / %s |\n", r.Noise, what, r.AtOnce, 100*r.FalseProvisional, 100*r.FalseAlarms, pct(r.Named1), pct(r.Named2))
	}
}
