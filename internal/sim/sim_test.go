package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func post(t *testing.T, url, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func start(t *testing.T, cfg Config) string {
	t.Helper()
	r, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.URL
}

func events(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestCompletionsStream(t *testing.T) {
	url := start(t, Config{Model: "m", TTFT: time.Millisecond, ITL: time.Millisecond})
	resp, b := post(t, url, "/v1/completions", `{"model":"m","prompt":"a b c d","max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	ev := events(b)
	if len(ev) != 5 || ev[4] != "[DONE]" {
		t.Fatalf("events: %q", ev)
	}
	for _, e := range ev[:4] {
		if !json.Valid([]byte(e)) {
			t.Errorf("not JSON: %s", e)
		}
	}
	var u struct {
		Usage struct{ PromptTokens, CompletionTokens int } `json:"usage"`
	}
	json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(ev[3], "prompt_tokens", "PromptTokens"), "completion_tokens", "CompletionTokens")), &u)
	if u.Usage.PromptTokens != 4 || u.Usage.CompletionTokens != 3 {
		t.Errorf("usage %s", ev[3])
	}
	if !strings.Contains(ev[2], `"finish_reason":"length"`) {
		t.Errorf("last token chunk: %s", ev[2])
	}
}

func TestChatAndTokenIDs(t *testing.T) {
	url := start(t, Config{Model: "m"})
	_, b := post(t, url, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi there"}],"max_tokens":2,"stream":true}`)
	ev := events(b)
	if len(ev) != 4 || !strings.Contains(ev[0], `"role":"assistant"`) || !strings.Contains(ev[1], `"content":" w`) {
		t.Fatalf("chat events: %q", ev)
	}
	_, b = post(t, url, "/v1/completions", `{"model":"m","prompt":[5,6,7,8,9],"max_tokens":2}`)
	if !strings.Contains(string(b), `"prompt_tokens":5`) || !strings.Contains(string(b), `"completion_tokens":2`) {
		t.Errorf("non-streaming token-id completion: %s", b)
	}
}

func TestErrors(t *testing.T) {
	url := start(t, Config{Model: "m"})
	for _, c := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"model":"other","prompt":"x"}`, 404, "does not exist"},
		{`{"model":"m","prompt":{}}`, 400, "prompt must be"},
		{`{"model":"m","prompt":"x","max_tokens":0}`, 400, "max_tokens"},
		{`not json`, 400, "not valid JSON"},
	} {
		resp, b := post(t, url, "/v1/completions", c.body)
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.msg) {
			t.Errorf("%s: %d %s", c.body, resp.StatusCode, b)
		}
	}
}

func TestMaxNumSeqsQueues(t *testing.T) {
	url := start(t, Config{Model: "m", MaxNumSeqs: 2, TTFT: 50 * time.Millisecond})
	var wg sync.WaitGroup
	starts := make([]time.Duration, 4)
	t0 := time.Now()
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(t, url, "/v1/completions", `{"model":"m","prompt":"x","max_tokens":1,"stream":true}`)
			starts[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	slow := 0
	for _, d := range starts {
		if d >= 95*time.Millisecond {
			slow++
		}
	}
	if slow != 2 {
		t.Errorf("with 2 slots, 2 of 4 requests must wait for a slot: %v", starts)
	}
}

func TestTokenizeAndInfo(t *testing.T) {
	url := start(t, Config{Model: "m"})
	_, b := post(t, url, "/tokenize", `{"model":"m","prompt":"w5 hello  world"}`)
	var out struct {
		Count  int   `json:"count"`
		Tokens []int `json:"tokens"`
	}
	json.Unmarshal(b, &out)
	if out.Count != 3 || out.Tokens[0] != 5 || out.Tokens[1] < vocabSize {
		t.Errorf("tokenize: %s", b)
	}
	for _, p := range []string{"/health", "/version", "/v1/models", "/metrics"} {
		resp, err := http.Get(url + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
}
