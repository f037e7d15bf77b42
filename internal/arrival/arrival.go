// Package arrival computes when requests are sent in an open loop. It is pure
// maths: a schedule is a list of offsets from the start of a level, computed
// up front from a seed so baseline and candidate see the same arrivals.
package arrival

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/perfgate/perfgate/internal/registry"
	"github.com/perfgate/perfgate/internal/scenario"
)

// Process draws the gaps between consecutive arrivals.
type Process interface {
	// Next returns the gap before the next arrival, in seconds.
	Next() float64
}

// Poisson arrivals: exponential gaps with mean 1/rate.
type Poisson struct{ d distuv.Exponential }

// Gamma arrivals as in `vllm bench serve`: gamma gaps with shape = burstiness
// and mean 1/rate, so the coefficient of variation is 1/√burstiness.
// Burstiness 1 is Poisson; below 1 is burstier, above 1 smoother.
type Gamma struct{ d distuv.Gamma }

// Constant arrivals every 1/rate seconds.
type Constant struct{ gap float64 }

// Next implements Process.
func (p *Poisson) Next() float64 { return p.d.Rand() }

// Next implements Process.
func (g *Gamma) Next() float64 { return g.d.Rand() }

// Next implements Process.
func (c *Constant) Next() float64 { return c.gap }

var (
	_ Process = (*Poisson)(nil)
	_ Process = (*Gamma)(nil)
	_ Process = (*Constant)(nil)
)

// Factory makes a registered process at rate requests/s (burstiness is the
// scenario's load.burstiness, 0 when unset), drawing from src.
type Factory func(rate, burstiness float64, src rand.Source) (Process, error)

var processes = registry.New[Factory]("arrival process", nil)

// Register adds an arrival process that scenarios can name in load.arrival.
// It panics when the name is taken (the built-in ones included).
func Register(name string, f Factory) {
	switch name {
	case "", "poisson", "gamma", "constant", scenario.ArrivalTrace:
		panic("arrival process " + name + " is built in")
	}
	processes.Register(name, f)
	scenario.RegisterArrival(name)
}

// New returns the process named kind ("poisson", "gamma", "constant", or a
// registered one) at rate requests/s, drawing from src.
func New(kind string, rate, burstiness float64, src rand.Source) (Process, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("arrival rate must be a positive number, got %g", rate)
	}
	switch kind {
	case "poisson", "":
		return &Poisson{distuv.Exponential{Rate: rate, Src: src}}, nil
	case "gamma":
		if !(burstiness > 0) {
			return nil, fmt.Errorf("gamma burstiness must be > 0, got %g", burstiness)
		}
		return &Gamma{distuv.Gamma{Alpha: burstiness, Beta: burstiness * rate, Src: src}}, nil
	case "constant":
		return &Constant{gap: 1 / rate}, nil
	}
	if f, ok := processes.Lookup(kind); ok {
		return f(rate, burstiness, src)
	}
	return nil, fmt.Errorf("unknown arrival process %q", kind)
}

// Schedule returns arrival offsets from p: the first arrival is at 0, and
// arrivals continue while the offset is below until (when until > 0) and the
// count is below n (when n > 0). At least one of the limits must be set.
func Schedule(p Process, n int, until time.Duration) []time.Duration {
	if n <= 0 && until <= 0 {
		return nil
	}
	capHint := n
	if capHint <= 0 {
		capHint = 1024
	}
	out := make([]time.Duration, 0, capHint)
	var t float64
	for {
		off := time.Duration(t * float64(time.Second))
		if (until > 0 && off >= until) || (n > 0 && len(out) >= n) {
			return out
		}
		out = append(out, off)
		t += p.Next()
	}
}
