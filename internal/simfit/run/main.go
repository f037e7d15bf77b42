// Command run fits the simulator's step-time model to a real engine's
// measurements and compares real and simulated runs of held-out traffic
// (testdata/vllm/simfit/run.sh calls it):
//
//	go run ./internal/simfit/run fit PREFILL_RUN DECODE_RUN...  # prints the profile; writes fit.json beside them
//	go run ./internal/simfit/run compare REAL_DIR SIM_DIR     # one run folder per shape under each: the table
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/internal/simfit"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "simfit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 3 || args[0] != "fit" && len(args) != 3 {
		return fmt.Errorf("usage: fit PREFILL_RUN DECODE_RUN... | compare REAL_DIR SIM_DIR")
	}
	switch args[0] {
	case "fit":
		pre, err := simfit.PrefillPoints(args[1])
		if err != nil {
			return err
		}
		var dec []simfit.Point
		for i, d := range args[2:] {
			pts, err := simfit.DecodePoints(d)
			if err != nil {
				return err
			}
			for j := range pts {
				pts[j].Run = i
			}
			dec = append(dec, pts...)
		}
		f, err := simfit.FitPoints(pre, dec)
		if err != nil {
			return err
		}
		if f.StepCV, err = simfit.StepSpread(args[2]); err != nil {
			return err
		}
		fmt.Printf("step overhead %.4f ms (each decode sweep's: %.4f), per decoding sequence %.4f ms, per token of its context %.1f ns, per prefill token %.5f ms, per prefill attention pair %.4f ns; a request's own %.3f ms beyond its prefill step; steps vary by %.2f (coefficient of variation)\n",
			f.OverheadMs, f.RunOverheadMs, f.DecodeSeqMs, f.DecodeCtxNs, f.PrefillTokenMs, f.AttnPairNs, f.RequestMs, f.StepCV)
		fmt.Println("| point | sweep | prompt tokens / sequences | context | sample | measured ms | fitted ms |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |")
		for _, p := range f.Points {
			sweep := sweepName(args[1])
			if p.What == "decode" {
				sweep = sweepName(args[2+p.Run])
			}
			fmt.Printf("| %s | %s | %g | %.0f | %d | %.3f | %.3f |\n", p.What, sweep, p.X, p.Ctx, p.Sample, p.Ms, f.Predict(p))
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

// sweepName is a run folder's scenario name: DIR/20261207T204535Z_NAME.
func sweepName(dir string) string {
	_, name, ok := strings.Cut(filepath.Base(filepath.Clean(dir)), "_")
	if !ok {
		return filepath.Base(dir)
	}
	return name
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
