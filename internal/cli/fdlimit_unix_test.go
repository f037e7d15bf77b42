//go:build unix

package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// perfgate run out of open files fails, saying the numbers are not the
// server's: it recorded its own "too many open files" as the server's
// connect errors and exited 0. A helper process (this test binary again)
// runs with a limit of 40 open files against a server that holds each of
// 80 concurrent requests.
func TestRunOutOfOpenFilesFails(t *testing.T) {
	if url := os.Getenv("PERFGATE_TEST_FD_URL"); url != "" {
		lim := syscall.Rlimit{Cur: 40, Max: 40}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		y := strings.Replace(strings.Replace(endpointYAML(url), "concurrency: 2", "concurrency: 80", 1), "requests: 10", "requests: 160", 1)
		r := runCLI(t, context.Background(), nil, "run", writeScenario(t, y), "--out", t.TempDir())
		fmt.Printf("exit %d\n%s\n", r.code, r.stderr)
		return
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
		case "/v1/completions":
			time.Sleep(300 * time.Millisecond)
			fmt.Fprint(w, "data: {\"choices\":[{\"text\":\" a\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunOutOfOpenFilesFails$")
	cmd.Env = append(os.Environ(), "PERFGATE_TEST_FD_URL="+srv.URL)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "exit 1\n") || !strings.Contains(string(out), "perfgate's own machine could not send") {
		t.Errorf("a run out of open files:\n%s", out)
	}
}
