//go:build linux

package proctree

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// useDir points the records at a temporary folder.
func useDir(t *testing.T) string {
	dir := t.TempDir()
	old := recordDir
	recordDir = func() string { return dir }
	t.Cleanup(func() { recordDir = old })
	return dir
}

// startTree starts script under bash as a tree, and returns it with the
// pids the script writes, one per line, into the file named by $PIDS.
func startTree(t *testing.T, script string, want int) (*Tree, *exec.Cmd, []int) {
	t.Helper()
	pids := filepath.Join(t.TempDir(), "pids")
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PIDS="+pids)
	tr, err := Start("engine", cmd)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() { tr.Kill(); tr.Release() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(pids)
		fs := strings.Fields(string(b))
		if len(fs) >= want {
			var out []int
			for _, f := range fs {
				n, _ := strconv.Atoi(f)
				out = append(out, n)
			}
			// Let the watcher see them (it runs every watchEvery).
			time.Sleep(3 * watchEvery)
			_ = waited
			return tr, cmd, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script wrote %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z'
}

func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A child that starts its own session (setsid) leaves the process group:
// stopping the tree stops it too (a group signal alone never did).
func TestStopReachesASetsidChild(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	useDir(t)
	tr, _, pids := startTree(t, `setsid sleep 300 & echo $! >> "$PIDS"; sleep 300`, 1)
	if p, _ := readProc(pids[0]); p.pgid == tr.PID() {
		t.Fatalf("the setsid child is still in the group")
	}
	if err := tr.Stop(2*time.Second, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "the setsid child", pids[0])
}

// A perfgate killed outright leaves a tree whose first process exits later
// while its children (vLLM's EngineCore) and a setsid child live on: the
// next perfgate's sweep stops them all (it dropped the record and kept
// them before).
func TestSweepStopsWhatOutlivedTheFirstProcess(t *testing.T) {
	dir := useDir(t)
	tr, cmd, pids := startTree(t, `sleep 300 & echo $! >> "$PIDS"; setsid sleep 300 & echo $! >> "$PIDS"; wait`, 2)
	rec := filepath.Join(dir, strconv.Itoa(tr.PID())+".json")
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	var r record
	json.Unmarshal(b, &r)
	if len(r.Descendants) < 2 {
		t.Fatalf("the record names %v", r.Descendants)
	}
	// perfgate is "killed": the record stays and names a perfgate that is gone.
	dead := exec.Command("true")
	dead.Run()
	r.Perfgate, r.PerfgateStart = dead.Process.Pid, 12345
	b, _ = json.Marshal(r)
	tr.once.Do(func() { close(tr.quit); <-tr.done }) // the watcher ends with perfgate
	os.WriteFile(rec, b, 0o600)
	// The first process exits; its children live on.
	syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	waitGone(t, "the first process", cmd.Process.Pid)
	for _, p := range pids {
		if !alive(p) {
			t.Fatalf("pid %d ended with the first process", p)
		}
	}
	got := SweepOrphans()
	if len(got) != 1 || got[0].PID != tr.PID() || got[0].Kind != "engine" {
		t.Errorf("swept %v", got)
	}
	for _, p := range pids {
		waitGone(t, "a child", p)
	}
	if _, err := os.Stat(rec); err == nil {
		t.Error("the record is left")
	}
	live.Lock()
	delete(live.trees, tr)
	live.Unlock()
}

// A record whose pids now belong to other processes (other start times)
// stops nothing.
func TestSweepLeavesReusedPIDsAlone(t *testing.T) {
	dir := useDir(t)
	other := exec.Command("sleep", "300")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	pid := other.Process.Pid
	r := record{Perfgate: 1 << 22, PerfgateStart: 1, Engine: pid, EngineStart: 1, Descendants: [][2]uint64{{uint64(pid), 2}}}
	b, _ := json.Marshal(r)
	os.WriteFile(filepath.Join(dir, strconv.Itoa(pid)+".json"), b, 0o600)
	if got := SweepOrphans(); len(got) != 0 {
		t.Errorf("swept %v", got)
	}
	if !alive(pid) {
		t.Error("another process was stopped")
	}
}

// As PID 1 in a container, perfgate is the parent of every orphan: the
// children of a stopped tree become its zombies, which a stop used to count
// as survivors ("survived SIGKILL", the record left stale). A helper process
// that is a subreaper (orphans come to it, as to PID 1) stops a tree whose
// first process has exited and whose child was reparented to it.
func TestStopAsTheParentOfOrphans(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	if os.Getenv("PERFGATE_TEST_SUBREAPER") == "1" {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); e != 0 {
			t.Fatal(e)
		}
		dir := useDir(t)
		tr, cmd, pids := startTree(t, `sleep 300 & echo $! >> "$PIDS"; exit 0`, 1)
		waitGone(t, "the first process", cmd.Process.Pid)
		if p, _ := readProc(pids[0]); p.ppid != os.Getpid() {
			t.Fatalf("the child's parent is %d, not this process", p.ppid)
		}
		if err := tr.Stop(time.Second, 5*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := readProc(pids[0]); ok {
			t.Error("the child is left (a zombie not reaped)")
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("records left: %v", ents)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStopAsTheParentOfOrphans$", "-test.v")
	cmd.Env = append(os.Environ(), "PERFGATE_TEST_SUBREAPER=1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Errorf("%v\n%s", err, out)
	}
}
