package cli

import (
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
)

func TestParseSLO(t *testing.T) {
	s, err := parseSLO([]string{"ttft=200", "tpot:50", "E2EL=1500.5"})
	if err != nil || s != (record.SLO{TTFTMs: 200, TPOTMs: 50, E2ELMs: 1500.5}) {
		t.Errorf("%+v, %v", s, err)
	}
	for _, bad := range []string{"ttft", "ttft=0", "ttft=-3", "ttft=inf", "ttft=NaN", "itl=20", "ttft=20ms"} {
		if _, err := parseSLO([]string{bad}); err == nil || !strings.Contains(err.Error(), "--slo") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// vLLM's --lora-modules takes several values after one flag; the flag
// parser gets one flag each.
func TestLoRAArgs(t *testing.T) {
	got := loraArgs([]string{"m", "--enable-lora", "--lora-modules", "a=/x", "b=/y", "--port", "1", "--lora-modules=c=/z"})
	want := []string{"m", "--enable-lora", "--lora-modules=a=/x", "--lora-modules=b=/y", "--port", "1", "--lora-modules=c=/z"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%q", got)
	}
}

// --lora-modules takes vLLM's two spellings, and says what it expected.
func TestLoRAName(t *testing.T) {
	for in, want := range map[string]string{"a=/x": "a", `{"name": "b", "path": "/y"}`: "b"} {
		if got, err := loraName(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"a", "=/x", "{}", "{not json"} {
		if _, err := loraName(bad); err == nil || !strings.Contains(err.Error(), "expected NAME=PATH") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if got := loraArgs([]string{"--lora-modules", `{"name":"a"}`, "m"}); strings.Join(got, " ") != `--lora-modules={"name":"a"} m` {
		t.Errorf("%q", got)
	}
}
