package scenario

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGoodScenarios(t *testing.T) {
	// The shipped scenarios are checked too, so none can rot.
	files, _ := filepath.Glob("testdata/good/*.yaml")
	shipped, _ := filepath.Glob("../../scenarios/*.yaml")
	if len(files) == 0 || len(shipped) < 3 {
		t.Fatal("no good scenarios")
	}
	files = append(files, shipped...)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := LoadForRun(f)
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			// The snapshot written into run folders must load back to the same scenario.
			b, err := yaml.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := Parse("snapshot", b)
			if err != nil {
				t.Fatalf("snapshot does not reload: %v\n%s", err, b)
			}
			b2, _ := yaml.Marshal(s2)
			if string(b) != string(b2) {
				t.Errorf("snapshot round trip differs:\n%s\n---\n%s", b, b2)
			}
		})
	}
}

// Each bad file's full error output is compared with its .golden file.
// Run `go test ./internal/scenario -update` after an intended change.
func TestBadScenariosGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 8 {
		t.Fatalf("only %d bad scenarios", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadForRun(f)
			if err == nil {
				t.Fatal("expected an error")
			}
			if !IsValidation(err) {
				t.Fatalf("not a validation error: %v", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, f+":") {
					t.Errorf("line does not start with the file name: %q", line)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse("x.yaml", []byte("name: d\nworkload: {classes: [{input_tokens: 10, output_tokens: 5}]}\nload: {rate: 2}\nphases: {measure: {duration: 2s}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.API != APICompletions || s.Engine.Kind != EngineSim {
		t.Errorf("engine/api defaults: %+v %q", s.Engine, s.API)
	}
	if s.Load.Mode != ModeOpen || s.Load.Arrival != ArrivalPoisson || s.Load.Burstiness != 0 {
		t.Errorf("load defaults: %+v", s.Load)
	}
	if s.Phases.OnEnd != OnEndDrain || s.Phases.BetweenLevels != BetweenReset || s.RequestTimeout.D() != DefaultRequestTimeout {
		t.Errorf("phase defaults: %+v %v", s.Phases, s.RequestTimeout.D())
	}
	if s.Workload.Classes[0].Name != "class0" || s.Workload.Classes[0].Weight != 1 {
		t.Errorf("class defaults: %+v", s.Workload.Classes[0])
	}
	if s.Phases.Measure.Duration.D() != 2*time.Second {
		t.Errorf("duration: %v", s.Phases.Measure.Duration.D())
	}
	lv := s.LevelSpecs()
	if len(lv) != 1 || lv[0].Rate != 2 || lv[0].Mode != ModeOpen {
		t.Errorf("levels: %+v", lv)
	}
	// An endpoint is not perfgate's to reset unless the scenario asks.
	e, err := Parse("e.yaml", []byte(`name: e
engine: {kind: endpoint, url: "http://127.0.0.1:8000"}
workload: {classes: [{input_tokens: 10, output_tokens: 5}]}
load: {rate: 2}
phases: {measure: {duration: 2s}}
`))
	if err != nil || e.Phases.BetweenLevels != BetweenKeep {
		t.Errorf("endpoint between_levels: %v %q", err, e.Phases.BetweenLevels)
	}
}

func TestDurationAsSeconds(t *testing.T) {
	s, err := Parse("x.yaml", []byte("name: d\nworkload: {classes: [{input_tokens: 10, output_tokens: 5}]}\nload: {concurrency: 2}\nphases: {measure: {duration: 1.5}}\nrequest_timeout: 90\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Phases.Measure.Duration.D() != 1500*time.Millisecond || s.RequestTimeout.D() != 90*time.Second {
		t.Errorf("got %v and %v", s.Phases.Measure.Duration.D(), s.RequestTimeout.D())
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"rate", "concurrency", "levels", "arrival", "burstiness"}
	for in, want := range map[string]string{"ratee": "rate", "concurency": "concurrency", "arival": "arrival", "xyzzy": "", "concurr": "concurrency"} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// A file of aliases (160,000 of them, 0.6 MB) is refused once it expands
// past MaxValues, at once and in bounded memory: it took minutes and
// gigabytes before.
func TestAliasesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: aliases\nengine: {kind: sim}\nc: &c {name: c, input_tokens: 1, output_tokens: 1, weight: 1}\nworkload:\n  classes: [*c")
	for range 160_000 - 1 {
		b.WriteString(", *c")
	}
	b.WriteString("]\nload: {rate: 1}\nphases: {measure: {requests: 1}}\n")
	start := time.Now()
	_, err := Parse("aliases.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "the scenario expands to over 100000 values (through YAML aliases, *name)") {
		t.Fatalf("got %.500v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s", took)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > MaxProblems+1 {
		t.Errorf("%d lines of problems", n)
	}
}

// A ShareGPT class filters lengths as vLLM's ShareGPT sampler does unless
// the file says otherwise (0: no filter); a conversation replay has none.
func TestShareGPTFiltersDefaultToVLLMs(t *testing.T) {
	parse := func(ds string) Dataset {
		t.Helper()
		s, err := Parse("s.yaml", []byte("name: s\nworkload:\n  classes: [{output_tokens: 8, dataset: {format: sharegpt, path: x.json"+ds+"}}]\n  sessions: {turns: 2}\nload: {concurrency: 1}\nphases: {measure: {requests: 1}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s.Workload.Classes[0].Dataset
	}
	if d := parse(""); d.MinPromptTokens != 4 || d.MaxPromptTokens != 1024 || d.MinOutputTokens != 4 || d.MaxTotalTokens != 2048 {
		t.Errorf("defaults: %+v", d)
	}
	if d := parse(", min_prompt_tokens: 0, max_total_tokens: 4096"); d.MinPromptTokens != 0 || d.MaxTotalTokens != 4096 || d.MaxPromptTokens != 1024 {
		t.Errorf("set by the file: %+v", d)
	}
	if d := parse(", conversations: true"); d.MinPromptTokens != 0 || d.MaxTotalTokens != 0 {
		t.Errorf("a conversation replay: %+v", d)
	}
}
