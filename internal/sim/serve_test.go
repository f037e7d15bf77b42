package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/sim/profile"
)

// serveHTTP starts a simulator with cfg behind a test server; both stop
// with the test.
func serveHTTP(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// An adapter given as --lora-modules is served under its name, listed as
// vLLM lists it (its parent the base model); any other name is vLLM's 404.
func TestLoRAModulesAreServed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Model, cfg.LoRAModules, cfg.TimeScale = "base", []string{"sql-lora"}, 100
	_, srv := serveHTTP(t, cfg)
	for model, want := range map[string]int{"base": 200, "sql-lora": 200, "other": 404} {
		resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(`{"model":"`+model+`","prompt":"a b c","max_tokens":2}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("model %q: HTTP %d, want %d", model, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Data []map[string]any `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&m)
	if len(m.Data) != 2 || m.Data[1]["id"] != "sql-lora" || m.Data[1]["parent"] != "base" {
		t.Errorf("/v1/models: %v", m.Data)
	}
}

// A chat message's content may be OpenAI's list of parts: their texts are
// joined, as vLLM joins them; a part that is not text is refused.
func TestMessageContentParts(t *testing.T) {
	for raw, want := range map[string]string{`"a b"`: "a b", `[{"type":"text","text":"a"},{"type":"text","text":"b"}]`: "a\nb"} {
		if got, err := messageText(json.RawMessage(raw)); err != nil || got != want {
			t.Errorf("%s: %q, %v", raw, got, err)
		}
	}
	for _, raw := range []string{`[{"type":"image_url","image_url":{"url":"x"}}]`, `3`, `[{"type":"text"}]`} {
		if _, err := messageText(json.RawMessage(raw)); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
}

// A profile fitted to a real engine holds each request for its API server's
// measured work before the engine sees it: a lone request's first token
// comes no sooner than that plus its prefill step.
func TestFittedProfileHoldsRequestsForTheirOwnWork(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Profile, cfg.Model = "cpu2/tiny-llama", "tiny"
	s, srv := serveHTTP(t, cfg)
	p := s.Profile()
	var w profile.Work
	w.AddPrefill(3, 0)
	least := time.Duration((p.Linear.RequestMs + 1000*p.StepTime(w, p.Knobs())) * float64(time.Millisecond))
	start := time.Now()
	resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(`{"model":"tiny","prompt":"a b","max_tokens":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := time.Since(start); got < least {
		t.Errorf("answered after %v: sooner than the request's own %.2f ms and its prefill step (%v in all)", got, p.Linear.RequestMs, least)
	}
}
