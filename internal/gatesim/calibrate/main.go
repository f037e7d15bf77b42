// Command calibrate prints the gate's calibration table (docs/statistics.md):
//
//	go run ./internal/gatesim/calibrate [-sims 2000] [-seed 1]
//
// Rows are noise models × designs (fixed trials per side, and the
// sequential default of perfgate ab); columns are true TPOT changes. Each
// cell gives the share of simulated comparisons that fail, that warn, and
// the mean number of trials (both sides together, outlier reruns included).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/perfgate/perfgate/internal/gatesim"
	"github.com/perfgate/perfgate/internal/scenario"
)

func main() {
	sims := flag.Int("sims", 2000, "simulated comparisons per cell")
	seed := flag.Uint64("seed", 1, "random seed")
	only := flag.String("noise", "", "one noise model (default: all)")
	targets := flag.Bool("targets", false, "print the targets of the sequential default and whether each is met (exit 1 if not)")
	fit := flag.String("fit", "", "fit a noise model to the trials of an A/A's comparison.json and print it")
	flag.Parse()
	if *fit != "" {
		n, err := fitFile(*fit)
		if err != nil {
			fmt.Fprintf(os.Stderr, "calibrate: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(gatesim.Literal(n))
		return
	}
	if *targets {
		if !targetsTable(*sims, *seed) {
			os.Exit(1)
		}
		return
	}
	changes := []float64{0, 4, 5, 10, 30}
	// Fixed designs without re-runs are perfgate compare's (it cannot re-run);
	// "fixed 6, 3 re-runs" is perfgate ab --trials 6; sequential is ab's default.
	designs := []gatesim.Design{{Fixed: 3}, {Fixed: 4}, {Fixed: 6}, {Fixed: 6, Reruns: scenario.DefaultOutlierReruns}, {Fixed: 10}, gatesim.Sequential}
	var noises []gatesim.Noise
	for _, n := range gatesim.Noises {
		if *only == "" || n.Name == *only {
			noises = append(noises, n)
		}
	}
	if len(noises) == 0 {
		fmt.Fprintf(os.Stderr, "calibrate: no noise model %q\n", *only)
		os.Exit(2)
	}
	var specs []gatesim.Spec
	for _, n := range noises {
		for _, d := range designs {
			for _, ch := range changes {
				specs = append(specs, gatesim.Spec{Noise: n, Change: gatesim.Change{TPOTPct: ch}, Design: d, Seed: *seed})
			}
		}
	}
	all := gatesim.RunAll(specs, *sims)
	var cells [][]gatesim.Cell // a row per noise model and design
	for i := 0; i < len(all); i += len(changes) {
		cells = append(cells, all[i:i+len(changes)])
	}
	fmt.Printf("Calibration: %d simulated comparisons per cell, seed %d; a scenario of %d levels × the 6 default gating metrics; the true change is TPOT worse at every level.\n", *sims, *seed, gatesim.Levels)
	fmt.Println("Each cell: fail % / warn % / mean trials (both sides, outlier reruns included).")
	fmt.Println()
	fmt.Print("| noise | design |")
	for _, ch := range changes {
		fmt.Printf(" TPOT %+g %% |", ch)
	}
	fmt.Print("\n| --- | --- |")
	for range changes {
		fmt.Print(" ---: |")
	}
	fmt.Println()
	for _, row := range cells {
		fmt.Printf("| %s | %s |", row[0].Noise, row[0].Design)
		for _, c := range row {
			fmt.Printf(" %.1f / %.1f / %.1f |", 100*c.FailRate(), 100*c.WarnRate(), c.Trials)
		}
		fmt.Println()
	}
	fmt.Println()
	fmt.Println("Noise models:")
	for _, n := range noises {
		fmt.Printf("- %s: %s\n", n.Name, n.Desc)
	}
}

// fitFile fits a noise model to a comparison.json's per-trial values.
func fitFile(path string) (gatesim.Noise, error) {
	return gatesim.FitFile("fitted", path)
}
