package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/github/githubtest"
)

// Stand-ins for GitHub's own actions, which act would fetch from GitHub:
// a checkout that clones the test's repository (at a ref, into a path),
// and an artifact store in a folder shared by the two workflows.
const (
	checkoutStandIn = `name: checkout stand-in
inputs:
  ref: {default: ""}
  path: {default: "."}
  fetch-depth: {default: "1"}
  sparse-checkout: {default: ""}
  persist-credentials: {default: "true"}
runs:
  using: composite
  steps:
    - shell: bash
      env: {REF: "${{ inputs.ref }}", DEST: "${{ inputs.path }}"}
      run: |
        git clone -q %ORIGIN% "$DEST.clone" && shopt -s dotglob && mkdir -p "$DEST" && mv "$DEST.clone"/* "$DEST"/ && rmdir "$DEST.clone"
        if [ -n "$REF" ]; then git -C "$DEST" checkout -q "$REF"; fi
`
	uploadStandIn = `name: upload-artifact stand-in
inputs:
  name: {default: artifact}
  path: {default: "."}
  retention-days: {default: "1"}
runs:
  using: composite
  steps:
    - shell: bash
      env: {NAME: "${{ inputs.name }}", SRC: "${{ inputs.path }}"}
      run: mkdir -p %STORE%/"$NAME" && cp -r "$SRC"/. %STORE%/"$NAME"/
`
	downloadStandIn = `name: download-artifact stand-in
inputs:
  name: {default: ""}
  pattern: {default: ""}
  path: {default: "."}
  run-id: {default: ""}
  github-token: {default: ""}
  merge-multiple: {default: "false"}
runs:
  using: composite
  steps:
    - shell: bash
      env: {NAME: "${{ inputs.name }}", PATTERN: "${{ inputs.pattern }}", DEST: "${{ inputs.path }}"}
      run: |
        mkdir -p "$DEST"
        if [ -n "$PATTERN" ]; then
          # one subfolder per artifact, as download-artifact does
          for d in %STORE%/$PATTERN; do test -d "$d" && cp -r "$d" "$DEST"/; done
        else
          test -d %STORE%/"$NAME" && cp -r %STORE%/"$NAME"/. "$DEST"/
        fi
`
	// fakeVLLMPy is a vLLM source tree's stand-in, installed as the example's
	// install command installs vLLM (uv pip install -e .): its vllm command is
	// perfgate's simulator.
	fakeVLLMPy = `import os, sys

def main():
    if sys.argv[1:2] == ["--version"]:
        print("0.0.0-fake")
        return
    os.execv(%q, [%q, "sim", *sys.argv[1:], "--time-scale", "8", "--jitter", "0.02"%s])
`
	fakeVLLMProject = `[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "vllm"
version = "0.0.0"

[project.scripts]
vllm = "fakevllm:main"

[tool.setuptools]
py-modules = ["fakevllm"]
`
)

// TestExamplesUnderAct runs the documented workflows as written — the
// fork-safe pair (docs/examples/pr-perf.yml on a fork's labeled pull
// request, then pr-perf-report.yml on its workflow_run), the release gate
// and the nightly — under act, offline: GitHub's
// own actions are local stand-ins, perfgate/perfgate@v1 is this tree
// (released from a local release server), vLLM is a Python package whose
// vllm is perfgate's simulator, installed by the example's uv command, and
// the pull request slows decode by 30 %. The reporter posts one FAIL
// comment and a failing status, the release gate fails the slowed commit
// against v1.0.0, and the nightly records main's first point.
func TestExamplesUnderAct(t *testing.T) {
	if testing.Short() {
		t.Skip("builds perfgate and runs two workflows under act")
	}
	act := findAct(t)
	wheels := exampleTools(t)
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the release server serves linux/amd64")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "release", "perfgate-linux-amd64")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/perfgate")
	build.Env = append(os.Environ(), "CGO_CFLAGS=-Wno-deprecated-declarations")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building perfgate: %v\n%s", err, out)
	}
	origin, base, head := exampleVLLM(t, bin, "pr", "release/release")
	rel := releaseServer(t, bin, "v1")
	store := filepath.Join(tmp, "artifacts")
	standIns := map[string]string{"actions/checkout@v4": strings.ReplaceAll(checkoutStandIn, "%ORIGIN%", origin),
		"actions/upload-artifact@v4": strings.ReplaceAll(uploadStandIn, "%STORE%", store), "actions/download-artifact@v4": strings.ReplaceAll(downloadStandIn, "%STORE%", store),
		"actions/setup-go@v5": setupGoStandIn}
	args := []string{"--no-cache-server", "--no-skip-checkout", "-P", "self-hosted=-self-hosted", "-P", "linux=-self-hosted", "-P", "gpu=-self-hosted",
		"-P", "ubuntu-latest=-self-hosted", "--local-repository", "perfgate/perfgate@v1=" + actWorkspace(t),
		"--env", "GITHUB_SERVER_URL=" + rel, "--env", "UV_OFFLINE=1", "--env", "UV_FIND_LINKS=" + wheels, "--env", "PERFGATE_PASS_ENV=UV_FIND_LINKS"}
	for name, yml := range standIns {
		dir := filepath.Join(tmp, "standin", strings.ReplaceAll(name, "/", "_"))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "action.yml"), []byte(yml), 0o644)
		args = append(args, "--local-repository", name+"="+dir)
	}
	srv := githubtest.New("vllm-project", "vllm")
	defer srv.Close()
	srv.Git = origin
	srv.Pulls[7] = &githubtest.Pull{Number: 7, HeadSHA: head, Title: "Faster decode", HeadRef: "feature", BaseRef: "main", HeadRepo: "mallory/vllm", HeadRepoID: 99}
	fork := `"repo": {"id": 99, "full_name": "mallory/vllm"}`
	prEv := fmt.Sprintf(`{"action": "labeled", "label": {"name": "perf"}, "number": 7, "repository": {"id": 1, "full_name": "vllm-project/vllm"},
	  "pull_request": {"number": 7, "title": "Faster decode", "base": {"sha": %q, "ref": "main", "repo": {"id": 1, "full_name": "vllm-project/vllm"}},
	  "head": {"sha": %q, "ref": "feature", %s}}}`, base, head, fork)
	log := runExample(t, act, "pull_request", "pr-perf.yml", prEv, args)
	if _, err := os.Stat(filepath.Join(store, "perfgate-results", "perfgate-results.json")); err != nil {
		t.Fatalf("the benchmark job uploaded no results (%v):\n%s", err, tail(log, 8000))
	}
	if !strings.Contains(log, "release v1 (perfgate-linux-amd64): sha256 verified") {
		t.Errorf("perfgate/perfgate@v1 did not run its release:\n%s", tail(log, 4000))
	}
	if cs, _, st := srv.Snapshot(); len(cs)+len(st) != 0 {
		t.Errorf("the benchmark job reached the API: %v %v", cs, st)
	}
	runEv := fmt.Sprintf(`{"workflow_run": {"id": 5, "head_sha": %q, "head_branch": "feature", "event": "pull_request", "conclusion": "success",
	  "pull_requests": [], "head_repository": {"id": 99, "full_name": "mallory/vllm"}, "repository": {"id": 1, "full_name": "vllm-project/vllm"}},
	  "repository": {"id": 1, "full_name": "vllm-project/vllm"}}`, head)
	log = runExample(t, act, "workflow_run", "pr-perf-report.yml", runEv, append(args, "--env", "GITHUB_API_URL="+srv.URL, "-s", "GITHUB_TOKEN="+githubtest.InstallationToken))
	cs, _, st := srv.Snapshot()
	if len(cs) != 1 || cs[0].Issue != 7 || !strings.Contains(cs[0].Body, "perfgate: FAIL") {
		t.Fatalf("the reporter's comment: %+v\n%s", cs, tail(log, 8000))
	}
	if len(st) != 1 || st[0].SHA != head || st[0].State != "failure" || st[0].Context != "perfgate/pr" {
		t.Errorf("the reporter's status: %+v", st)
	}

	// The sharded pair, in a repository whose scenarios are sharded:
	// three shards, one artifact each, one report.
	origin2, base2, head2 := exampleVLLM(t, bin, "chat-a", "long-context-a", "throughput-a")
	srv2 := githubtest.New("vllm-project", "vllm")
	defer srv2.Close()
	srv2.Git = origin2
	srv2.Pulls[7] = &githubtest.Pull{Number: 7, HeadSHA: head2, Title: "Faster decode", HeadRef: "feature", BaseRef: "main", HeadRepo: "mallory/vllm", HeadRepoID: 99}
	args2 := slices.Clone(args)
	for i, a := range args2 {
		args2[i] = strings.ReplaceAll(a, origin, origin2)
	}
	standInDir := filepath.Join(tmp, "standin", "actions_checkout@v4")
	os.WriteFile(filepath.Join(standInDir, "action.yml"), []byte(strings.ReplaceAll(checkoutStandIn, "%ORIGIN%", origin2)), 0o644)
	prEv2 := strings.NewReplacer(base, base2, head, head2).Replace(prEv)
	runExample(t, act, "pull_request", "pr-perf-sharded.yml", prEv2, args2)
	for _, shard := range []string{"chat", "long-context", "throughput"} {
		if _, err := os.Stat(filepath.Join(store, "perfgate-results-"+shard, "perfgate-results.json")); err != nil {
			t.Fatalf("shard %s uploaded no results: %v", shard, err)
		}
	}
	log = runExample(t, act, "workflow_run", "pr-perf-sharded-report.yml", strings.ReplaceAll(runEv, head, head2),
		append(args2, "--env", "GITHUB_API_URL="+srv2.URL, "-s", "GITHUB_TOKEN="+githubtest.InstallationToken))
	cs2, _, st2 := srv2.Snapshot()
	if len(cs2) != 1 || !strings.Contains(cs2[0].Body, "chat\\-a") || !strings.Contains(cs2[0].Body, "throughput\\-a") ||
		len(st2) != 1 || st2[0].Context != "perfgate/pr-suite" || st2[0].State != "failure" || st2[0].SHA != head2 {
		t.Fatalf("the sharded reporter: comments %d, statuses %+v\n%s", len(cs2), st2, tail(log, 8000))
	}
	os.WriteFile(filepath.Join(standInDir, "action.yml"), []byte(strings.ReplaceAll(checkoutStandIn, "%ORIGIN%", origin)), 0o644)

	// The release gate, dispatched for the slowed commit: against v1.0.0,
	// with the default branch's release scenarios; a FAIL fails the job.
	api := append(args, "--env", "GITHUB_API_URL="+srv.URL, "-s", "GITHUB_TOKEN="+githubtest.InstallationToken)
	log, err := runExampleJob(t, act, "workflow_dispatch", "release-gate.yml", fmt.Sprintf(`{"inputs": {"candidate": %q, "baseline": ""}}`, head), api, "")
	_, _, st = srv.Snapshot()
	if err == nil || !strings.Contains(log, "against the last release tag v1.0.0") || st[len(st)-1].Context != "perfgate/release" || st[len(st)-1].State != "failure" {
		t.Errorf("the release gate: %v, statuses %+v\n%s", err, st, tail(log, 6000))
	}
	// The nightly, which lives in the vLLM repository itself: main's first
	// point of history, through the API.
	log, err = runExampleJob(t, act, "schedule", "nightly-baseline.yml", `{"schedule": "17 2 * * *"}`, append(api, "--env", "XDG_CACHE_HOME="+filepath.Join(tmp, "cache")), origin)
	tip := sh(t, origin, "git", "rev-parse", "HEAD")
	files, _, _ := srv.Branch("perfgate-history")
	_, _, st = srv.Snapshot()
	if err != nil || len(files) == 0 || st[len(st)-1].Context != "perfgate/nightly" || st[len(st)-1].SHA != tip {
		t.Errorf("the nightly: %v, history files %d, statuses %+v\n%s", err, len(files), st, tail(log, 6000))
	}
}

// exampleTools are what the example's install command needs offline: uv,
// and a folder of build wheels (setuptools) for UV_FIND_LINKS, which
// .ci/run provides (PERFGATE_BUILD_WHEELS); a skip elsewhere, a failure
// where .ci/run requires act.
func exampleTools(t *testing.T) (wheels string) {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("PERFGATE_REQUIRE_ACT") != "" {
			t.Fatal(why + "; .ci/run installs it")
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("uv"); err != nil {
		missing("uv is not installed (pip install uv)")
	}
	wheels = os.Getenv("PERFGATE_BUILD_WHEELS")
	if m, _ := filepath.Glob(filepath.Join(wheels, "setuptools-*.whl")); wheels == "" || len(m) == 0 {
		missing("no setuptools wheel in PERFGATE_BUILD_WHEELS (pip download setuptools -d DIR)")
	}
	return wheels
}

// exampleVLLM is a vLLM repository of TestExamplesUnderAct: main holds
// the scenarios (.perfgate/NAME.yaml, each named NAME's base name), a fast
// vllm and the release tag v1.0.0; the pull request's branch, feature,
// slows decode by 30 %.
func exampleVLLM(t *testing.T, bin string, scenarios ...string) (origin, base, head string) {
	origin = t.TempDir()
	write := func(extra string) {
		os.WriteFile(filepath.Join(origin, "fakevllm.py"), []byte(fmt.Sprintf(fakeVLLMPy, bin, bin, extra)), 0o644)
	}
	sh(t, origin, "git", "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(origin, "pyproject.toml"), []byte(fakeVLLMProject), 0o644)
	os.MkdirAll(filepath.Join(origin, ".perfgate"), 0o755)
	scen := strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "reset", 1)
	for _, name := range scenarios {
		p := filepath.Join(origin, ".perfgate", name+".yaml")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(strings.Replace(scen, "name: ab-fake", "name: "+filepath.Base(name), 1)), 0o644)
	}
	write("")
	sh(t, origin, "git", "add", "-A")
	sh(t, origin, "git", "commit", "-q", "-m", "fast")
	base = sh(t, origin, "git", "rev-parse", "HEAD")
	sh(t, origin, "git", "tag", "v1.0.0") // the last release, for the release gate
	sh(t, origin, "git", "checkout", "-q", "-b", "feature")
	write(`, "--slowdown-decode", "1.30"`)
	sh(t, origin, "git", "commit", "-q", "-am", "slow decode")
	head = sh(t, origin, "git", "rev-parse", "HEAD")
	sh(t, origin, "git", "checkout", "-q", "main")
	return origin, base, head
}

// releaseServer serves bin as release tag's perfgate-linux-amd64, with its
// checksums, where GitHub serves release downloads under GITHUB_SERVER_URL.
func releaseServer(t *testing.T, bin, tag string) string {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/perfgate/perfgate/releases/download/" + tag + "/checksums.txt":
			io.WriteString(w, hex.EncodeToString(sum[:])+"  perfgate-linux-amd64\n")
		case "/perfgate/perfgate/releases/download/" + tag + "/perfgate-linux-amd64":
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// runExample runs docs/examples/NAME as runExampleJob does, and fails the
// test when the job fails.
func runExample(t *testing.T, act, event, name, payload string, args []string) string {
	t.Helper()
	log, err := runExampleJob(t, act, event, name, payload, args, "")
	if err != nil {
		t.Fatalf("act %s %s: %v\n%s", event, name, err, tail(log, 8000))
	}
	return log
}

// runExampleJob runs docs/examples/NAME, unchanged, under act for event
// (the payload): as the only workflow of a repository of its own, or, with
// repo, committed into that repository (whose commit is then the run's);
// it returns act's log and its error (a failed job).
func runExampleJob(t *testing.T, act, event, name, payload string, args []string, repo string) (string, error) {
	t.Helper()
	wf, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	ws := repo
	if ws == "" {
		ws = t.TempDir()
		actCommit(t, ws, string(wf))
	} else {
		os.MkdirAll(filepath.Join(ws, ".github", "workflows"), 0o755)
		os.WriteFile(filepath.Join(ws, ".github", "workflows", "perf.yml"), wf, 0o644)
		sh(t, ws, "git", "add", "-A")
		sh(t, ws, "git", "commit", "-q", "-m", "the workflow")
		// act names the repository after its remote
		exec.Command("git", "-C", ws, "remote", "add", "origin", "https://github.com/vllm-project/vllm.git").Run()
	}
	ev := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(ev, []byte(payload), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, act, append([]string{event, "-W", ".github/workflows/perf.yml", "-e", ev}, args...)...)
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "ACT_DISABLE_VERSION_CHECK=1", "GOPROXY=off", "CGO_CFLAGS=-Wno-deprecated-declarations")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
