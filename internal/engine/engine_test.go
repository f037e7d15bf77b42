package engine

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/sim"
)

func load(t *testing.T, engine string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("e.yaml", []byte("name: e\nengine: "+engine+"\nworkload: {classes: [{input_tokens: 1, output_tokens: 1}]}\nload: {rate: 1}\nphases: {measure: {requests: 1}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimEngineServes(t *testing.T) {
	e, err := Start(context.Background(), load(t, "{kind: sim}"), func(string) string { return "" }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	resp, err := http.Get(e.URL() + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	if e.Kind() != "sim" || e.APIKey() != "" {
		t.Errorf("%s %q", e.Kind(), e.APIKey())
	}
}

func TestEndpointURLAndKey(t *testing.T) {
	env := map[string]string{"K": "secret"}
	for in, want := range map[string]string{
		"http://h:8000":       "http://h:8000",
		"http://h:8000/":      "http://h:8000",
		"http://h:8000/v1":    "http://h:8000",
		"http://h/proxy/v1/":  "http://h/proxy",
		"https://h/base/path": "https://h/base/path",
	} {
		e, err := Start(context.Background(), load(t, `{kind: endpoint, url: "`+in+`", api_key_env: K}`), func(k string) string { return env[k] }, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if e.URL() != want || e.APIKey() != "secret" {
			t.Errorf("%s → %s (key %q), want %s", in, e.URL(), e.APIKey(), want)
		}
	}
	_, err := Start(context.Background(), load(t, `{kind: endpoint, url: "http://h", api_key_env: MISSING}`), func(string) string { return "" }, Options{})
	var mk *MissingKeyError
	if !errors.As(err, &mk) || mk.Var != "MISSING" {
		t.Errorf("want a MissingKeyError, got %v", err)
	}
}

// engine.noise takes exactly the simulator's presets.
func TestNoisePresetsAgree(t *testing.T) {
	for _, n := range scenario.NoisePresets {
		if _, err := sim.ParseNoise(n); err != nil {
			t.Errorf("scenario accepts %q, the simulator does not", n)
		}
	}
	if len(scenario.NoisePresets) != len(sim.NoisePresets) {
		t.Errorf("scenario %v, simulator %v", scenario.NoisePresets, sim.NoisePresets)
	}
	s := &scenario.Scenario{}
	s.Engine.Sim.Noise = "gpu"
	if simConfig(s).Noise != sim.NoiseGPU {
		t.Error("engine.noise: gpu does not reach the simulator")
	}
}
