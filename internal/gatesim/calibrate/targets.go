package main

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/internal/gatesim"
)

// targetsTable prints the gate's targets on the sequential default, each
// with the figure measured under every noise model it covers, worst first.
func targetsTable(sims int, seed uint64) bool {
	type key struct {
		noise  string
		change float64
	}
	cells := map[key]gatesim.Cell{}
	var keys []key
	var specs []gatesim.Spec
	for _, t := range gatesim.Targets() {
		k := key{t.Noise, t.Change}
		if _, ok := cells[k]; !ok {
			cells[k] = gatesim.Cell{}
			keys = append(keys, k)
			n, _ := gatesim.NoiseByName(k.noise)
			specs = append(specs, gatesim.Spec{Noise: n, Change: gatesim.Change{TPOTPct: k.change}, Design: gatesim.Sequential, Seed: seed})
		}
	}
	for i, c := range gatesim.RunAll(specs, sims) {
		cells[keys[i]] = c
	}

	fmt.Printf("Targets of the sequential default: %d simulated comparisons per cell, seed %d.\n\n", sims, seed)
	fmt.Println("| target | measured (noise model: figure) | met |")
	fmt.Println("| --- | --- | :---: |")
	allMet := true
	var what string
	var parts []string
	met := true
	flush := func() {
		if what == "" {
			return
		}
		mark := "✅"
		if !met {
			mark, allMet = "❌", false
		}
		fmt.Printf("| %s | %s | %s |\n", what, strings.Join(parts, ", "), mark)
	}
	for _, t := range gatesim.Targets() {
		if t.What != what {
			flush()
			what, parts, met = t.What, nil, true
		}
		c := cells[key{t.Noise, t.Change}]
		v := t.Of(c)
		f := fmt.Sprintf("%.1f %%", 100*v)
		if t.Rate == "starts" {
			f = fmt.Sprintf("%.1f", v)
		}
		if !t.Met(c) {
			met = false
			f = "**" + f + "**"
		}
		parts = append(parts, t.Noise+" "+f)
	}
	flush()
	return allMet
}
