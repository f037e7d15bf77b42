package metric

import "testing"

func TestCatalogue(t *testing.T) {
	for _, c := range []struct {
		name           string
		ok, higher, ab bool
		unit, vllm     string
	}{
		{"output_throughput", true, true, false, "tokens/s", "output_throughput"},
		{"request_goodput", true, true, false, "requests/s", "request_goodput"},
		{"p99_ttft_ms", true, false, false, "ms", "p99_ttft_ms"},
		{"p99.9_itl_ms", true, false, false, "ms", "p99.9_itl_ms"},
		{"median_e2el_ms", true, false, false, "ms", "median_e2el_ms"},
		{"error_rate", true, false, true, "share", ""},
		{"mean_e2el_incl_queue_ms", true, false, false, "ms", "mean_e2el_including_client_queue_ms"},
		{"p99_ttft", false, false, false, "", ""},
		{"gpu_util", false, false, false, "", ""},
	} {
		i, ok := Lookup(c.name)
		if ok != c.ok || i.HigherIsBetter != c.higher || i.Absolute != c.ab || i.Unit != c.unit || i.VLLMKey != c.vllm ||
			HigherIsBetter(c.name) != c.higher || Absolute(c.name) != c.ab {
			t.Errorf("%s: %+v %v", c.name, i, ok)
		}
	}
	for _, d := range Defaults {
		if !Gateable(d.Name) || d.WarnPct <= 0 || d.FailPct < d.WarnPct {
			t.Errorf("default %+v", d)
		}
	}
	if !HigherIsBetter("prefill_throughput") {
		t.Error("a throughput outside the catalogue is still higher-is-better")
	}
}

func TestVerdictOrder(t *testing.T) {
	order := []Verdict{Pass, Warn, Fail, Error}
	for i, v := range order {
		if v.Rank() != i || !v.Known() {
			t.Errorf("%s: rank %d, known %v", v, v.Rank(), v.Known())
		}
		for _, w := range order[i:] {
			if Worst(v, w) != w || Worst(w, v) != w {
				t.Errorf("worst of %s and %s: %s", v, w, Worst(v, w))
			}
		}
	}
	if Worst() != Pass || Verdict("").Known() || Verdict("PASS").Known() || Verdict("maybe").Mark() != "" {
		t.Error("no verdicts make pass; unknown ones are unknown and unmarked")
	}
	if Worst(Warn, "", "bogus") != Warn {
		t.Error("an unknown verdict must not hide a known one")
	}
}
