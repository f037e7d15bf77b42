package pace

import (
	"context"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	start := time.Now()
	if !Until(context.Background(), start.Add(30*time.Millisecond)) {
		t.Fatal("returned false without cancellation")
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("returned early, after %v", el)
	}
	if !Until(context.Background(), start) {
		t.Error("a past time returns at once with true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if Until(ctx, time.Now().Add(time.Hour)) {
		t.Error("a canceled context must give false")
	}
}
