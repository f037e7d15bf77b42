package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// brokenRuns runs one trial against a sound simulator and one against a
// simulator that answers every request with HTTP 500, and returns their
// folders.
func brokenRuns(t *testing.T) (base, cand string) {
	t.Helper()
	out := t.TempDir()
	sound := writeScenario(t, strings.Replace(gateScenario, "%s", "", 1))
	broken := writeScenario(t, strings.Replace(gateScenario, "%s", ", fault_error_rate: 1", 1))
	if r := runCLI(t, context.Background(), nil, "run", sound, "--out", filepath.Join(out, "base")); r.code != 0 {
		t.Fatalf("baseline run: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, context.Background(), nil, "run", broken, "--out", filepath.Join(out, "cand")); r.code != ExitFailed || !strings.Contains(r.stderr, "no measured request succeeded") {
		t.Fatalf("broken run: %d %s", r.code, r.stderr)
	}
	return onlyDir(t, filepath.Join(out, "base")), onlyDir(t, filepath.Join(out, "cand"))
}

// A candidate whose every request failed is a FAIL (exit 3) within
// seconds, with the first error in the headline. It used to write
// comparison.json and then loop forever drawing a NaN bar, deaf to SIGTERM.
// startBrokenCompare starts perfgate compare of brokenRuns as a process;
// done receives its end.
func startBrokenCompare(t *testing.T) (cmd *exec.Cmd, log *syncBuffer, out string, done chan error) {
	t.Helper()
	base, cand := brokenRuns(t)
	out = filepath.Join(t.TempDir(), "cmp")
	cmd, log = perfgateProcess(t, "compare", "--baseline", base, "--candidate", cand, "--out", out)
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, log, out, done
}

func TestCompareBrokenCandidateFailsFast(t *testing.T) {
	cmd, log, out, done := startBrokenCompare(t)
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != ExitRegression {
			t.Fatalf("exit %v, want %d\n%s", err, ExitRegression, log)
		}
	case <-time.After(60 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("compare of a broken candidate still ran after 60 s\n%s", log)
	}
	if s := log.String(); !strings.Contains(s, "FAIL: level 1: every candidate request failed") || !strings.Contains(s, "HTTP 500") {
		t.Errorf("output:\n%s", s)
	}
	for _, f := range []string{"comparison.json", "comparison.md", "plots/change.png", "plots/change.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// sigtermMidRender waits for path (written before the first chart), sends
// SIGTERM, and checks that the command ends within two seconds: stopped
// between charts (exit 1, saying so), or finished already (exit finished).
func sigtermMidRender(t *testing.T, cmd *exec.Cmd, log *syncBuffer, done <-chan error, path string, finished int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		if code != ExitFailed && code != finished {
			t.Fatalf("exit %d\n%s", code, log)
		}
		if code == ExitFailed && !strings.Contains(log.String(), "stopped while drawing the charts") {
			t.Errorf("exit 1 without saying why:\n%s", log)
		}
	case <-time.After(2 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("%s ignored SIGTERM for 2 s\n%s", cmd.Args[1], log)
	}
}

// SIGTERM while compare draws its charts ends it within two seconds: a
// render checks the context between charts, and no chart can loop.
func TestSIGTERMWhileComparing(t *testing.T) {
	cmd, log, out, done := startBrokenCompare(t)
	sigtermMidRender(t, cmd, log, done, filepath.Join(out, "comparison.json"), ExitRegression)
}

// SIGTERM while report draws its charts ends it within two seconds, as it
// does compare.
func TestSIGTERMWhileReporting(t *testing.T) {
	base, _ := brokenRuns(t)
	out := filepath.Join(t.TempDir(), "rep")
	cmd, log := perfgateProcess(t, "report", base, "--out", out)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sigtermMidRender(t, cmd, log, done, filepath.Join(out, "plots"), 0)
}
