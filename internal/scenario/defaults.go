package scenario

import (
	"fmt"
	"slices"
	"time"

	"github.com/perfgate/perfgate/internal/gate"
)

// Defaults applied to keys a file leaves out. docs/scenarios.md lists them.
const (
	DefaultAPI            = APICompletions
	DefaultRequestTimeout = 5 * time.Minute
	DefaultDrainTimeout   = 2 * time.Minute
	// DefaultTelemetryInterval is how often telemetry probes are read.
	DefaultTelemetryInterval = 250 * time.Millisecond
)

// DefaultPercentiles are reported when the file names none.
var DefaultPercentiles = []float64{50, 90, 95, 99}

func (s *Scenario) applyDefaults() {
	if s.API == "" {
		s.API = DefaultAPI
	}
	if s.Engine.Kind == "" {
		s.Engine.Kind = EngineSim
	}
	if s.Workload.Prompt == "" {
		s.Workload.Prompt = PromptText
	}
	for i := range s.Workload.Classes {
		cl := &s.Workload.Classes[i]
		if cl.Name == "" {
			cl.Name = fmt.Sprintf("class%d", i)
		}
		if cl.Weight == 0 {
			cl.Weight = 1
		}
	}
	for i := range s.Workload.Classes {
		d := &s.Workload.Classes[i].Dataset
		d.Path = absPath(resolvePath(s.File, d.Path))
		if d.Format == DatasetShareGPT && !d.Conversations {
			s.shareGPTFilters(i, d)
		}
	}
	if s.Load.Arrival == ArrivalTrace {
		s.Load.Trace.Path = absPath(resolvePath(s.File, s.Load.Trace.Path))
		if s.Load.Rate == 0 && len(s.Load.Levels) == 0 {
			s.Load.Rate = 1
		}
		if s.Load.Trace.BlockTokens == 0 {
			s.Load.Trace.BlockTokens = 512
		}
	}
	if s.Workload.Sessions.Enabled() && s.Workload.Sessions.UserTokens.Kind == "" && len(s.Workload.Classes) > 0 {
		s.Workload.Sessions.UserTokens = s.Workload.Classes[0].InputTokens
	}
	if s.Load.Mode == ModeOpen {
		if s.Load.Arrival == "" {
			s.Load.Arrival = ArrivalPoisson
		}
		if s.Load.Arrival == ArrivalGamma && s.Load.Burstiness == 0 {
			s.Load.Burstiness = 1
		}
	}
	if s.Phases.OnEnd == "" {
		s.Phases.OnEnd = OnEndDrain
	}
	if s.Phases.BetweenLevels == "" {
		s.Phases.BetweenLevels = BetweenReset
		if s.Engine.Kind == EngineEndpoint {
			s.Phases.BetweenLevels = BetweenKeep // not ours to reset unless asked
		}
	}
	if s.Phases.DrainTimeout == 0 {
		s.Phases.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = Duration(DefaultRequestTimeout)
	}
	if len(s.Percentiles) == 0 {
		s.Percentiles = slices.Clone(DefaultPercentiles)
	}
	if s.Gate.Alpha == 0 {
		s.Gate.Alpha = 0.05
	}
	if s.Gate.MinTrials == 0 {
		s.Gate.MinTrials = gate.DefaultMinTrials
	}
	if s.Gate.MaxTrials == 0 {
		s.Gate.MaxTrials = max(gate.DefaultMaxTrials, s.Gate.MinTrials)
	}
	if s.Gate.OutlierReruns == nil {
		n := DefaultOutlierReruns
		s.Gate.OutlierReruns = &n
	}
	if len(s.Gate.Metrics) == 0 {
		s.Gate.Metrics = slices.Clone(DefaultGateMetrics)
	}
	if s.Telemetry.Interval == 0 {
		s.Telemetry.Interval = Duration(DefaultTelemetryInterval)
	}
	slices.Sort(s.Percentiles)
	s.Percentiles = slices.Compact(s.Percentiles)
}

// ShareGPT's length filters, as vLLM's ShareGPT sampler applies them: a
// prompt or an answer under 4 tokens, a prompt over 1024 or both over 2048
// are skipped. A filter the file sets (0: none) is kept; a conversation
// replay (conversations: true), which vLLM does not sample, has none.
const (
	ShareGPTMinTokens      = 4
	ShareGPTMaxPrompt      = 1024
	ShareGPTMaxTotalTokens = 2048
)

func (s *Scenario) shareGPTFilters(i int, d *Dataset) {
	at := fmt.Sprintf("workload.classes[%d].dataset.", i)
	for _, f := range []struct {
		key string
		v   *int
		def int
	}{{"min_prompt_tokens", &d.MinPromptTokens, ShareGPTMinTokens}, {"max_prompt_tokens", &d.MaxPromptTokens, ShareGPTMaxPrompt},
		{"min_output_tokens", &d.MinOutputTokens, ShareGPTMinTokens}, {"max_total_tokens", &d.MaxTotalTokens, ShareGPTMaxTotalTokens}} {
		if !s.set(at + f.key) {
			*f.v = f.def
		}
	}
}
