package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ErrNotSupported means the server has no such endpoint (404 or 405).
var ErrNotSupported = errors.New("not supported by the server")

// ErrNoAnswer is a call the server did not answer in time.
var ErrNoAnswer = errors.New("no answer in time")

// Timeouts of the calls around a run: the listing and the health check
// decide whether a run can start; the version is for the record; the
// tokenizer refines prompt lengths.
var (
	callTimeout     = 30 * time.Second
	versionTimeout  = 5 * time.Second
	tokenizeTimeout = 15 * time.Second
)

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	return c.callWithin(ctx, callTimeout, method, path, in, out)
}

// callWithin is call with a timeout: a server that does not answer in time
// is ErrNoAnswer, and what the server said in an error has the API key
// removed.
func (c *Client) callWithin(parent context.Context, timeout time.Duration, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	err := c.callOnce(ctx, method, path, in, out)
	switch {
	case err == nil:
	case ctx.Err() != nil && parent.Err() == nil:
		err = fmt.Errorf("%s %s: %w (%s)", method, path, ErrNoAnswer, timeout)
	default:
		if msg := c.redactor.String(err.Error()); msg != err.Error() {
			err = errors.New(msg)
		}
	}
	return err
}

func (c *Client) callOnce(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("%s %s: %w", method, path, ErrNotSupported)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, oneLine(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %v", method, path, err)
	}
	return nil
}

// Models lists the ids from GET /v1/models.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/models", nil, &out); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.Data))
	for _, m := range out.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// MaxModelLen is the context length the server reports for model in
// /v1/models (vLLM's max_model_len), or 0 when it says none.
func (c *Client) MaxModelLen(ctx context.Context, model string) int {
	var out struct {
		Data []struct {
			ID          string `json:"id"`
			MaxModelLen int    `json:"max_model_len"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/models", nil, &out); err != nil {
		return 0
	}
	for _, m := range out.Data {
		if m.ID == model {
			return m.MaxModelLen
		}
	}
	return 0
}

// Tokenize counts the tokens of text with the server's tokenizer (vLLM's
// POST /tokenize), without special tokens.
func (c *Client) Tokenize(ctx context.Context, model, text string) (int, error) {
	in := map[string]any{"model": model, "prompt": text, "add_special_tokens": false}
	var out struct {
		Count  int   `json:"count"`
		Tokens []int `json:"tokens"`
	}
	if err := c.callWithin(ctx, tokenizeTimeout, http.MethodPost, "/tokenize", in, &out); err != nil {
		return 0, err
	}
	if out.Count == 0 {
		out.Count = len(out.Tokens)
	}
	return out.Count, nil
}

// Version returns the server's GET /version answer ("" when it has none).
func (c *Client) Version(ctx context.Context) string {
	var out struct {
		Version string `json:"version"`
	}
	if err := c.callWithin(ctx, versionTimeout, http.MethodGet, "/version", nil, &out); err != nil {
		return "" // for the record only: a server without it (or slow to say) is not a problem
	}
	return out.Version
}

// Health checks GET /health.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/health", nil, nil)
}
