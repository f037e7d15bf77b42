package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A 409 (aborts still running) is tried again; a 404 and other answers
// are said at once, the 404 with how vLLM mounts the route.
func TestResetPrefixCacheRetriesBusyOnly(t *testing.T) {
	var calls atomic.Int32
	codes := []int{http.StatusConflict, http.StatusConflict, http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		if r.Method != http.MethodPost || r.URL.Path != "/reset_prefix_cache" || r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(codes[min(n, len(codes)-1)])
	}))
	defer srv.Close()
	if err := ResetPrefixCache(context.Background(), srv.URL, "k"); err != nil || calls.Load() != 3 {
		t.Fatalf("%v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	codes = []int{http.StatusNotFound}
	if err := ResetPrefixCache(context.Background(), srv.URL, "k"); err == nil || !strings.Contains(err.Error(), "VLLM_SERVER_DEV_MODE=1") || calls.Load() != 1 {
		t.Errorf("404: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	codes = []int{http.StatusInternalServerError}
	if err := ResetPrefixCache(context.Background(), srv.URL, "k"); err == nil || !strings.Contains(err.Error(), "HTTP 500") || calls.Load() != 1 {
		t.Errorf("500: %v after %d calls", err, calls.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	codes = []int{http.StatusConflict}
	if err := ResetPrefixCache(ctx, srv.URL, "k"); err == nil {
		t.Error("a cancelled context must end the retries")
	}
}
