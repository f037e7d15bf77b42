package openai

import (
	"encoding/json"
	"testing"
)

// perfgate sends no sampling parameter of its own (the server's defaults
// apply, as vllm bench serve's do); a scenario's fields are spliced in.
func TestBodySendsOnlyTheScenariosSampling(t *testing.T) {
	var m map[string]any
	b, err := Body("completions", "m", Prompt{IDs: []int{1, 2}, OutputTokens: 3}, nil)
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("%s %v", b, err)
	}
	if _, ok := m["temperature"]; ok || m["max_tokens"] != 3.0 || m["ignore_eos"] != true {
		t.Errorf("the default body: %s", b)
	}
	extra, err := Fields(map[string]any{"temperature": 0.0, "top_k": 5, "min_tokens": 2, "logit_bias": map[string]any{"7": -100}})
	if err != nil {
		t.Fatal(err)
	}
	b, err = Body("chat", "m", Prompt{Text: "hi", OutputTokens: 3}, extra)
	m = nil
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("%s %v", b, err)
	}
	if m["temperature"] != 0.0 || m["top_k"] != 5.0 || m["min_tokens"] != 2.0 || m["logit_bias"].(map[string]any)["7"] != -100.0 || m["messages"] == nil {
		t.Errorf("with sampling: %s", b)
	}
	if f, _ := Fields(nil); f != nil {
		t.Errorf("no fields: %q", f)
	}
}
