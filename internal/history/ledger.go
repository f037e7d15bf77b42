package history

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"time"
)

// Entry is one regression as the tracking issue records it: once written,
// its culprit range (LastGood..FirstBad) is never rewritten; it is closed,
// with the reason, when it is accepted or recovers.
type Entry struct {
	Scenario  string    `json:"scenario"`
	Level     int       `json:"level"`
	Metric    string    `json:"metric"`
	Env       string    `json:"env,omitempty"`
	FirstBad  string    `json:"first_bad"`
	LastGood  string    `json:"last_good"`
	ChangePct float64   `json:"change_pct"`
	Opened    time.Time `json:"opened"`
	// Provisional while only the newest point, or the newest two, say so
	// (Newest: how many).
	Provisional bool      `json:"provisional,omitempty"`
	Newest      int       `json:"newest,omitempty"`
	Closed      time.Time `json:"closed,omitzero"`
	Why         string    `json:"why,omitempty"` // why it was closed
	// Culprit is the commit bisect named among the suspects (or the only
	// suspect); Bisect says how it was found, or why bisect did not name one.
	Culprit string `json:"culprit,omitempty"`
	Bisect  string `json:"bisect,omitempty"`
}

// IsOpen says whether nobody has dealt with the regression yet.
func (e Entry) IsOpen() bool { return e.Closed.IsZero() }

func (e Entry) key() string {
	return fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%s", e.Scenario, e.Level, e.Metric, e.Env, e.FirstBad)
}

// Ledger is the tracking issue's record of regressions.
type Ledger struct {
	Entries []Entry `json:"entries"`
}

// Update adds the open regressions of results that the ledger does not hold
// yet, refreshes those it holds (never their range), and closes the open
// entries of the checked series that are no longer open, saying why.
func (l *Ledger) Update(results []Result, now time.Time) {
	open := map[string]Regression{}
	checked := map[Series]Result{}
	for _, r := range results {
		checked[r.Series] = r
		for _, g := range r.Open() {
			e := Entry{Scenario: r.Series.Scenario, Level: r.Series.Level, Metric: r.Series.Metric, Env: r.Series.Env, FirstBad: g.FirstBad}
			open[e.key()] = g
			i := slices.IndexFunc(l.Entries, func(x Entry) bool { return x.key() == e.key() })
			if i < 0 {
				e.LastGood, e.ChangePct, e.Opened, e.Provisional, e.Newest = g.LastGood, g.ChangePct, now, g.Provisional, g.Newest
				l.Entries = append(l.Entries, e)
				continue
			}
			x := &l.Entries[i]
			x.ChangePct, x.Provisional = g.ChangePct, g.Provisional && x.Provisional
			x.Newest = 0
			if x.Provisional {
				x.Newest = g.Newest
			}
			if !x.IsOpen() { // back again after it closed
				x.Closed, x.Why = time.Time{}, ""
			}
		}
	}
	for i := range l.Entries {
		e := &l.Entries[i]
		r, ok := checked[Series{e.Scenario, e.Level, e.Metric, e.Env}]
		if !e.IsOpen() || !ok {
			continue
		}
		if _, still := open[e.key()]; still {
			continue
		}
		e.Closed = now
		switch {
		case r.Accepted != "" && (r.AcceptedAt.After(e.Opened) || r.Accepted == e.FirstBad):
			e.Why = fmt.Sprintf("accepted at %.12s: %s", r.Accepted, r.AcceptReason)
		case recoveredAt(r, e.FirstBad) != "":
			e.Why = fmt.Sprintf("recovered at %.12s", recoveredAt(r, e.FirstBad))
		case e.Provisional:
			e.Why = "not confirmed: the next point was back at the usual level"
		default:
			e.Why = "no longer seen in the series"
		}
	}
	closed := 0
	for i := len(l.Entries) - 1; i >= 0; i-- {
		if !l.Entries[i].IsOpen() {
			if closed++; closed > MaxClosed {
				l.Entries = slices.Delete(l.Entries, i, i+1)
			}
		}
	}
}

// MaxClosed is how many closed entries a ledger keeps (the newest).
const MaxClosed = 50

func recoveredAt(r Result, firstBad string) string {
	for _, g := range r.Regressions {
		if g.FirstBad == firstBad && !g.Open {
			return g.RecoveredAt
		}
	}
	return ""
}

// Open is the entries still open.
func (l Ledger) Open() []Entry {
	var out []Entry
	for _, e := range l.Entries {
		if e.IsOpen() {
			out = append(out, e)
		}
	}
	return out
}

const ledgerTag = "perfgate:ledger:"

// ledgerGzTag marks the compact form: the JSON gzipped, then base64. An
// issue body holds at most 65,536 characters; the plain form of some 70
// regressions filled it.
const ledgerGzTag = "perfgate:ledger-gz:"

var ledgerRE = regexp.MustCompile(`<!-- (` + ledgerTag + `|` + ledgerGzTag + `)([A-Za-z0-9+/=]*) -->`)

// maxLedgerJSON bounds what a record may unpack to.
const maxLedgerJSON = 8 << 20

// Marshal is the ledger as a hidden HTML comment for an issue body, in
// the compact (gzipped) form.
func (l Ledger) Marshal() string {
	b, _ := json.Marshal(l)
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return "<!-- " + ledgerGzTag + base64.StdEncoding.EncodeToString(z.Bytes()) + " -->"
}

// ParseLedger reads the ledger an issue body carries (an empty one when it
// carries none), in either form. The body is untrusted: anyone who can
// edit the issue can change it, so a ledger that does not parse, or names
// a commit that is not a SHA, is an error, never a guess.
func ParseLedger(body string) (Ledger, error) {
	m := ledgerRE.FindStringSubmatch(body)
	if m == nil {
		return Ledger{}, nil
	}
	if len(m[2]) > 1<<20 {
		return Ledger{}, fmt.Errorf("the tracking issue's record is over 1 MiB")
	}
	raw, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		return Ledger{}, fmt.Errorf("the tracking issue's record: %w", err)
	}
	if m[1] == ledgerGzTag {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return Ledger{}, fmt.Errorf("the tracking issue's record: %w", err)
		}
		if raw, err = io.ReadAll(io.LimitReader(zr, maxLedgerJSON+1)); err != nil || len(raw) > maxLedgerJSON {
			return Ledger{}, fmt.Errorf("the tracking issue's record does not unpack to at most %d MiB: %v", maxLedgerJSON>>20, err)
		}
	}
	var l Ledger
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Ledger{}, fmt.Errorf("the tracking issue's record: %w", err)
	}
	for i, e := range l.Entries {
		if err := e.valid(); err != nil {
			return Ledger{}, fmt.Errorf("the tracking issue's record: entry %d: %w", i+1, err)
		}
	}
	return l, nil
}

// shaRE is a commit as the ledger records one: hex, never anything git
// could read as an option or a range (the commits reach git's arguments).
var shaRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// valid checks an entry read from the issue body, which anyone who can
// edit the issue wrote.
func (e Entry) valid() error {
	switch {
	case !shaRE.MatchString(e.FirstBad):
		return fmt.Errorf("first_bad %q is not a commit SHA", e.FirstBad)
	case e.LastGood != "" && !shaRE.MatchString(e.LastGood):
		return fmt.Errorf("last_good %q is not a commit SHA", e.LastGood)
	case e.Culprit != "" && !shaRE.MatchString(e.Culprit):
		return fmt.Errorf("culprit %q is not a commit SHA", e.Culprit)
	case e.Level < 0 || e.Level > 10000 || math.IsNaN(e.ChangePct) || math.IsInf(e.ChangePct, 0):
		return fmt.Errorf("level %d or change %v out of range", e.Level, e.ChangePct)
	case len(e.Scenario) > 200 || len(e.Metric) > 100 || len(e.Env) > 500 || len(e.Why) > 2000 || len(e.Bisect) > 2000:
		return fmt.Errorf("a field is too long")
	}
	return nil
}
