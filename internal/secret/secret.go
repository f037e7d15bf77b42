// Package secret keeps a credential out of what perfgate writes: a server's
// error text, a header it sent back, a log line. A key is found as sent and
// in the forms a server may echo it in — JSON-escaped (with or without `\/`),
// URL-encoded — and as any run of 8 or more of its leading characters, which
// is what is left of it where a message was clipped through it.
package secret

import (
	"encoding/json"
	"net/url"
	"strings"
)

// mask replaces a key wherever it is found.
const mask = "[redacted]"

// MinPrefix is the shortest run of a key's leading characters that is
// redacted on its own (a clipped key); a shorter key is redacted only whole.
const MinPrefix = 8

// Redactor removes one key from text. The zero value removes nothing.
type Redactor struct {
	forms []string // the key as it may appear, longest first
}

// New is a Redactor of key ("" removes nothing).
func New(key string) Redactor {
	if key == "" {
		return Redactor{}
	}
	forms := []string{key}
	add := func(f string) {
		for _, g := range forms {
			if g == f {
				return
			}
		}
		forms = append(forms, f)
	}
	if b, err := json.Marshal(key); err == nil {
		j := string(b[1 : len(b)-1])
		add(j)
		add(strings.ReplaceAll(j, "/", `\/`))
	}
	add(url.QueryEscape(key))
	add(url.PathEscape(key))
	add(strings.ReplaceAll(url.QueryEscape(key), "+", "%20"))
	return Redactor{forms: forms}
}

// Empty says whether there is no key to remove.
func (r Redactor) Empty() bool { return len(r.forms) == 0 }

// String is s with every form of the key, whole or a prefix of MinPrefix or
// more characters, replaced by mask.
func (r Redactor) String(s string) string {
	for _, f := range r.forms {
		s = redactForm(s, f)
	}
	return s
}

// redactForm replaces f, and each run of f's first MinPrefix or more
// characters, in s.
func redactForm(s, f string) string {
	seed := f
	if len(f) > MinPrefix {
		seed = f[:MinPrefix]
	}
	if !strings.Contains(s, seed) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, seed)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		n := len(seed)
		for n < len(f) && i+n < len(s) && s[i+n] == f[n] {
			n++
		}
		b.WriteString(s[:i])
		b.WriteString(mask)
		s = s[i+n:]
	}
}
