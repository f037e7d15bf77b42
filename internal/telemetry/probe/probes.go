package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/registry"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// Factory makes a probe from its scenario entry (telemetry.probes), for a
// sampler reading every interval.
type Factory func(spec scenario.ProbeSpec, interval time.Duration) (telemetry.Probe, error)

var kinds = registry.New("telemetry probe kind", map[string]Factory{
	scenario.ProbePrometheus: newPrometheus,
	scenario.ProbeCommand:    newCommand,
})

// Register adds a probe kind that scenarios can name in
// telemetry.probes[].kind. It panics when the kind is taken.
func Register(kind string, f Factory) {
	kinds.Register(kind, f)
	scenario.RegisterProbe(kind)
}

// New makes the probe of a scenario entry.
func New(spec scenario.ProbeSpec, interval time.Duration) (telemetry.Probe, error) {
	f, ok := kinds.Lookup(spec.Kind)
	if !ok {
		return nil, fmt.Errorf("telemetry probe %s: unknown kind %q", spec.Name, spec.Kind)
	}
	return f(spec, interval)
}

func newPrometheus(spec scenario.ProbeSpec, _ time.Duration) (telemetry.Probe, error) {
	m := &Metrics{Label: spec.Name, URL: spec.URL, ByLabel: spec.ByLabel}
	for _, s := range spec.Include {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, err
		}
		m.Include = append(m.Include, re)
	}
	return m, nil
}

// Command runs a program every interval and reads "name value" lines from
// its standard output (blank lines and lines starting with # are ignored).
// A run past Timeout is killed with its process group; a program that fails
// or prints nothing usable is an error in telemetry.jsonl, never a failed
// benchmark.
type Command struct {
	Label   string
	Argv    []string
	Timeout time.Duration
}

func newCommand(spec scenario.ProbeSpec, interval time.Duration) (telemetry.Probe, error) {
	t := spec.Timeout.D()
	if t <= 0 {
		t = 4 * interval
	}
	return &Command{Label: spec.Name, Argv: spec.Command, Timeout: t}, nil
}

// Name implements telemetry.Probe.
func (c *Command) Name() string { return c.Label }

// Sample implements telemetry.Probe.
func (c *Command) Sample(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	stdout, stderr, err := runCommand(ctx, c.Argv)
	vals, bad := parseValueLines(stdout)
	if ctx.Err() == context.DeadlineExceeded {
		return vals, fmt.Errorf("%s did not finish within %s; killed", c.Argv[0], c.Timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(string(stderr))
		if len(msg) > 300 {
			msg = msg[len(msg)-300:]
		}
		return vals, fmt.Errorf("%s: %v: %s", c.Argv[0], err, msg)
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("%s printed no \"name value\" line (%d unreadable)", c.Argv[0], bad)
	}
	if bad > 0 {
		vals["telemetry.malformed_lines"] = float64(bad)
	}
	return vals, nil
}

// parseValueLines reads "name value" lines; it returns the values and how
// many lines it could not read.
func parseValueLines(out []byte) (map[string]float64, int) {
	vals := map[string]float64{}
	bad := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			bad++
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			bad++
			continue
		}
		vals[f[0]] = v
	}
	return vals, bad
}
