//go:build unix

package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script. A shell writes it, not this
// process: a file this process had open for writing stays open in a child
// another parallel test forks at that moment, until the child execs, and
// running the script then fails with "text file busy" (ETXTBSY, seen here).
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vllm")
	out, err := exec.Command("/bin/sh", "-c", `printf '%s' "$1" >"$2" && chmod 755 "$2"`, "sh", "#!/bin/sh\n"+body, p).CombinedOutput()
	if err != nil {
		t.Fatalf("writing %s: %v %s", p, err, out)
	}
	return p
}

// A server that never gets healthy is stopped — its whole process group —
// and the error carries the end of its log.
func TestProcessNeverHealthy(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	bin := script(t, "echo loading weights\nsleep 30 &\nexec sleep 30\n")
	start := time.Now()
	_, err := StartProcess(context.Background(), ProcessOptions{Bin: bin, Model: "m", LogPath: filepath.Join(t.TempDir(), "engine.log"),
		HealthTimeout: 500 * time.Millisecond, StopGrace: 2 * time.Second})
	var he *HealthError
	if !errors.As(err, &he) || !strings.Contains(he.Tail, "loading weights") || !strings.Contains(he.Reason, "not healthy after 500ms") {
		t.Fatalf("%v", err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("stopping took %v", el)
	}
}

func TestProcessExitsEarly(t *testing.T) {
	bin := script(t, "echo CUDA out of memory\nexit 3\n")
	_, err := StartProcess(context.Background(), ProcessOptions{Bin: bin, Model: "m", LogPath: filepath.Join(t.TempDir(), "engine.log"), HealthTimeout: 10 * time.Second})
	var he *HealthError
	if !errors.As(err, &he) || !strings.Contains(he.Reason, "exited") || !strings.Contains(he.Tail, "CUDA out of memory") {
		t.Fatalf("%v", err)
	}
}

// A process group that ignores SIGTERM is killed after the grace period,
// children included.
func TestProcessGroupKilled(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	bin := script(t, "trap '' TERM\n(trap '' TERM; sleep 60) &\necho $! > "+pidFile+"\nexec python3 -c 'import http.server,sys\nclass H(http.server.BaseHTTPRequestHandler):\n def do_GET(s):\n  s.send_response(200); s.end_headers(); s.wfile.write(b\"{}\")\nimport signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\nhttp.server.HTTPServer((\"127.0.0.1\", int(sys.argv[sys.argv.index(\"--port\")+1])), H).serve_forever()' \"$@\"\n")
	p, err := StartProcess(context.Background(), ProcessOptions{Bin: bin, Model: "m", LogPath: filepath.Join(t.TempDir(), "engine.log"),
		HealthTimeout: 10 * time.Second, StopGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(pidFile)
	child := 0
	for _, c := range strings.TrimSpace(string(b)) {
		child = child*10 + int(c-'0')
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		t.Errorf("the child %d survived: %v %s", child, err, st)
	}
}

// A start that fails says what to do when its log says why: vLLM's own
// messages for a flag that version does not take, a model without a
// tokenizer, a port taken, no memory, no vllm package.
func TestFailedStartNamesWhatToDo(t *testing.T) {
	for _, c := range []struct{ log, hint string }{
		{"usage: vllm [-h]\nvllm: error: unrecognized arguments: --no-such-flag 3", "this vllm does not take --no-such-flag 3: check engine.args against `vllm serve --help`"},
		{"ValueError: Couldn't instantiate the backend tokenizer from one of: \n(1) a `tokenizers` library serialization file,", "the model has no tokenizer this vLLM can load"},
		{"OSError: [Errno 98] Address already in use", "the engine's port was taken before it bound it"},
		{"RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "the engine ran out of memory"},
		{"ModuleNotFoundError: No module named 'vllm'", "the environment has no vllm package"},
		{"something else entirely", ""},
	} {
		bin := script(t, "cat <<'LOG'\n"+c.log+"\nLOG\nexit 1\n")
		_, err := StartProcess(context.Background(), ProcessOptions{Bin: bin, Model: "m", LogPath: filepath.Join(t.TempDir(), "engine.log"), HealthTimeout: 10 * time.Second})
		var he *HealthError
		if !errors.As(err, &he) || !strings.Contains(he.Hint, c.hint) || (c.hint == "") != (he.Hint == "") {
			t.Errorf("%q: %v", c.log, err)
			continue
		}
		if c.hint != "" && !strings.Contains(err.Error(), "before it became healthy: "+c.hint) {
			t.Errorf("the message does not say it: %v", err)
		}
	}
}
