// Command run fits the simulator's step-time model to a real engine's
// measurements and compares real and simulated runs of held-out traffic
// (testdata/vllm/simfit/run.sh calls it):
//
//	go run ./internal/simfit/run fit PREFILL_RUN DECODE_RUN   # prints the profile; writes fit.json beside them
//	go run ./internal/simfit/run compare REAL_DIR SIM_DIR     # one run folder per shape under each: the table
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/perfgate/perfgate/internal/simfit"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "simfit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: fit PREFILL_RUN DECODE_RUN | compare REAL_DIR SIM_DIR")
	}
	switch args[0] {
	case "fit":
		pre, err := simfit.PrefillPoints(args[1])
		if err != nil {
			return err
		}
		dec, err := simfit.DecodePoints(args[2])
		if err != nil {
			return err
		}
		f, err := simfit.FitPoints(pre, dec)
		if err != nil {
			return err
		}
		if f.StepCV, err = simfit.StepSpread(args[2]); err != nil {
			return err
		}
		fmt.Printf("step overhead %.4f ms, per decoding sequence %.4f ms, per prefill token %.5f ms, per attention pair %.4f ns; a request's own %.3f ms beyond its prefill step; steps vary by %.2f (coefficient of variation)\n",
			f.OverheadMs, f.DecodeSeqMs, f.PrefillTokenMs, f.AttnPairNs, f.RequestMs, f.StepCV)
		fmt.Println("| point | x | measured ms | fitted ms |\n| --- | ---: | ---: | ---: |")
		for _, p := range f.Points {
			fmt.Printf("| %s | %g | %.3f | %.3f |\n", p.What, p.X, p.Ms, f.Predict(p))
		}
		b, _ := json.MarshalIndent(f, "", " ")
		return os.WriteFile(filepath.Join(filepath.Dir(filepath.Clean(args[1])), "fit.json"), b, 0o644)
	case "compare":
		names, err := os.ReadDir(args[1])
		if err != nil {
			return err
		}
		var shapes []simfit.Shape
		for _, n := range names {
			r, err1 := onlyRun(filepath.Join(args[1], n.Name()))
			s, err2 := onlyRun(filepath.Join(args[2], n.Name()))
			if err1 != nil || err2 != nil {
				return fmt.Errorf("%s: %v %v", n.Name(), err1, err2)
			}
			sh, err := simfit.CompareRuns(n.Name(), r, s)
			if err != nil {
				return err
			}
			shapes = append(shapes, sh)
		}
		misses := simfit.Write(os.Stdout, shapes)
		fmt.Printf("figures outside their target: %d\n", misses)
		return nil
	}
	return fmt.Errorf("unknown step %q: fit or compare", args[0])
}

// onlyRun is the one run folder perfgate run --out DIR wrote under dir.
func onlyRun(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var runs []string
	for _, e := range ents {
		if e.IsDir() {
			runs = append(runs, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(runs)
	if len(runs) == 0 {
		return "", fmt.Errorf("no run folder in %s", dir)
	}
	return runs[len(runs)-1], nil
}
