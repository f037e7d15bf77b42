package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/sim"
	"github.com/perfgate/perfgate/internal/timingtest"
)

// TestMain lets the test binary stand in for perfgate: the fake vllm script
// of the A/B tests runs it as `perfgate sim serve` (or a perfgate built
// without the race detector: engineBin).
func TestMain(m *testing.M) {
	if os.Getenv("PERFGATE_CLI_MAIN") == "1" {
		// As cmd/perfgate does: the first signal stops gracefully.
		ctx, stop := WithSignals(context.Background(), os.Stderr)
		code := Main(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Args: os.Args})
		stop()
		os.Exit(code)
	}
	// testscript runs the transcripts in testdata/script with this binary
	// as the perfgate command.
	code := testscript.RunMain(m, map[string]func() int{"perfgate": func() int {
		return Main(context.Background(), os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Args: os.Args})
	}})
	if engineBinDir != "" {
		os.RemoveAll(engineBinDir)
	}
	os.Exit(code)
}

var (
	engineBinOnce sync.Once
	engineBinDir  string // the folder of a built engine binary, removed at the end
	engineBinPath string
)

// engineBin is what the fake vllm runs as `perfgate sim serve`. Under the
// race detector it is a perfgate built without it, once per test run: the
// simulated engine is not the code under test here (internal/sim's own
// tests run it under -race), and an instrumented engine spent CPU the A/B
// tests wait on (this package under -race on the 2-core machine: 678 s,
// from over 740 s). Without -race, or when the go command cannot build it,
// it is this test binary.
func engineBin(t *testing.T) string {
	t.Helper()
	engineBinOnce.Do(func() {
		exe, _ := os.Executable()
		engineBinPath = exe
		if !raceBuild {
			return
		}
		dir, err := os.MkdirTemp("", "perfgate-engine-")
		if err != nil {
			return
		}
		bin := filepath.Join(dir, "perfgate")
		cmd := exec.Command("go", "build", "-o", bin, "../../cmd/perfgate")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("the engine runs under -race: building perfgate without it failed: %v\n%s", err, out)
			os.RemoveAll(dir)
			return
		}
		engineBinDir, engineBinPath = dir, bin
	})
	return engineBinPath
}

func sh(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

const fakeVLLM = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "0.0.0-fake"; exit 0; fi
echo "fake vllm on GPU ${CUDA_VISIBLE_DEVICES:-all}"
exec env PERFGATE_CLI_MAIN=1 "$PERFGATE_TEST_BIN" sim "$@" --time-scale 8 --jitter 0.02 %s
`

const installFake = `mkdir -p "$PERFGATE_ENV_DIR/bin" && cp vllm "$PERFGATE_ENV_DIR/bin/vllm" && chmod +x "$PERFGATE_ENV_DIR/bin/vllm"`

// writeFakeVLLM writes repo's `vllm`: perfgate's simulator (this test
// binary) with the extra flags.
func writeFakeVLLM(t *testing.T, repo, extra string) {
	t.Helper()
	t.Setenv("PERFGATE_TEST_BIN", engineBin(t))
	if err := os.WriteFile(filepath.Join(repo, "vllm"), []byte(strings.Replace(fakeVLLM, "%s", extra, 1)), 0o755); err != nil {
		t.Fatal(err)
	}
}

// fakeRepo builds a git repository whose `vllm` is perfgate's simulator: the
// main branch has two commits, the second adding --slowdown-decode 1.30; a
// feature branch from the first commit changes nothing that matters. 30 %,
// not 10 %: at time scale 8 a TPOT is under a millisecond of wall time, and
// beside a CPU hog under -race 10 % drowned in the client's scheduling
// (a warn, not the fail these tests assert, in a CI run beside one).
func fakeRepo(t *testing.T) (repo, first, slow string) {
	t.Helper()
	return fakeRepoSlowdown(t, "1.30")
}

// fakeRepoSlowdown is fakeRepo with another decode slowdown at main.
func fakeRepoSlowdown(t *testing.T, slowdown string) (repo, first, slow string) {
	t.Helper()
	repo = t.TempDir()
	sh(t, repo, "git", "init", "-q", "-b", "main")
	write := func(extra string) { writeFakeVLLM(t, repo, extra) }
	write("")
	sh(t, repo, "git", "add", "vllm")
	sh(t, repo, "git", "commit", "-q", "-m", "fast")
	first = sh(t, repo, "git", "rev-parse", "HEAD")
	sh(t, repo, "git", "checkout", "-q", "-b", "feature")
	os.WriteFile(filepath.Join(repo, "README"), []byte("docs"), 0o644)
	sh(t, repo, "git", "add", "README")
	sh(t, repo, "git", "commit", "-q", "-m", "docs")
	sh(t, repo, "git", "checkout", "-q", "main")
	write("--slowdown-decode " + slowdown)
	sh(t, repo, "git", "commit", "-q", "-am", "slow decode")
	slow = sh(t, repo, "git", "rev-parse", "HEAD")
	return repo, first, slow
}

const abScenarioYAML = `
name: ab-fake
seed: 2
model: m
engine: {kind: vllm, args: [--max-num-seqs, "16"], health_timeout: %s, trial_policy: %s}
workload: {prompt: token_ids, classes: [{input_tokens: 256, output_tokens: 64}]}
load: {concurrency: 8}
phases: {warmup: {requests: 8}, measure: {requests: 48}}
telemetry: {interval: 20ms}
`

// simURL serves model m from an in-process simulator (time scale 8, 16
// sequences, then mod's changes) for the rest of the test.
func simURL(t *testing.T, mod func(*sim.Config)) string {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Model, cfg.TimeScale, cfg.MaxNumSeqs = "m", 8, 16
	if mod != nil {
		mod(&cfg)
	}
	r, err := sim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.URL
}

func abFile(t *testing.T, timeout, policy string) string {
	return writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", timeout, 1), "%s", policy, 1))
}

// noTTFTGate is the default gate without TTFT, for A/As that must pass: at
// time scale 8 a simulated TTFT is a few milliseconds of wall time, and on a
// busy 2-core machine under -race the client's own scheduling moves it by
// 20–30 % from trial to trial — in one CI run beside a CPU hog, p99 TTFT of
// one side's four trials all sat above the other's (+96 %), which no gate can
// tell from a regression. That is the host's noise, not the engine's.
const noTTFTGate = `gate:
  metrics:
    - {name: output_throughput, warn_pct: 3, fail_pct: 5}
    - {name: median_tpot_ms, warn_pct: 3, fail_pct: 5}
    - {name: median_e2el_ms, warn_pct: 3, fail_pct: 5}
    - {name: error_rate, warn_pct: 0.5, fail_pct: 1}
`

// abFileAA is abFile gated without TTFT (noTTFTGate).
func abFileAA(t *testing.T, timeout, policy string) string {
	return writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", timeout, 1), "%s", policy, 1)+noTTFTGate)
}

// engineProcs is the processes running as this test binary's or the
// engine binary's `… sim serve`: the fake vLLM engines.
func engineProcs() []*process.Process {
	procs, _ := process.Processes()
	exe, _ := os.Executable()
	var out []*process.Process
	for _, p := range procs {
		if cl, err := p.Cmdline(); err == nil && (strings.Contains(cl, exe) || engineBinPath != "" && strings.Contains(cl, engineBinPath)) && strings.Contains(cl, "sim serve") {
			out = append(out, p)
		}
	}
	return out
}

// survivors lists the command lines of the engines still running.
func survivors(t *testing.T) []string {
	var out []string
	for _, p := range engineProcs() {
		if cl, err := p.Cmdline(); err == nil {
			out = append(out, cl)
		}
	}
	return out
}

func TestABDetectsRegressionAndPassesSameRef(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 24 trials")
	}
	repo, first, slow := fakeRepo(t)
	work := t.TempDir()
	scen := abFile(t, "30s", "reset")
	out := t.TempDir()
	r := runCLI(t, context.Background(), nil, "ab", scen, "--vllm-repo", repo, "--baseline", "merge-base:feature", "--candidate", "main",
		"--trials", "6", "--install-command", installFake, "--work-dir", work, "--out", out)
	if r.code != ExitRegression {
		t.Fatalf("slowdown 1.30 at main: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := onlyDir(t, out)
	plan := readPlan(t, dir)
	// merge-base:feature against main is the first commit.
	if plan.Baseline != first || plan.Candidate != slow || len(plan.Order) != 12 || plan.Order[2] != "candidate" || plan.Order[3] != "baseline" {
		t.Errorf("plan: %+v", plan)
	}
	// trial_policy reset: consecutive trials of a side share an engine.
	if plan.Starts["baseline"] >= 6 || plan.Starts["candidate"] >= 6 || plan.GPUSeconds["baseline"] <= 0 {
		t.Errorf("starts %v, GPU time %v", plan.Starts, plan.GPUSeconds)
	}
	// Each start's time is in ab.json, in the meta.json of the trial that
	// started it (none in one that reused it), and the first trial gave
	// an estimate of the rest.
	for _, side := range []string{"baseline", "candidate"} {
		if ss := plan.StartSeconds[side]; len(ss) != plan.Starts[side] || ss[0] <= 0 {
			t.Errorf("%s's start times %v for %d starts", side, ss, plan.Starts[side])
		}
	}
	if !regexp.MustCompile(`ab-fake: the engine started in [\d.]+m?s and a trial ran [\d.]+m?s; the rest takes at most about \S+ \(\d+ trials, \d+ engine starts\)`).MatchString(r.stderr) {
		t.Errorf("no estimate after the first trial:\n%s", r.stderr)
	}
	var meta struct {
		Git      map[string]string
		Versions map[string]string
		Engine   record.Engine
	}
	mb, _ := os.ReadFile(filepath.Join(dir, "ab-fake", "candidate", "trial-01", "meta.json"))
	json.Unmarshal(mb, &meta)
	if meta.Git["sha"] != slow || meta.Versions["vllm"] != "0.0.0-fake" || meta.Engine.StartSeconds <= 0 {
		t.Errorf("meta: %+v", meta)
	}
	var second record.Meta
	mb, _ = os.ReadFile(filepath.Join(dir, "ab-fake", "candidate", "trial-02", "meta.json"))
	if err := json.Unmarshal(mb, &second); err != nil || second.Engine.StartSeconds != 0 {
		t.Errorf("a trial on an engine started before says it started in %v s (%v)", second.Engine.StartSeconds, err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "ab-fake", "comparison.md"))
	if !strings.Contains(string(md), "median_tpot_ms") || !strings.HasPrefix(string(md), "# ❌ FAIL") || !strings.Contains(string(md), "engine (GPU) time so far: baseline") {
		t.Errorf("comparison.md:\n%s", md)
	}
	// Started by ab, the simulator runs with GPU-like noise, each start
	// drawing its state from a seed of its own (PERFGATE_ENGINE_SEED).
	seeds := map[string]bool{}
	for _, side := range []string{"baseline", "candidate"} {
		b, err := os.ReadFile(filepath.Join(dir, "ab-fake", side, "trial-01", "engine.log"))
		if err != nil {
			t.Fatalf("engine.log: %v", err)
		}
		m := regexp.MustCompile(`perfgate sim: noise gpu, start seed (\d+): this start's steps ×[\d.]+`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("the %s's engine.log does not say its noise:\n%s", side, b)
		}
		seeds[string(m[1])] = true
	}
	if len(seeds) != 2 {
		t.Errorf("both sides' first engines drew from the same start seed %v", seeds)
	}
	// The same commit on both sides passes, and reuses the installed environments.
	r = runCLI(t, context.Background(), nil, "ab", abFileAA(t, "30s", "restart"), "--vllm-repo", repo, "--baseline", first, "--candidate", "feature",
		"--trials", "4", "--install-command", installFake, "--work-dir", work, "--out", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stderr, "installed already") {
		t.Errorf("same code: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := survivors(t); len(s) > 0 {
		t.Errorf("processes survived: %v", s)
	}
}

func TestABFailures(t *testing.T) {
	repo, first, _ := fakeRepo(t)
	// An install that fails names the side and shows its log.
	r := runCLI(t, context.Background(), nil, "ab", abFile(t, "30s", "restart"), "--vllm-repo", repo, "--baseline", first, "--candidate", "main",
		"--install-command", "echo compiling kernels; exit 7", "--work-dir", t.TempDir(), "--out", t.TempDir())
	if r.code != ExitFailed || !strings.Contains(r.stderr, "installing the baseline") || !strings.Contains(r.stderr, "compiling kernels") {
		t.Errorf("install failure: %d %s", r.code, r.stderr)
	}
	// An engine that never becomes healthy times out with its log tail.
	hang := `mkdir -p "$PERFGATE_ENV_DIR/bin" && printf '#!/bin/sh\ncase "$1" in --version) exit 0;; esac\necho loading weights from nowhere\nexec sleep 30\n' > "$PERFGATE_ENV_DIR/bin/vllm" && chmod +x "$PERFGATE_ENV_DIR/bin/vllm"`
	r = runCLI(t, context.Background(), nil, "ab", abFile(t, "1s", "restart"), "--vllm-repo", repo, "--baseline", first, "--candidate", "main",
		"--install-command", hang, "--work-dir", t.TempDir(), "--out", t.TempDir(), "--trials", "1")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "not healthy after 1s") || !strings.Contains(r.stderr, "loading weights from nowhere") || !strings.Contains(r.stderr, "verdict error") {
		t.Errorf("never healthy: %d %s", r.code, r.stderr)
	}
	// An engine that crashes mid-trial (once) is retried and reported.
	crashOnce := installFake + ` && sed -i 's|^exec env|if [ ! -f "$PERFGATE_ENV_DIR/crashed" ]; then touch "$PERFGATE_ENV_DIR/crashed"; exec env PERFGATE_CLI_MAIN=1 "$PERFGATE_TEST_BIN" sim "$@" --fault-crash-after 20; fi\nexec env|' "$PERFGATE_ENV_DIR/bin/vllm"`
	out := t.TempDir()
	r = runCLI(t, context.Background(), nil, "ab", abFile(t, "30s", "restart"), "--vllm-repo", repo, "--baseline", first, "--candidate", first,
		"--install-command", crashOnce, "--work-dir", t.TempDir(), "--out", out, "--trials", "1")
	if r.code == ExitFailed || !strings.Contains(r.stderr, "retrying once") {
		t.Errorf("crash mid-trial: %d %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	if _, err := os.Stat(filepath.Join(dir, "ab-fake", "baseline", "trial-01.failed", "engine.log")); err != nil {
		t.Error("the failed trial must be kept")
	}
	md, _ := os.ReadFile(filepath.Join(dir, "ab-fake", "comparison.md"))
	if !strings.Contains(string(md), "retried: baseline trial-01") {
		t.Errorf("the retry must be reported:\n%s", md)
	}
	if s := survivors(t); len(s) > 0 {
		t.Errorf("processes survived: %v", s)
	}
	// Bad usage.
	for _, args := range [][]string{
		{"ab", abFile(t, "30s", "restart")},
		{"ab", abFile(t, "30s", "restart"), "--vllm-repo", repo, "--baseline", "no-such-ref", "--candidate", "main"},
		{"ab", writeScenario(t, tiny), "--vllm-repo", repo, "--baseline", first, "--candidate", "main"},
	} {
		if r := runCLI(t, context.Background(), nil, args...); r.code != ExitUsage {
			t.Errorf("%v: %d %s", args, r.code, r.stderr)
		}
	}
}

func TestABEndpointModeAndCrossover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs many trials")
	}
	// Endpoint mode: two running deployments, no source.
	mk := func(slow float64) string {
		return simURL(t, func(c *sim.Config) { c.Jitter, c.SlowdownDecode = 0.02, slow })
	}
	endpointScenario := writeScenario(t, `
name: ab-endpoints
model: m
engine: {kind: endpoint, url: "http://127.0.0.1:1"}
workload: {prompt: token_ids, classes: [{input_tokens: 256, output_tokens: 64}]}
load: {concurrency: 8}
phases: {warmup: {requests: 8}, measure: {requests: 48}}
`)
	out := t.TempDir()
	r := runCLI(t, context.Background(), nil, "ab", endpointScenario, "--baseline-url", mk(1), "--candidate-url", mk(1.30), "--trials", "5", "--out", out)
	if r.code != ExitRegression {
		t.Errorf("endpoint mode: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// --min-trials and --max-trials bound the sequential design itself: at
	// 2 and 2 the first look is the last.
	out = t.TempDir()
	r = runCLI(t, context.Background(), nil, "ab", endpointScenario, "--baseline-url", mk(1), "--candidate-url", mk(1.30), "--min-trials", "2", "--max-trials", "2", "--out", out)
	if plan := readPlan(t, onlyDir(t, out)); len(plan.Scenarios) != 1 || plan.Scenarios[0].Trials != [2]int{2, 2} {
		t.Errorf("--min-trials 2 --max-trials 2: %+v\n%s", plan.Scenarios, r.stderr)
	}
	// Crossover: both sides at once on GPUs 0 and 1, swapped every round.
	repo, first, _ := fakeRepo(t)
	out = t.TempDir()
	r = runCLI(t, context.Background(), nil, "ab", abFileAA(t, "30s", "restart"), "--vllm-repo", repo, "--baseline", first, "--candidate", first,
		"--trials", "4", "--crossover", "--warmup-trial", "--install-command", installFake, "--work-dir", t.TempDir(), "--out", out)
	if r.code != 0 {
		t.Fatalf("crossover: %d %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	for round, want := range map[int][2]string{1: {"0", "1"}, 2: {"1", "0"}} {
		for i, sideName := range []string{"baseline", "candidate"} {
			b, _ := os.ReadFile(filepath.Join(dir, "ab-fake", sideName, fmt.Sprintf("trial-%02d", round), "engine.log"))
			if !strings.Contains(string(b), "fake vllm on GPU "+want[i]) {
				t.Errorf("round %d %s: engine.log says %q", round, sideName, b)
			}
		}
	}
	if s := survivors(t); len(s) > 0 {
		t.Errorf("processes survived: %v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "ab-fake", "comparison.json")); err != nil {
		t.Error("no comparison")
	}
	for _, args := range [][]string{
		{"ab", endpointScenario, "--baseline-url", "http://127.0.0.1:1"},
		{"ab", endpointScenario, "--baseline-url", "http://a", "--candidate-url", "http://b", "--vllm-repo", repo},
	} {
		if r := runCLI(t, context.Background(), nil, args...); r.code != ExitUsage {
			t.Errorf("%v: %d %s", args, r.code, r.stderr)
		}
	}
}

// trial_policy reset needs vLLM's development routes. perfgate sets
// VLLM_SERVER_DEV_MODE=1 for a server it starts; where the reset is refused
// anyway, it starts a fresh engine per trial (or, for an endpoint it cannot
// restart, says that the trials ran warm) and notes it in the comparison.
func TestABResetRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an A/B")
	}
	repo, first, _ := fakeRepo(t)
	out := t.TempDir()
	// engine.env comes after perfgate's own VLLM_SERVER_DEV_MODE=1.
	scen := abFile(t, "30s", "reset, env: [VLLM_SERVER_DEV_MODE=0]")
	r := runCLI(t, context.Background(), nil, "ab", scen, "--vllm-repo", repo, "--baseline", first, "--candidate", "feature",
		"--trials", "2", "--install-command", installFake, "--work-dir", t.TempDir(), "--out", out)
	if r.code != 0 || !strings.Contains(r.stderr, "answered 404") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := onlyDir(t, out)
	var plan ab.Plan
	b, _ := os.ReadFile(filepath.Join(dir, "ab.json"))
	json.Unmarshal(b, &plan)
	if plan.Starts["baseline"]+plan.Starts["candidate"] != 4 {
		t.Errorf("a fresh engine per trial once the reset is refused: %v", plan.Starts)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "ab-fake", "comparison.md"))
	if !strings.Contains(string(md), "VLLM_SERVER_DEV_MODE=1") || !strings.Contains(string(md), "every trial had a fresh engine") {
		t.Errorf("comparison.md has no note:\n%s", md)
	}

	// Endpoints: one serves the route, one does not.
	mk := func(dev bool) string { return simURL(t, func(c *sim.Config) { c.DevMode = dev }) }
	endpoint := writeScenario(t, `
name: ab-endpoints
model: m
engine: {kind: endpoint, url: "http://127.0.0.1:1", trial_policy: reset}
workload: {prompt: token_ids, classes: [{input_tokens: 256, output_tokens: 16}]}
load: {concurrency: 4}
phases: {measure: {requests: 8}}
`)
	out = t.TempDir()
	r = runCLI(t, context.Background(), nil, "ab", endpoint, "--baseline-url", mk(true), "--candidate-url", mk(false), "--trials", "2", "--out", out)
	if r.code != 0 {
		t.Fatalf("endpoints: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	md, _ = os.ReadFile(filepath.Join(onlyDir(t, out), "ab-endpoints", "comparison.md"))
	if !strings.Contains(string(md), "the candidate's POST /reset_prefix_cache answered 404") || strings.Contains(string(md), "the baseline's") {
		t.Errorf("comparison.md:\n%s", md)
	}
}

// The sequential design end to end (issue 15): a 30 % decode regression
// stops early with a fail; the same code on both sides passes without a
// warn, and a trial made slow on purpose (the second engine start of each
// side runs three times slower everywhere) is re-run as an outlier, not
// compared. Three times, not 30 %: in one CI run (-race, a busy 2-core
// machine) the A/A passed with its 30 % trials compared instead of re-run —
// the comparison's 12 % noise is what those two trials alone make of a quiet
// A/A — and the cause was not reproduced here (gate.Outliers flags 30 %
// trials among 1–4 % noise in a direct test). A trial three times slower is
// far past any noise scale the machine can produce.
func TestABSequential(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sequential A/Bs")
	}
	repo, first, _ := fakeRepoSlowdown(t, "1.30")
	// A trial here is a fraction of a second: a stall of the machine inside
	// one is a slowdown of several times. Each A/B is judged on an attempt
	// that saw none.
	var out string
	var r result
	timingtest.Calm(t, 100*time.Millisecond, func() {
		out = t.TempDir()
		r = runCLI(t, context.Background(), nil, "ab", abFile(t, "30s", "reset"), "--vllm-repo", repo, "--baseline", "merge-base:feature", "--candidate", "main",
			"--install-command", installFake, "--work-dir", t.TempDir(), "--out", out)
	})
	if r.code != ExitRegression {
		t.Fatalf("slowdown 1.30: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := onlyDir(t, out)
	plan := readPlan(t, dir)
	res := plan.Scenarios[0]
	t.Logf("+30 %%: %s after %v trials (%s)", res.Verdict, res.Trials, res.Stopped)
	if res.Verdict != "fail" || res.StopReason != "fail" || res.Trials[0] >= 10 || res.Trials[0] != res.Trials[1] {
		t.Errorf("must stop early with a fail: %+v", res)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "ab-fake", "comparison.md"))
	if !strings.Contains(string(md), "a regression is clear") || !strings.Contains(r.stdout, "trials per side: a regression is clear") {
		t.Errorf("the stop reason must be said:\n%s\n%s", md, r.stdout)
	}
	if !strings.Contains(r.stderr, "sequential, 3 to 10 trials per side") || !strings.Contains(r.stderr, "look after 3 trials per side") {
		t.Errorf("the plan and the looks must be said:\n%s", r.stderr)
	}

	// A/A with one slow trial per side, gated without TTFT (noTTFTGate).
	aa := abFileAA(t, "30s", "restart")
	slowSecond := `mkdir -p "$PERFGATE_ENV_DIR/bin" && cp vllm "$PERFGATE_ENV_DIR/bin/vllm-real" && chmod +x "$PERFGATE_ENV_DIR/bin/vllm-real" && cat > "$PERFGATE_ENV_DIR/bin/vllm" <<'EOS'
#!/bin/sh
d=$(dirname "$0")
if [ "$1" = serve ]; then
  n=$(cat "$d/starts" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$d/starts"
  if [ $n -eq 2 ]; then exec "$d/vllm-real" "$@" --slowdown-decode 3 --slowdown-prefill 3; fi
fi
exec "$d/vllm-real" "$@"
EOS
chmod +x "$PERFGATE_ENV_DIR/bin/vllm"`
	timingtest.Calm(t, 100*time.Millisecond, func() {
		out = t.TempDir()
		r = runCLI(t, context.Background(), nil, "ab", aa, "--vllm-repo", repo, "--baseline", first, "--candidate", "feature",
			"--install-command", slowSecond, "--work-dir", t.TempDir(), "--out", out)
	})
	dir = onlyDir(t, out)
	b, _ := os.ReadFile(filepath.Join(dir, "ab.json"))
	plan = ab.Plan{}
	json.Unmarshal(b, &plan)
	md, _ = os.ReadFile(filepath.Join(dir, "ab-fake", "comparison.md"))
	if len(plan.Scenarios) == 0 {
		t.Fatalf("no result: exit %d\n%s", r.code, r.stderr)
	}
	res = plan.Scenarios[0]
	t.Logf("A/A: %s after %v trials (%s), reruns %v", res.Verdict, res.Trials, res.Stopped, res.Reruns)
	if os.Getenv("PERFGATE_SHOW") != "" {
		t.Logf("comparison.md:\n%s", md)
	}
	if r.code != 0 || res.Verdict != "pass" {
		t.Errorf("A/A: exit %d, verdict %s\n%s\n%s", r.code, res.Verdict, md, r.stderr)
	}
	if len(res.Reruns) == 0 || !strings.Contains(string(md), "re-run: the ") {
		t.Errorf("the slow trials must be re-run and said:\n%s\n%s", md, r.stderr)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, "ab-fake", "*", "trial-*.outlier-*"))
	if len(kept) != len(res.Reruns) {
		t.Errorf("every outlier is kept beside: %v for %v", kept, res.Reruns)
	}
	if s := survivors(t); len(s) > 0 {
		t.Errorf("processes survived: %v", s)
	}
}

// readPlan reads an A/B folder's ab.json.
func readPlan(t *testing.T, dir string) ab.Plan {
	t.Helper()
	var plan ab.Plan
	b, err := os.ReadFile(filepath.Join(dir, "ab.json"))
	if err == nil {
		err = json.Unmarshal(b, &plan)
	}
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// perfgate ab against the simulator with its GPU-like noise (clock states,
// slow starts, drift and step jitter drawn per engine start), the
// sequential gate's defaults gated on throughput, TPOT, E2EL and errors: an
// A/A of two commits that change nothing passes, and a commit that slows
// decode by 10 % fails. The error rates behind these come from the
// calibration (internal/gatesim); this is the procedure end to end.
func TestABGPULikeNoise(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sequential A/Bs")
	}
	repo, first, _ := fakeRepoSlowdown(t, "1.10")
	scen := abFileAA(t, "30s", "restart")
	for _, c := range []struct {
		name, base, cand string
		want             string
		code             int
	}{
		{"A/A", first, "feature", "pass", 0},
		{"decode +10 %", "merge-base:feature", "main", "fail", ExitRegression},
	} {
		var r result
		var out string
		timingtest.Calm(t, 100*time.Millisecond, func() {
			out = t.TempDir()
			r = runCLI(t, context.Background(), nil, "ab", scen, "--vllm-repo", repo, "--baseline", c.base, "--candidate", c.cand,
				"--install-command", installFake, "--work-dir", t.TempDir(), "--out", out)
		})
		dir := onlyDir(t, out)
		res := readPlan(t, dir).Scenarios[0]
		t.Logf("%s: %s after %v trials (%s); %s", c.name, res.Verdict, res.Trials, res.Stopped, res.Headline)
		if r.code != c.code || string(res.Verdict) != c.want {
			md, _ := os.ReadFile(filepath.Join(dir, "ab-fake", "comparison.md"))
			t.Errorf("%s: exit %d, verdict %s; want %d, %s\n%s\n%s", c.name, r.code, res.Verdict, c.code, c.want, md, lastLines(r.stderr, 40))
		}
	}
}
