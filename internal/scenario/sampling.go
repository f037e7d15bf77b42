package scenario

import (
	"encoding/json"
	"maps"
	"slices"
)

// Sampling is what each request asks of the server's sampler. A key left
// out is not sent, so the server's default applies — as vllm bench serve
// does unless asked; speculative decoding's acceptance, hence TPOT, depends
// on the temperature, so a scenario that compares such engines should say.
type Sampling struct {
	Temperature *float64 `yaml:"temperature,omitempty"`
	TopP        *float64 `yaml:"top_p,omitempty"`
	TopK        *int     `yaml:"top_k,omitempty"`
	MinP        *float64 `yaml:"min_p,omitempty"`
	// ExtraBody is merged into every request's JSON (vLLM's own
	// parameters: min_tokens, repetition_penalty, …); it may not set what
	// perfgate sets itself.
	ExtraBody map[string]any `yaml:"extra_body,omitempty"`
}

// ReservedBodyKeys are the request fields perfgate sets itself.
var ReservedBodyKeys = []string{"model", "prompt", "messages", "max_tokens", "ignore_eos", "stream", "stream_options"}

// Fields are the request fields the sampling adds, by name.
func (s Sampling) Fields() map[string]any {
	out := maps.Clone(s.ExtraBody)
	if out == nil {
		out = map[string]any{}
	}
	if s.Temperature != nil {
		out["temperature"] = *s.Temperature
	}
	if s.TopP != nil {
		out["top_p"] = *s.TopP
	}
	if s.MinP != nil {
		out["min_p"] = *s.MinP
	}
	if s.TopK != nil {
		out["top_k"] = *s.TopK
	}
	return out
}

func (c *checker) sampling() {
	s := c.s.Sampling
	if t := s.Temperature; t != nil && !(*t >= 0 && *t <= 2) {
		c.at("sampling.temperature", "must be from 0 to 2, got %g", *t)
	}
	if p := s.TopP; p != nil && !(*p > 0 && *p <= 1) {
		c.at("sampling.top_p", "must be above 0 and at most 1, got %g", *p)
	}
	if p := s.MinP; p != nil && !(*p >= 0 && *p <= 1) {
		c.at("sampling.min_p", "must be from 0 to 1, got %g", *p)
	}
	if k := s.TopK; k != nil && *k != -1 && *k < 1 {
		c.at("sampling.top_k", "must be -1 (every token) or at least 1, got %d", *k)
	}
	for _, k := range slices.Sorted(maps.Keys(s.ExtraBody)) {
		switch {
		case slices.Contains(ReservedBodyKeys, k):
			c.at("sampling.extra_body."+k, "is set by perfgate itself (%v)", ReservedBodyKeys)
		case k == "temperature" || k == "top_p" || k == "top_k" || k == "min_p":
			c.at("sampling.extra_body."+k, "has a key of its own: sampling.%s", k)
		}
		if _, err := json.Marshal(s.ExtraBody[k]); err != nil {
			c.at("sampling.extra_body."+k, "must be a JSON value: %v", err)
		}
	}
}
