// Package arch holds no code: its test checks, from `go list`, that
// perfgate's packages import one another only as docs/architecture.md says.
package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/perfgate/perfgate/"

// layer of every package under internal/ (and cmd/): a package may import
// packages of lower layers only, plus what sameLayer lets it.
//
//	0 leaves: no internal imports
//	1 domain: the scenario and the gate's rules
//	2 engines and measurement
//	3 engines started, the runner, output
//	4 orchestration: a trial (run), the A/B and bisect (ab)
//	5 the GitHub Action's modes (action)
//	6 wiring: cli only; then the binaries
var layer = map[string]int{
	"internal/metric": 0, "internal/stats": 0, "internal/svgsafe": 0, "internal/childenv": 0, "internal/pace": 0,
	"internal/registry": 0, "internal/timingtest": 0, "internal/plot": 0,
	"internal/sim/profile": 0, "internal/record": 0, "internal/github/githubtest": 0, "internal/vocab": 0, "internal/retry": 0, "internal/numfmt": 0, "internal/fault": 0, "internal/secret": 0, "internal/proctree": 0,

	"internal/gate": 1, "internal/scenario": 1, "internal/vllmsrc": 1, "internal/history/otavaref": 1,
	"internal/browsertest": 1, // tests' Chromium: tries a failed start again through retry

	"internal/workload": 2, "internal/arrival": 2, "internal/telemetry": 2, "internal/telemetry/nvml": 2,
	"internal/analysis": 2, "internal/sim": 2, "internal/openai": 2, "internal/history": 2, "internal/gatesim": 2,
	"internal/history/cpsim": 2, "internal/comparison": 2,

	"internal/engine": 3, "internal/runner": 3, "internal/telemetry/probe": 3, "internal/report": 3, "internal/importer": 3, "internal/history/site": 3,
	"internal/compare": 3, "internal/export": 3, "internal/report/reporttest": 3,
	"internal/github": 3, "internal/gatesim/calibrate": 3, "internal/history/cpsim/table": 3,

	"internal/run": 4, "internal/ab": 4, "internal/simfit": 4, // the simulator against a real engine: reads run folders
	"internal/simfit/run": 5,

	"internal/action": 5, // the GitHub Action's modes: A/Bs through ab, GitHub through github

	"internal/cli": 6, "internal/arch": 6,
	"examples/extending": 6, // an extension: registers its own formats and charts (docs/extending.md)
	"cmd/perfgate":       7, "examples/extending/cmd/perfgate-extended": 7,
}

// sameLayer are imports within a layer, each with why it is there.
var sameLayer = map[string][]string{
	"internal/metric":        {"internal/record"},  // a metric's value is read from a summary's level
	"internal/compare":       {"internal/report"},  // trials are run folders, read by report
	"internal/export":        {"internal/report"},  // vLLM's files are written from run folders, read by report
	"internal/scenario":      {"internal/gate"},    // a scenario's gate: section is the gate's rules
	"internal/history/cpsim": {"internal/history"}, // the change-point simulation drives history's detector
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

var update = flag.Bool("update", false, "rewrite docs/architecture.md's layer table")

// layerNames say what each layer is, for docs/architecture.md.
var layerNames = []string{
	"0 leaves (no internal imports but those listed)",
	"1 domain: the scenario and the gate's rules",
	"2 engines and measurement",
	"3 started engines, the runner, output",
	"4 orchestration: a trial, the A/B and bisect",
	"5 the Action's modes",
	"6 wiring",
	"7 the binaries",
}

// layerTable is docs/architecture.md's table of the layers, made from the
// map above so that the doc cannot drift from what the test enforces.
func layerTable() string {
	var b strings.Builder
	b.WriteString("| layer | packages |\n| --- | --- |\n")
	for l, what := range layerNames {
		var names []string
		for name, nl := range layer {
			if nl == l {
				n := strings.TrimPrefix(name, "internal/")
				if deps := sameLayer[name]; len(deps) > 0 {
					var ds []string
					for _, d := range deps {
						ds = append(ds, "`"+strings.TrimPrefix(d, "internal/")+"`")
					}
					n = "`" + n + "` (on " + strings.Join(ds, ", ") + ")"
				} else {
					n = "`" + n + "`"
				}
				names = append(names, n)
			}
		}
		slices.Sort(names)
		fmt.Fprintf(&b, "| %s | %s |\n", what, strings.Join(names, ", "))
	}
	return b.String()
}

const (
	tableStart = "<!-- layer table: go test ./internal/arch -update writes it -->\n"
	tableEnd   = "<!-- end of the layer table -->\n"
)

// TestArchitectureDocHasTheLayers: docs/architecture.md's layer table is
// the one the test enforces (-update rewrites it).
func TestArchitectureDocHasTheLayers(t *testing.T) {
	const doc = "../../docs/architecture.md"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, tableStart), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no layer table between %q and %q", doc, tableStart, tableEnd)
	}
	want := s[:i+len(tableStart)] + layerTable() + s[j:]
	if *update {
		if err := os.WriteFile(doc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Errorf("%s's layer table is not the test's; run go test ./internal/arch -update", doc)
	}
}

func TestPackagesImportOnlyDownward(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "../../...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Skipf("no go command here: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := map[string]bool{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		seen[name] = true
		l, ok := layer[name]
		if !ok {
			t.Errorf("%s has no layer: add it to the table here and to docs/architecture.md", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, internal := strings.CutPrefix(imp, module)
			if !internal {
				continue
			}
			dl, ok := layer[dep]
			switch {
			case !ok:
				t.Errorf("%s imports %s, which has no layer", name, dep)
			case dep == "internal/cli" && !strings.HasPrefix(name, "cmd/") && !strings.HasPrefix(name, "examples/"):
				t.Errorf("%s imports cli: only the binaries wire cli", name)
			case dl > l:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports go down", name, l, dep, dl)
			case dl == l && !slices.Contains(sameLayer[name], dep):
				t.Errorf("%s imports %s in its own layer %d, which sameLayer does not allow", name, dep, l)
			}
		}
		if l == 0 {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module) && !slices.Contains(sameLayer[name], strings.TrimPrefix(imp, module)) {
					t.Errorf("%s is a leaf and imports %s", name, imp)
				}
			}
		}
	}
	for name := range layer {
		if !seen[name] {
			t.Errorf("%s is in the table but is no package: remove it", name)
		}
	}
}

// light are packages that read and render results, with the dependencies
// they must never pull in: the probes' (gopsutil, the Prometheus parser)
// belong to a run, not to reading one, and the PR comment links no charts.
var light = map[string][]string{
	"internal/telemetry":  {"github.com/shirou/gopsutil", "github.com/prometheus/common/expfmt"},
	"internal/analysis":   {"github.com/shirou/gopsutil", "github.com/prometheus/common/expfmt"},
	"internal/report":     {"github.com/shirou/gopsutil", "github.com/prometheus/common/expfmt"},
	"internal/comparison": {"github.com/shirou/gopsutil", "gonum.org/v1/plot"},
	"internal/github":     {"github.com/shirou/gopsutil", "gonum.org/v1/plot"},
}

func TestLightPackagesStayLight(t *testing.T) {
	for name, heavy := range light {
		out, err := exec.Command("go", "list", "-deps", "../../"+name).Output()
		if err != nil {
			t.Skipf("no go command here: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, h := range heavy {
				if strings.HasPrefix(dep, h) {
					t.Errorf("%s depends on %s", name, dep)
				}
			}
		}
	}
}
