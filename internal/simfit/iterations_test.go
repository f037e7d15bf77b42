package simfit

import (
	"os"
	"os/exec"
	"testing"
)

// testdata/vllm/simfit/iterations.py, whose figures docs/simulator.md
// quotes, reads a log made from known steps back as those steps: the time
// between them, decode-only steps by batch, and a prefill token's cost
// beside decodes (iterations-server.log: 1.0 and 1.5 ms between steps, 0.05
// and 0.07 ms a token). It needs python3, as the script it checks.
func TestIterationsSummaryReadsKnownSteps(t *testing.T) {
	out, err := exec.Command("python3", "../../testdata/vllm/simfit/iterations.py", "testdata/iterations-server.log", "testdata/iterations-marks").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want, err := os.ReadFile("testdata/iterations.golden")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(want) {
		t.Errorf("iterations.py printed:\n%s\nwant (testdata/iterations.golden):\n%s", out, want)
	}
}
