package secret

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

const key = "sk-proj/AbC+dEf=ghIJ0123456789xyz"

func TestForms(t *testing.T) {
	r := New(key)
	jsonForm, _ := json.Marshal(key)
	for name, in := range map[string]string{
		"as sent":          "you sent Bearer " + key + " which is wrong",
		"JSON-escaped":     "you sent " + string(jsonForm),
		"slashes escaped":  `{"error":"Bearer ` + strings.ReplaceAll(key, "/", `\/`) + `"}`,
		"URL query":        "GET /v1?key=" + url.QueryEscape(key),
		"URL path":         "GET /v1/" + url.PathEscape(key) + "/x",
		"clipped":          "you sent Bearer " + key[:27] + "...",
		"clipped to eight": "Bearer " + key[:8],
		"twice":            key + " and " + key,
		"escaped, clipped": `"Bearer ` + strings.ReplaceAll(key, "/", `\/`)[:12],
	} {
		got := r.String(in)
		if strings.Contains(got, key[:8]) || strings.Contains(got, "AbC") || !strings.Contains(got, mask) {
			t.Errorf("%s: %q → %q", name, in, got)
		}
	}
}

// What is not the key stays: a run of its first 7 characters, other text,
// and a short key that is not there whole.
func TestKeepsTheRest(t *testing.T) {
	r := New(key)
	for _, in := range []string{"", "no key here", "sk-proj is a prefix family", key[:7] + " alone", "Bearer [redacted]"} {
		if got := r.String(in); got != in {
			t.Errorf("%q → %q", in, got)
		}
	}
	short := New("abc")
	if got := short.String("abcd ab abc"); got != "[redacted]d ab [redacted]" {
		t.Errorf("short key: %q", got)
	}
	if !New("").Empty() || New("").String("x") != "x" {
		t.Error("the zero Redactor changed text")
	}
}
