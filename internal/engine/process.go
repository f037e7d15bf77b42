//go:build unix

package engine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/perfgate/perfgate/internal/childenv"
	"github.com/perfgate/perfgate/internal/proctree"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// ProcessOptions start a server process such as `vllm serve`.
type ProcessOptions struct {
	Bin           string   // the executable (vllm)
	PathPrefix    string   // a directory put first on PATH (an environment's bin/)
	Model         string   // vllm serve MODEL
	Args          []string // further arguments
	Env           []string // extra KEY=VALUE
	LogPath       string   // engine.log: the process's stdout and stderr
	HealthTimeout time.Duration
	StopGrace     time.Duration // SIGTERM, then SIGKILL after this
}

// Process is a server perfgate started, in its own process group; its tree
// (every process descended from it, also one that left the group) is
// owned through proctree.
type Process struct {
	tree    *proctree.Tree
	cmd     *exec.Cmd
	url     string
	log     *os.File
	logPath string
	started time.Time
	done    chan struct{}
	waitErr error
	grace   time.Duration
	closed  bool
	took    time.Duration // from the start until it answered
	told    bool          // took was given (TakeStartTook)
}

var (
	_ Engine     = (*Process)(nil)
	_ Mortal     = (*Process)(nil)
	_ WithPID    = (*Process)(nil)
	_ Logged     = (*Process)(nil)
	_ StartTimed = (*Process)(nil)
)

// HealthError means the server did not become healthy; Tail is the end of
// its log, Hint what to do when the log says why ("" when it does not).
type HealthError struct {
	Reason, Log, Tail, Hint string
}

func (e *HealthError) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("the engine %s: %s; its log is %s, last lines:\n%s", e.Reason, e.Hint, e.Log, e.Tail)
	}
	return fmt.Sprintf("the engine %s; its log is %s, last lines:\n%s", e.Reason, e.Log, e.Tail)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartProcess starts `BIN serve MODEL --host 127.0.0.1 --port N ARGS...` on
// a free port and waits until GET /health and GET /v1/models answer 200.
func StartProcess(ctx context.Context, o ProcessOptions) (*Process, error) {
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 20 * time.Minute
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 30 * time.Second
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(o.LogPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", o.Model, "--host", "127.0.0.1", "--port", strconv.Itoa(port)}, o.Args...)
	cmd := exec.Command(o.Bin, args...)
	// Only allow-listed variables reach the server: it may be a pull
	// request's code (childenv).
	env := childenv.Env()
	if o.PathPrefix != "" {
		env = append(env, "PATH="+o.PathPrefix+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	cmd.Env = append(env, o.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	fmt.Fprintf(logf, "# perfgate: %s %v\n", o.Bin, args)
	tree, err := proctree.Start("engine", cmd)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	p := &Process{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), log: logf, logPath: o.LogPath,
		started: time.Now(), done: make(chan struct{}), grace: o.StopGrace, tree: tree}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	if err := p.waitHealthy(ctx, o.HealthTimeout); err != nil {
		p.Close()
		return nil, err
	}
	p.took = time.Since(p.started)
	return p, nil
}

// TakeStartTook is how long the process took to start and answer, the first
// time it is asked; 0 after (a later trial on the same engine did not wait
// for it).
func (p *Process) TakeStartTook() time.Duration {
	if p.told {
		return 0
	}
	p.told = true
	return p.took
}

func (p *Process) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	hc := &http.Client{Timeout: 2 * time.Second}
	ok := func(path string) bool {
		resp, err := hc.Get(p.url + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for {
		select {
		case <-p.done:
			p.log.Sync()
			return &HealthError{Reason: fmt.Sprintf("exited (%v) before it became healthy", p.waitErr), Log: p.logPath, Tail: vllmsrc.Tail(p.logPath, 20), Hint: hintFromLog(p.logPath)}
		case <-deadline.C:
			p.log.Sync()
			return &HealthError{Reason: fmt.Sprintf("was not healthy after %s (GET /health and /v1/models)", timeout), Log: p.logPath, Tail: vllmsrc.Tail(p.logPath, 20), Hint: hintFromLog(p.logPath)}
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if ok("/health") && ok("/v1/models") {
				return nil
			}
		}
	}
}

// Kind implements Engine.
func (p *Process) Kind() string { return "vllm" }

// URL implements Engine.
func (p *Process) URL() string { return p.url }

// APIKey implements Engine.
func (p *Process) APIKey() string { return "" }

// PID is the process's id (the root of its tree and its process group).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Died is closed when the process has exited.
func (p *Process) Died() <-chan struct{} { return p.done }

// Uptime is how long it has run.
func (p *Process) Uptime() time.Duration { return time.Since(p.started) }

// LogPath is its engine.log.
func (p *Process) LogPath() string { return p.logPath }

// Close stops the whole tree: SIGTERM, then SIGKILL after the grace
// period, and waits until no process of it is left — the group, and every
// descendant that left it (setsid).
func (p *Process) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	defer p.log.Close()
	err := p.tree.Stop(p.grace, 2*time.Second, p.done)
	<-p.done
	if err != nil {
		return fmt.Errorf("the engine (process %d): %w", p.tree.PID(), err)
	}
	return nil
}
