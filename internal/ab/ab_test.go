package ab

import (
	"strings"
	"testing"
)

// Balanced pairs: B C C B B C C B …, so each side is as often first as
// second in every two pairs.
func TestOrder(t *testing.T) {
	var got []string
	for i := range 8 {
		got = append(got, Order(i)[:1])
	}
	if s := strings.Join(got, ""); s != "bccbbccb" {
		t.Errorf("order %s", s)
	}
}

func TestTrialDir(t *testing.T) {
	if d := TrialDir("x", Candidate, 7); d != "x/candidate/trial-07" {
		t.Error(d)
	}
}
