package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/perfgate/perfgate/internal/runner"
)

// progress shows a bar per level on a terminal, and otherwise a plain line
// every few seconds (for CI logs).
type progress struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	level    int
	last     time.Time
	lastP    runner.Progress
	started  bool
}

const progressLineEvery = 5 * time.Second

func newProgress(env Env) *progress {
	return &progress{w: env.Stderr, terminal: env.IsTerminal, level: -1}
}

func (p *progress) describe(u runner.Progress) string {
	return fmt.Sprintf("level %d/%d (%s) %-7s", u.Level+1, u.Levels, u.Spec, u.Phase)
}

func (p *progress) update(u runner.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastP, p.started = u, true
	if !p.terminal {
		if u.Level != p.level || time.Since(p.last) >= progressLineEvery {
			p.level, p.last = u.Level, time.Now()
			p.line(u)
		}
		return
	}
	if u.Level != p.level {
		if p.bar != nil {
			p.bar.Finish()
			fmt.Fprintln(p.w)
		}
		p.level = u.Level
		p.bar = progressbar.NewOptions64(1000,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	frac := 0.0
	switch {
	case u.Expected > 0:
		frac = float64(u.Elapsed) / float64(u.Expected)
	case u.Planned > 0:
		frac = float64(u.Issued) / float64(u.Planned)
	}
	p.bar.Describe(fmt.Sprintf("%s done %d failed %d in flight %d", p.describe(u), u.Done, u.Failed, u.InFlight))
	p.bar.Set64(int64(min(frac, 1) * 1000))
}

func (p *progress) line(u runner.Progress) {
	fmt.Fprintf(p.w, "%s %6.1fs issued %d done %d failed %d in flight %d\n",
		p.describe(u), u.Elapsed.Seconds(), u.Issued, u.Done, u.Failed, u.InFlight)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	} else if p.started && !p.terminal && time.Since(p.last) > 0 {
		p.line(p.lastP)
	}
}
