package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/telemetry"
	"github.com/perfgate/perfgate/internal/timingtest"
)

func summaryOf(t *testing.T, dir string) record.Summary {
	t.Helper()
	var s record.Summary
	if err := record.ReadJSON(filepath.Join(dir, record.SummaryFile), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

const faultBase = `
name: fault
seed: 9
engine: {kind: sim, time_scale: 10, max_num_seqs: 16%s}
workload: {prompt: token_ids, classes: [{input_tokens: 64, output_tokens: 16}]}
load: {concurrency: 4}
phases: {measure: {requests: 60}}
request_timeout: %s
`

// The fault suite: each fault gives the right error class, the run ends or
// goes on as docs/reliability.md says, result.json says what happened, and
// the exit code matches.
func TestFaultSuiteSimulator(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	cases := []struct {
		name, knobs, timeout string
		exit                 int
		status, class        string
	}{
		{"5xx", ", fault_error_rate: 0.3", "30s", 0, record.StatusDegraded, record.ErrHTTP5xx},
		{"disconnect", ", fault_disconnect_rate: 0.3", "30s", 0, record.StatusDegraded, record.ErrStreamBroken},
		// every answer stalls after 3 of its 16 tokens: nothing succeeds, and the run fails
		{"stall", ", fault_stall_after: 3", "300ms", ExitFailed, record.StatusFailed, record.ErrTimeout},
		{"engine dies", ", fault_crash_after: 20", "30s", ExitFailed, record.StatusEngineDied, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			y := fmt.Sprintf(faultBase, c.knobs, c.timeout)
			r := runCLI(t, context.Background(), nil, "run", writeScenario(t, y), "--out", out)
			if r.code != c.exit {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.exit, r.stderr)
			}
			dir := onlyDir(t, out)
			s := summaryOf(t, dir)
			if s.Status != c.status {
				t.Errorf("status %q, want %q (%s)", s.Status, c.status, s.Error)
			}
			if c.class != "" && s.Levels[0].ErrorsByClass[c.class] == 0 {
				t.Errorf("no %s failures: %+v", c.class, s.Levels[0].ErrorsByClass)
			}
			if c.status == record.StatusEngineDied {
				if !strings.Contains(r.stderr, "the engine died mid-run") || s.Records == 0 || s.Levels[0].Completed == 0 {
					t.Errorf("engine death: %s; %+v", r.stderr, s.Levels)
				}
			}
			// every issued request has a record
			n := 0
			record.Read(filepath.Join(dir, record.RequestsFile), func(*record.Record) error { n++; return nil })
			if n != s.Records {
				t.Errorf("issued %d, recorded %d", s.Records, n)
			}
		})
	}
}

func endpointYAML(url string) string {
	return `
name: fault-ep
model: m
engine: {kind: endpoint, url: "` + url + `"}
workload: {classes: [{input_tokens: 8, output_tokens: 4}]}
load: {concurrency: 2}
phases: {measure: {requests: 10}}
telemetry: {interval: 20ms}
`
}

func TestFaultSuiteHTTP(t *testing.T) {
	good := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 4 {
			fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\" t%d\"}]}\n\n", i)
		}
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n")
	}
	cases := []struct {
		name       string
		completion func(w http.ResponseWriter, n int)
		metrics    func(w http.ResponseWriter, r *http.Request)
		class      string
		status     string
	}{
		{"429 with Retry-After", func(w http.ResponseWriter, n int) {
			if n%2 == 0 {
				w.Header().Set("Retry-After", "2")
				http.Error(w, "rate limited", 429)
				return
			}
			good(w)
		}, nil, record.ErrHTTP429, record.StatusDegraded},
		{"malformed SSE JSON", func(w http.ResponseWriter, n int) {
			if n%2 == 0 {
				fmt.Fprint(w, "data: {\"choices\": [oops\n\n")
				return
			}
			good(w)
		}, nil, record.ErrMalformed, record.StatusDegraded},
		{"/metrics hangs", func(w http.ResponseWriter, n int) { time.Sleep(40 * time.Millisecond); good(w) }, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, "", record.StatusCompleted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v1/models":
					fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
				case "/metrics":
					if c.metrics != nil {
						c.metrics(w, r)
					}
				case "/v1/completions":
					c.completion(w, int(n.Add(1)))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			out := t.TempDir()
			start := time.Now()
			r := runCLI(t, context.Background(), nil, "run", writeScenario(t, endpointYAML(srv.URL)), "--out", out)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("the run took %v", el)
			}
			dir := onlyDir(t, out)
			s := summaryOf(t, dir)
			if s.Status != c.status || (c.class != "" && s.Levels[0].ErrorsByClass[c.class] == 0) {
				t.Errorf("status %s, failures %+v", s.Status, s.Levels[0].ErrorsByClass)
			}
			if c.class == record.ErrHTTP429 {
				found := false
				record.Read(filepath.Join(dir, record.RequestsFile), func(rec *record.Record) error {
					found = found || strings.Contains(rec.ErrorMsg, "Retry-After: 2")
					return nil
				})
				if !found {
					t.Error("Retry-After is kept in the error message")
				}
			}
			if c.metrics != nil {
				samples, _ := telemetry.ReadAll(filepath.Join(dir, telemetry.File))
				gaps := 0
				for _, sm := range samples {
					if sm.Probe == "metrics" && (sm.Gap || sm.Err != "") {
						gaps++
					}
				}
				if gaps == 0 {
					t.Error("a hanging /metrics must show as gaps or errors in telemetry.jsonl")
				}
			}
		})
	}
}

// A full disk: perfgate stops, says why, exits 1, and keeps what it could write.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", dir).Run(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v)", err)
	}
	defer exec.Command("umount", dir).Run()
	y := strings.Replace(fmt.Sprintf(faultBase, "", "30s"), "requests: 60", "requests: 5000", 1)
	r := runCLI(t, context.Background(), nil, "run", writeScenario(t, y), "--out", dir)
	if r.code != ExitFailed || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

// perfgate run as a real process, for signals and kill -9, in a process
// group of its own (as under timeout); its output can be read while it runs.
func perfgateProcess(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "PERFGATE_CLI_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stderr, cmd.Stdout = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

const longRun = `
name: long
engine: {kind: sim, time_scale: 4}
workload: {prompt: token_ids, classes: [{input_tokens: 64, output_tokens: 64}]}
load: {concurrency: 4}
phases: {measure: {duration: 60s}}
`

// SIGTERM stops issuing, drains, writes result.json (interrupted) and exits 1.
func TestSIGTERMWritesSummary(t *testing.T) {
	out := t.TempDir()
	cmd, log := perfgateProcess(t, "run", writeScenario(t, longRun), "--out", out, "--grace", "200ms")
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitFailed {
		t.Fatalf("exit: %v\n%s", err, log)
	}
	s := summaryOf(t, onlyDir(t, out))
	if !s.Interrupted || s.Levels[0].Completed == 0 {
		t.Errorf("summary: %+v", s)
	}
}

// After kill -9 mid-run, the folder is still a report.
func TestKill9FolderStaysReadable(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	out := t.TempDir()
	cmd, _ := perfgateProcess(t, "run", writeScenario(t, longRun), "--out", out)
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()
	dir := onlyDir(t, out)
	if _, err := os.Stat(filepath.Join(dir, record.SummaryFile)); err == nil {
		t.Fatal("a killed run cannot have written its summary")
	}
	r, err := report.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Summary.Levels) != 1 || r.Summary.Levels[0].Completed == 0 {
		t.Errorf("levels %+v", r.Summary.Levels)
	}
	if rr := runCLI(t, context.Background(), nil, "report", dir, "--format", "md", "--out", t.TempDir()); rr.code != 0 {
		t.Errorf("report: %d %s", rr.code, rr.stderr)
	}
}

// SIGTERM during ab stops the engine perfgate started: no child survives.
func TestSIGTERMDuringABLeavesNoProcess(t *testing.T) {
	repo, first, _ := fakeRepo(t)
	scen := writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "restart", 1)+"\n")
	scen2 := strings.Replace(scen, ".yaml", "-long.yaml", 1)
	b, _ := os.ReadFile(scen)
	os.WriteFile(scen2, []byte(strings.Replace(string(b), "measure: {requests: 48}", "measure: {duration: 60s}", 1)), 0o644)
	cmd, log := perfgateProcess(t, "ab", scen2, "--vllm-repo", repo, "--baseline", first, "--candidate", first,
		"--install-command", installFake, "--work-dir", t.TempDir(), "--out", t.TempDir(), "--trials", "1", "--grace", "200ms")
	deadline := time.Now().Add(20 * time.Second)
	for len(survivors(t)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(survivors(t)) == 0 {
		cmd.Process.Kill()
		t.Fatalf("the engine never started:\n%s", log)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if s := survivors(t); len(s) > 0 {
		t.Errorf("processes survived SIGTERM: %v\n%s", s, log)
	}
}

// A known secret given as an API key never reaches a file or the terminal.
func TestSecretsNeverWritten(t *testing.T) {
	const secret = "sk-perfgate-known-secret-4242"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(w, "no", 401)
			return
		}
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
		case "/v1/completions":
			fmt.Fprint(w, "data: {\"choices\":[{\"text\":\" a\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	out := t.TempDir()
	y := strings.Replace(endpointYAML(srv.URL), `url: "`+srv.URL+`"}`, `url: "`+srv.URL+`", api_key_env: PG_KEY}`, 1)
	r := runCLI(t, context.Background(), map[string]string{"PG_KEY": secret}, "run", writeScenario(t, y), "--out", out, "--debug", "--label", "s")
	if r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	rep := filepath.Join(t.TempDir(), "rep")
	rr := runCLI(t, context.Background(), nil, "report", dir, "--out", rep)
	for _, text := range []string{r.stdout, r.stderr, rr.stdout, rr.stderr} {
		if strings.Contains(text, secret) {
			t.Error("the secret was printed")
		}
	}
	for _, root := range []string{dir, rep} {
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s contains the secret", p)
				}
			}
			return nil
		})
	}
}

// A hostile server, part 2 (issue 18): it echoes the Authorization header
// into every error, refuses the model it lists, lingers after [DONE]. None
// of it may leak the key, pass as success, or count a complete answer as a
// failure.
func TestHostileServer(t *testing.T) {
	t.Parallel() // an end-to-end test of its own folders and servers
	const secret = "sk-hostile-echo-777"
	var linger atomic.Bool // false: refuse every completion
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
		case "/version":
			<-stop // hangs: the run must not wait for it long
		case "/v1/completions":
			if !linger.Load() {
				http.Error(w, `{"error":{"message":"model not found; you sent `+r.Header.Get("Authorization")+`"}}`, http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"text\":\" a\"}]}\n\ndata: {\"choices\":[{\"text\":\" b\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n")
			w.(http.Flusher).Flush()
			select { // lingers after the answer
			case <-time.After(1500 * time.Millisecond):
			case <-stop:
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(stop) // before Close: the hanging handlers return
	env := map[string]string{"PG_KEY": secret}
	y := strings.Replace(endpointYAML(srv.URL), `url: "`+srv.URL+`"}`, `url: "`+srv.URL+`", api_key_env: PG_KEY}`, 1)

	// Every request fails: the run fails, saying why, with the key redacted.
	out := t.TempDir()
	r := runCLI(t, context.Background(), env, "run", writeScenario(t, y), "--out", out)
	if r.code != ExitFailed || !strings.Contains(r.stderr, "no measured request succeeded: 10 of 10 failed") || !strings.Contains(r.stderr, "Bearer [redacted]") {
		t.Errorf("all failed: exit %d\n%s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	if sum := summaryOf(t, dir); sum.Status != record.StatusFailed {
		t.Errorf("status %q", sum.Status)
	}
	if !strings.Contains(r.stdout, "10 !") || !strings.Contains(r.stdout, "most requests failed (10 of 10)") {
		t.Errorf("the table does not mark the level:\n%s", r.stdout)
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s contains the key the server echoed", p)
			}
		}
		return nil
	})

	// A model the server does not list: refused before a run folder exists.
	out = t.TempDir()
	r = runCLI(t, context.Background(), env, "run", writeScenario(t, strings.Replace(y, "model: m", "model: other", 1)), "--out", out)
	if r.code != ExitFailed || !strings.Contains(r.stderr, `does not serve model "other": /v1/models lists m`) {
		t.Errorf("unlisted model: exit %d %s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a run folder was left: %v", ents)
	}

	// Answers complete at [DONE], then the connection lingers: every request succeeds.
	linger.Store(true)
	out = t.TempDir()
	r = runCLI(t, context.Background(), env, "run", writeScenario(t, y), "--out", out)
	if r.code != 0 {
		t.Fatalf("lingering server: exit %d %s", r.code, r.stderr)
	}
	sum := summaryOf(t, onlyDir(t, out))
	if l := sum.Levels[0]; l.Completed != 10 || l.Errors != 0 || l.Latency["median_e2el_ms"] > 1000 {
		t.Errorf("lingering server: %d completed, %d failed, median e2el %.0f ms", l.Completed, l.Errors, l.Latency["median_e2el_ms"])
	}
}

// Issue 18's bad inputs that need the environment or the command line.
func TestValidateChecksTheEnvironment(t *testing.T) {
	y := strings.Replace(endpointYAML("http://127.0.0.1:9"), `url: "http://127.0.0.1:9"}`, `url: "http://127.0.0.1:9", api_key_env: PG_UNSET_KEY}`, 1)
	f := writeScenario(t, y)
	r := runCLI(t, context.Background(), nil, "validate", f)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "names $PG_UNSET_KEY, which is not set") || !strings.Contains(r.stderr, f+":4:") {
		t.Errorf("unset key: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, context.Background(), map[string]string{"PG_UNSET_KEY": "x"}, "validate", f)
	if r.code != 0 {
		t.Errorf("set key: %d %s", r.code, r.stderr)
	}
}

// No engine outlives perfgate (issue 18): perfgate ab is sent SIGINT and,
// a moment later, SIGTERM to its whole process group — as `timeout` does,
// and as GitHub Actions' cancel does — at each phase of a run: the
// worktree and install, an engine starting, warm-up, measurement, and
// between trials. Every time, perfgate exits and no engine process is left.
func TestDoubleSignalAtEveryPhaseLeavesNoEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts perfgate ab five times")
	}
	repo, first, _ := fakeRepo(t)
	scen := writeScenario(t, strings.Replace(strings.Replace(abScenarioYAML, "%s", "30s", 1), "%s", "restart", 1))
	b, _ := os.ReadFile(scen)
	os.WriteFile(scen, []byte(strings.Replace(string(b), "measure: {requests: 48}", "measure: {requests: 400}", 1)), 0o644)
	for _, at := range []string{"", "baseline trial 1 (attempt 1)", "running ab-fake", " measure ", "trial 2 (attempt 1)"} {
		name := at
		if name == "" {
			name = "at once"
		}
		t.Run(strings.TrimSpace(name), func(t *testing.T) {
			cmd, log := perfgateProcess(t, "ab", scen, "--vllm-repo", repo, "--baseline", first, "--candidate", first,
				"--install-command", installFake, "--work-dir", t.TempDir(), "--out", t.TempDir(), "--trials", "3", "--grace", "5s")
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			deadline := time.Now().Add(60 * time.Second)
			for at != "" && !strings.Contains(log.String(), at) && time.Now().Before(deadline) {
				select {
				case <-exited:
					t.Fatalf("perfgate ended before %q:\n%s", at, log.String())
				case <-time.After(5 * time.Millisecond):
				}
			}
			cmd.Process.Signal(syscall.SIGINT)
			time.Sleep(50 * time.Millisecond)
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("perfgate did not exit after two signals:\n%s", log.String())
			}
			// The engines die with SIGKILL; give the kernel a moment to reap them.
			var left []string
			for i := 0; i < 100; i++ {
				if left = survivors(t); len(left) == 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(left) > 0 {
				t.Errorf("engines outlived perfgate: %v\n%s", left, log.String())
				killSurvivors(t)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// killSurvivors cleans up after a failed check, so that one failure does
// not leave processes behind for the other tests.
func killSurvivors(t *testing.T) {
	for _, p := range engineProcs() {
		p.Kill()
	}
}

// A hostile server, part 3: each request meets one fault, in turn — an
// answer then a reset, bare-CR line endings with a pause between chunks, a
// usage that undercounts, no usage, a line that never ends, and a /metrics
// page with bad lines. Complete answers succeed, with their
// own times; only the endless line fails (malformed, at the event cap);
// the usage problems are counted and warned about.
func TestHostileServerFaultMix(t *testing.T) {
	var n atomic.Int64
	stop := make(chan struct{})
	chunk := func(s string) string { return `{"choices":[{"text":"` + s + `"}]}` }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
			return
		case "/metrics":
			page, _ := badMetricsPage()
			fmt.Fprint(w, page)
			return
		case "/v1/completions":
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		switch n.Add(1) % 5 {
		case 0: // the answer, then a reset
			fmt.Fprint(w, "data: "+chunk("a")+"\n\ndata: "+chunk("b")+"\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n")
			fl.Flush()
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		case 1: // bare CR, 200 ms between the first chunk and the rest
			fmt.Fprint(w, "data: "+chunk("a")+"\r\r")
			fl.Flush()
			select {
			case <-time.After(200 * time.Millisecond):
			case <-stop:
			}
			fmt.Fprint(w, "data: "+chunk("b")+"\r\rdata: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2}}\r\rdata: [DONE]\r\r")
		case 2: // usage says 1 for 3 content chunks
			fmt.Fprint(w, "data: "+chunk("a")+"\n\ndata: "+chunk("b")+"\n\ndata: "+chunk("c")+"\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n")
		case 3: // no usage at all
			fmt.Fprint(w, "data: "+chunk("a")+"\n\ndata: "+chunk("b")+"\n\ndata: [DONE]\n\n")
		case 4: // a line that never ends (the scenario caps events at 64 KiB)
			fmt.Fprint(w, "data: "+chunk("a")+"\n\ndata: ")
			for i := 0; i < 1000; i++ {
				if _, err := fmt.Fprint(w, strings.Repeat("z", 4096)); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	defer close(stop)
	y := `
name: hostile-mix
model: m
engine: {kind: endpoint, url: "` + srv.URL + `"}
max_event_bytes: 65536
workload: {classes: [{input_tokens: 8, output_tokens: 3}]}
load: {concurrency: 2}
phases: {measure: {requests: 20}}
telemetry: {interval: 50ms}
`
	var out string
	var r result
	// A stall longer than the pause would hide which answers paused: judge a
	// calm run, its pause measured within twice the wake-up jitter.
	jitter := timingtest.Tolerance(0, timingtest.Calm(t, 50*time.Millisecond, func() {
		out = t.TempDir()
		r = runCLI(t, context.Background(), nil, "run", writeScenario(t, y), "--out", out)
	}))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	dir := onlyDir(t, out)
	sum := summaryOf(t, dir)
	l := sum.Levels[0]
	if l.Completed != 16 || l.Errors != 4 || l.ErrorsByClass[record.ErrMalformed] != 4 || l.UsageShort != 4 || l.UsageMissing != 4 {
		t.Errorf("completed %d, failed %d %v, usage_short %d, usage_missing %d", l.Completed, l.Errors, l.ErrorsByClass, l.UsageShort, l.UsageMissing)
	}
	if !strings.Contains(r.stdout, "fewer completion_tokens than the content chunks") || !strings.Contains(r.stdout, "had no usage") {
		t.Errorf("the terminal does not warn about usage:\n%s", r.stdout)
	}
	// Bare-CR answers: the first token is timed when it came, not at the end.
	recs, _ := os.ReadFile(filepath.Join(dir, record.RequestsFile))
	bareCR := 0
	const pause = 200 * time.Millisecond
	for line := range strings.SplitSeq(strings.TrimSpace(string(recs)), "\n") {
		var rec record.Record
		if json.Unmarshal([]byte(line), &rec) != nil || len(rec.ChunkUS) != 2 || rec.Error != "" {
			continue
		}
		// The 200 ms pause is between the two chunks, as sent (give or take
		// what this machine's scheduler adds to either read).
		if gap := time.Duration(rec.ChunkUS[1]-rec.ChunkUS[0]) * time.Microsecond; gap > pause-jitter {
			bareCR++
		}
	}
	if bareCR != 4 {
		t.Errorf("%d of 4 bare-CR answers had their pause between the chunks", bareCR)
	}
	// The engine's /metrics page (200 bad lines) was sampled, its good values kept.
	tel, _ := os.ReadFile(filepath.Join(dir, "telemetry.jsonl"))
	if !strings.Contains(string(tel), `"telemetry.malformed_lines":200`) || !strings.Contains(string(tel), "num_requests_running") {
		t.Errorf("telemetry.jsonl does not have the page's values (%d bytes)", len(tel))
	}
}

// badMetricsPage is a /metrics page of 2,000 families with a bad line in
// every tenth (small enough to be parsed within the run under -race).
func badMetricsPage() (string, int) {
	var b strings.Builder
	bad := 0
	for i := range 2000 {
		fmt.Fprintf(&b, "# HELP g%d a gauge\n# TYPE g%d gauge\ng%d %d\n", i, i, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "g%d{x=\"1\" bad\n", i)
			bad++
		}
	}
	fmt.Fprint(&b, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 3\n")
	return b.String(), bad
}
