package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/perfgate/perfgate/internal/github"
	"github.com/perfgate/perfgate/internal/github/githubtest"
)

// The workflow act runs: this repository's action after actions/checkout,
// then a step that prints the action's outputs for the test to read.
const actWorkflow = `name: perf
on: pull_request
jobs:
  perf:
    runs-on: self-hosted
    steps:
      - uses: actions/checkout@v4
      - id: pg
        uses: ./
        with:
          scenarios: %SCENARIO%
          vllm-path: %VLLM%
          %TRIALS%
          install-command: %INSTALL%
          github-token: ${{ secrets.GITHUB_TOKEN }}
          api-url: %API%
          work-dir: %WORK%
          output-dir: %OUT%
          fail-on: %FAILON%
      - name: outputs
        if: always()
        env:
          VERDICT: ${{ steps.pg.outputs.verdict }}
          COMMENT_URL: ${{ steps.pg.outputs.comment-url }}
          SUMMARY_JSON: ${{ steps.pg.outputs.summary-json }}
          REPORT_DIR: ${{ steps.pg.outputs.report-dir }}
        run: |
          echo "OUT verdict=$VERDICT"
          echo "OUT comment-url=$COMMENT_URL"
          echo "OUT summary-json=$SUMMARY_JSON"
          echo "OUT report-dir=$REPORT_DIR"
`

// setupGoStandIn replaces actions/setup-go, which act fetches even behind
// a false if: the runner has Go, so it fails if it ever runs.
const setupGoStandIn = "name: setup-go stand-in\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo 'setup-go ran though Go is installed'; exit 1\n"

// findAct is the act binary: a skip without it, a failure where .ci/run
// requires it.
func findAct(t *testing.T) string {
	t.Helper()
	act, err := exec.LookPath("act")
	if err == nil {
		return act
	}
	if p := filepath.Join(os.Getenv("HOME"), "go", "bin", "act"); fileExists(p) {
		return p
	}
	if os.Getenv("PERFGATE_REQUIRE_ACT") != "" {
		t.Fatal("act is not installed (go install github.com/nektos/act@v0.2.89); .ci/run installs it")
	}
	t.Skip("act is not installed: go install github.com/nektos/act@v0.2.89")
	return ""
}

// actPR is a pull-request workflow run under act.
type actPR struct {
	vllm, install, scenarioYAML string
	trials                      string // the trials input ("": none, a sequential A/B)
	failOn                      string
	base, head                  string // the pull request's base and head SHAs
	timeout                     time.Duration
}

// actWorkspace is a copy of this repository, as a workflow's checkout.
func actWorkspace(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	list := exec.Command("git", "ls-files", "-co", "--exclude-standard", "-z")
	list.Dir = root
	names, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range strings.Split(strings.TrimRight(string(names), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			continue // deleted in the working tree
		}
		os.MkdirAll(filepath.Join(ws, filepath.Dir(n)), 0o755)
		if err := os.WriteFile(filepath.Join(ws, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// actCommit makes the workspace a repository whose only workflow is wf.
func actCommit(t *testing.T, ws, wf string) {
	t.Helper()
	os.RemoveAll(filepath.Join(ws, ".github", "workflows"))
	os.MkdirAll(filepath.Join(ws, ".github", "workflows"), 0o755)
	os.WriteFile(filepath.Join(ws, ".github", "workflows", "perf.yml"), []byte(wf), 0o644)
	sh(t, ws, "git", "init", "-q", "-b", "main")
	sh(t, ws, "git", "add", "-A")
	sh(t, ws, "git", "commit", "-q", "-m", "workspace")
	sh(t, ws, "git", "remote", "add", "origin", "https://github.com/vllm-project/vllm.git")
}

// runActPR runs action.yml for real: nektos/act in host mode, offline, with
// a pull_request event and the fake GitHub API srv. The action builds
// perfgate from this source tree with the runner's Go. It returns act's
// log, the action's outputs and act's error (a failed job).
func runActPR(t *testing.T, srv *githubtest.Server, pr actPR) (string, map[string]string, error) {
	t.Helper()
	act := findAct(t)
	ws := actWorkspace(t)
	scen := filepath.Join(ws, "perf-scenario.yaml")
	os.WriteFile(scen, []byte(pr.scenarioYAML), 0o644)
	out := filepath.Join(t.TempDir(), "results")
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	trials := ""
	if pr.trials != "" {
		trials = "trials: " + quote(pr.trials)
	}
	wf := strings.NewReplacer("%SCENARIO%", quote(scen), "%VLLM%", quote(pr.vllm), "%INSTALL%", quote(pr.install), "%API%", srv.URL,
		"%WORK%", quote(t.TempDir()), "%OUT%", quote(out), "%TRIALS%", trials, "%FAILON%", pr.failOn).Replace(actWorkflow)
	actCommit(t, ws, wf)
	event := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(event, []byte(prEvent(pr.base, pr.head)), 0o644)

	// Offline, act still fetches the actions a composite action names, even
	// behind an if: that is false. setup-go is skipped here (the runner has
	// Go); a local stand-in that fails if it ever runs keeps act offline.
	setupGo := t.TempDir()
	os.WriteFile(filepath.Join(setupGo, "action.yml"), []byte(setupGoStandIn), 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), pr.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, act, "pull_request", "-W", ".github/workflows/perf.yml", "-P", "self-hosted=-self-hosted",
		"--no-cache-server", "--local-repository", "actions/setup-go@v5="+setupGo, "-e", event, "--env", "GITHUB_API_URL="+srv.URL, "-s", "GITHUB_TOKEN="+githubtest.InstallationToken)
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "ACT_DISABLE_VERSION_CHECK=1", "GOFLAGS=-mod=mod", "GOPROXY=off", "CGO_CFLAGS=-Wno-deprecated-declarations")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	log := buf.String()
	got := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		if _, kv, ok := strings.Cut(line, "OUT "); ok {
			if k, v, ok := strings.Cut(kv, "="); ok {
				got[k] = strings.TrimSpace(v)
			}
		}
	}
	if strings.Contains(log, githubtest.InstallationToken) {
		t.Error("the token reached act's log")
	}
	return log, got, err
}

// TestActionYAMLUnderAct runs action.yml for real under act against the
// fake vLLM: a slowed pull request gets its FAIL comment (fail-on never:
// the status is success, saying FAIL).
func TestActionYAMLUnderAct(t *testing.T) {
	if testing.Short() {
		t.Skip("builds perfgate and runs an A/B under act")
	}
	findAct(t)
	vllm, first, slow := fakeRepo(t)
	featureTip := sh(t, vllm, "git", "rev-parse", "feature")
	// act's composite steps do not pass the test's environment on: name the
	// simulator binary in the installed script itself.
	install := installFake + ` && sed -i 's|exec env PERFGATE_CLI_MAIN=1 "$PERFGATE_TEST_BIN"|exec env PERFGATE_CLI_MAIN=1 ` + engineBin(t) + `|' "$PERFGATE_ENV_DIR/bin/vllm"`
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	log, got, err := runActPR(t, srv, actPR{vllm: vllm, install: install, trials: "5", failOn: "never", base: featureTip, head: slow, timeout: 8 * time.Minute,
		scenarioYAML: strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "reset", 1)})
	if err != nil {
		t.Fatalf("act: %v\n%s", err, tail(log, 6000))
	}
	if got["verdict"] != "fail" || got["comment-url"] == "" || !strings.HasSuffix(got["summary-json"], "perfgate-summary.json") || got["report-dir"] == "" {
		t.Fatalf("outputs %v\n%s", got, tail(log, 6000))
	}
	cs, _, st := srv.Snapshot()
	if len(cs) != 1 || cs[0].User != "github-actions[bot]" || !strings.HasPrefix(cs[0].Body, gh.Marker("perf-scenario")) ||
		!strings.Contains(cs[0].Body, "perfgate: FAIL") || !strings.Contains(cs[0].Body, first[:12]) {
		t.Errorf("comments %+v", cs)
	}
	if len(st) == 0 || st[len(st)-1].State != "success" || st[len(st)-1].Context != "perfgate/perf-scenario" || st[len(st)-1].SHA != slow {
		t.Errorf("statuses (fail-on never: success, saying FAIL) %+v", st)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// The workflow of TestActionYAMLStartsFromARelease: the action in mode
// track without a history store, which perfgate refuses at once — the time
// to that refusal is the action's start.
const actStartWorkflow = `name: start
on: push
jobs:
  start:
    runs-on: self-hosted
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        with:
          mode: track
          scenarios: perf-scenario.yaml
          vllm-path: .
          github-token: ""
          perfgate-version: %VERSION%
          release-url: %URL%
`

// A version tag starts from the release's binary, checked against the
// release's checksums, in seconds; a branch ref builds from source; a
// binary that does not match its checksum is refused before it runs. A
// local server stands in for GitHub's release downloads.
func TestActionYAMLStartsFromARelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds perfgate and runs act three times")
	}
	act := findAct(t)
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the release binaries are linux/amd64 and linux/arm64; this test serves amd64")
	}
	rel := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(rel, "perfgate-linux-amd64"), "../../cmd/perfgate")
	build.Env = append(os.Environ(), "CGO_CFLAGS=-Wno-deprecated-declarations")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the release binary: %v\n%s", err, out)
	}
	bin, _ := os.ReadFile(filepath.Join(rel, "perfgate-linux-amd64"))
	sum := sha256.Sum256(bin)
	checksums := map[string]string{
		"v9.9.9": hex.EncodeToString(sum[:]) + "  perfgate-linux-amd64\n",
		"v9.9.8": strings.Repeat("0", 64) + "  perfgate-linux-amd64\n", // a tampered binary's
	}
	var served []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path)
		mu.Unlock()
		ver, file, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/releases/download/"), "/")
		switch {
		case checksums[ver] == "":
			http.NotFound(w, r)
		case file == "checksums.txt":
			io.WriteString(w, checksums[ver])
		case file == "perfgate-linux-amd64":
			w.Write(bin)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ws := actWorkspace(t)
	os.WriteFile(filepath.Join(ws, "perf-scenario.yaml"), []byte(strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "reset", 1)), 0o644)
	start := func(version string) (string, time.Duration) {
		t.Helper()
		wf := strings.NewReplacer("%VERSION%", "'"+version+"'", "%URL%", srv.URL+"/releases/download").Replace(actStartWorkflow)
		dir := filepath.Join(t.TempDir(), "ws")
		os.CopyFS(dir, os.DirFS(ws))
		actCommit(t, dir, wf)
		setupGo := t.TempDir()
		os.WriteFile(filepath.Join(setupGo, "action.yml"), []byte(setupGoStandIn), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, act, "push", "-W", ".github/workflows/perf.yml", "-P", "self-hosted=-self-hosted",
			"--no-cache-server", "--local-repository", "actions/setup-go@v5="+setupGo)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ACT_DISABLE_VERSION_CHECK=1", "GOFLAGS=-mod=mod", "GOPROXY=off", "CGO_CFLAGS=-Wno-deprecated-declarations")
		began := time.Now()
		out, _ := cmd.CombinedOutput()
		return string(out), time.Since(began)
	}
	const ran = "mode track needs a store" // perfgate's own refusal: the binary ran
	log, took := start("v9.9.9")
	if !strings.Contains(log, "release v9.9.9 (perfgate-linux-amd64): sha256 verified") || !strings.Contains(log, ran) || strings.Contains(log, "go mod verify") {
		t.Fatalf("a version tag must run the release binary:\n%s", tail(log, 6000))
	}
	t.Logf("a version tag: perfgate ran %s after act started (the release binary, checksum verified)", took.Round(100*time.Millisecond))
	log, tookSource := start("")
	if !strings.Contains(log, "building from source") || !strings.Contains(log, ran) {
		t.Fatalf("a branch ref must build from source:\n%s", tail(log, 6000))
	}
	t.Logf("a branch ref: perfgate ran %s after act started (built from source)", tookSource.Round(100*time.Millisecond))
	log, _ = start("v9.9.8")
	if !strings.Contains(log, "does not match its checksum") || strings.Contains(log, ran) {
		t.Errorf("a binary that does not match its checksum must never run:\n%s", tail(log, 6000))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(served, "/releases/download/v9.9.9/perfgate-linux-amd64") {
		t.Errorf("the release server served %v", served)
	}
}
