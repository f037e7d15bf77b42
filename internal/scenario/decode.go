package scenario

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/perfgate/perfgate/internal/fault"
	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a scenario file, at a position in it.
type Problem struct {
	Line, Col int // 1-based; 0 when unknown
	Msg       string
	path      string // the value it is about, for filtering
}

// ValidationError lists every problem found in one file.
type ValidationError struct {
	File     string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Col > 0 {
				fmt.Fprintf(&b, ":%d", p.Col)
			}
		}
		b.WriteString(": ")
		b.WriteString(p.Msg)
	}
	return b.String()
}

func (e *ValidationError) ExitCode() int { return fault.ExitUsage }

type pos struct{ line, col int }

// positions maps a dotted path ("load.levels[2]") to where its value stands.
type positions map[string]pos

// badPaths are the values that could not be decoded; validation problems
// about them, their parts or their parents would only repeat the news.
type badPaths map[string]bool

func (b badPaths) covers(p string) bool {
	for q := range b {
		if p == q || q == "" || isUnder(p, q) || isUnder(q, p) {
			return true
		}
	}
	return false
}

func isUnder(p, parent string) bool {
	return strings.HasPrefix(p, parent+".") || strings.HasPrefix(p, parent+"[")
}

type decoder struct {
	problems []Problem
	pos      positions
	bad      badPaths
	values   int // decoded so far, aliases expanded
}

// MaxValues bounds the values a scenario decodes to, aliases expanded: a
// scenario is a few hundred; a file of aliases to aliases (a "billion
// laughs") would otherwise expand without end.
const MaxValues = 100_000

func (d *decoder) errAt(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.problems = append(d.problems, Problem{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...), path: path})
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner), whose line numbers are off by one.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found undefined tag handle":             true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
}

// parse reads YAML text into the scenario, collecting every problem. A nil
// badPaths means the text could not be read as a scenario at all.
func parse(data []byte) (*Scenario, []Problem, badPaths) {
	s := &Scenario{pos: positions{}}
	if !utf8.Valid(data) {
		line := 1 + strings.Count(string(data[:firstInvalidUTF8(data)]), "\n")
		return s, []Problem{{Line: line, Msg: "the file is not valid UTF-8 text"}}, nil
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		col := i - bytes.LastIndexByte(data[:i], '\n')
		return s, []Problem{{Line: line, Col: col, Msg: "a NUL byte: the file is binary, not YAML text"}}, nil
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&root)
	if err == io.EOF {
		err = nil
	}
	if err == nil {
		var next yaml.Node
		if err2 := dec.Decode(&next); err2 != io.EOF {
			line := next.Line
			if len(next.Content) > 0 {
				line = next.Content[0].Line
			}
			return s, []Problem{{Line: line, Msg: "a second YAML document (after ---): a scenario file holds one scenario; put each in a file of its own"}}, nil
		}
	}
	if err != nil {
		msg := err.Error()
		line, what := 0, strings.TrimPrefix(msg, "yaml: ")
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			what = m[2]
		}
		if yamlParserProblems[what] {
			// yaml.v3 numbers a parser error's line from 0 (its scanner
			// errors from 1) and leaves line 0 out.
			line++
		}
		return s, []Problem{{Line: line, Msg: "YAML syntax: " + what}}, nil
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return s, []Problem{{Line: 1, Msg: "the file is empty; a scenario needs at least a name and a workload"}}, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return s, []Problem{{Line: doc.Line, Col: doc.Column, Msg: "a scenario must be a mapping of keys (name:, engine:, workload:, ...)"}}, nil
	}
	d := &decoder{pos: s.pos, bad: badPaths{}}
	d.decode(doc, reflect.ValueOf(s).Elem(), "")
	return s, d.problems, d.bad
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

var (
	durationType = reflect.TypeOf(Duration(0))
	distType     = reflect.TypeOf(Dist{})
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if d.values++; d.values > MaxValues {
		if d.values == MaxValues+1 {
			d.errAt(n, path, "the scenario expands to over %d values (through YAML aliases, *name): a scenario is a few hundred", MaxValues)
		}
		return
	}
	d.pos[path] = pos{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value keeps the default
	}
	switch {
	case v.Type() == durationType:
		d.decodeDuration(n, v, path)
		return
	case v.Type() == distType && n.Kind == yaml.ScalarNode:
		// shorthand: "input_tokens: 512" is a fixed length
		f, ok := d.number(n, path)
		if ok {
			v.Set(reflect.ValueOf(Dist{Kind: DistFixed, Value: f}))
			d.pos[join(path, "value")] = pos{n.Line, n.Column}
			d.pos[join(path, "dist")] = pos{n.Line, n.Column}
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errAt(n, path, "%s: expected a list, got %s", path, describe(n))
			return
		}
		sl := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, sl.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(sl)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errAt(n, path, "%s: expected a string, got %s", path, describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.errAt(n, path, "%s: expected true or false, got %s", path, describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		f, ok := d.number(n, path)
		if !ok {
			return
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			d.errAt(n, path, "%s: expected a whole number, got %s", path, n.Value)
			return
		}
		v.SetInt(int64(f))
	case reflect.Uint64:
		if n.Kind != yaml.ScalarNode {
			d.errAt(n, path, "%s: expected a whole number ≥ 0, got %s", path, describe(n))
			return
		}
		u, err := strconv.ParseUint(n.Value, 0, 64)
		if err != nil {
			d.errAt(n, path, "%s: expected a whole number ≥ 0, got %s", path, describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Float64:
		if f, ok := d.number(n, path); ok {
			v.SetFloat(f)
		}
	case reflect.Map:
		if v.Type() != anyMapType {
			panic(fmt.Sprintf("scenario: no decoder for %s", v.Type()))
		}
		d.decodeAnyMap(n, v, path)
	default:
		panic(fmt.Sprintf("scenario: no decoder for %s", v.Type()))
	}
}

// anyMapType is a free-form mapping (sampling.extra_body): its values are
// whatever YAML holds, passed on as JSON.
var anyMapType = reflect.TypeOf(map[string]any{})

func (d *decoder) decodeAnyMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "%s: expected a mapping (key: value), got %s", path, describe(n))
		return
	}
	m := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		d.pos[join(path, k.Value)] = pos{k.Line, k.Column}
		var x any
		if err := val.Decode(&x); err != nil {
			d.errAt(val, join(path, k.Value), "%s: %v", join(path, k.Value), err)
			continue
		}
		m[k.Value] = x
	}
	v.Set(reflect.ValueOf(m))
}

func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.errAt(n, path, "%s: expected a number, got %s", path, describe(n))
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		if i, ierr := strconv.ParseInt(n.Value, 0, 64); ierr == nil {
			return float64(i), true
		}
		d.errAt(n, path, "%s: expected a number, got %s", path, describe(n))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.errAt(n, path, "%s: expected a finite number, got %s", path, n.Value)
		return 0, false
	}
	return f, true
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errAt(n, path, "%s: expected a duration such as 30s, 2m or 500ms, got %s", path, describe(n))
		return
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		f, ok := d.number(n, path)
		if ok {
			v.SetInt(int64(f * float64(time.Second)))
		}
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errAt(n, path, "%s: expected a duration such as 30s, 2m or 500ms, got %q", path, n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	what := path
	if what == "" {
		what = "the scenario"
	}
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "%s: expected a mapping of keys, got %s", what, describe(n))
		return
	}
	fields := map[string][]int{}
	var names []string
	var collect func(t reflect.Type, index []int)
	collect = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			at := append(append([]int(nil), index...), i)
			if tag == "" && strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
				collect(f.Type, at) // its keys stand at this level
				continue
			}
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = at
			names = append(names, tag)
		}
	}
	collect(v.Type(), nil)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errAt(k, join(path, k.Value), "%s: keys must be plain names", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errAt(k, join(path, k.Value), "%s: key %q appears twice (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		idx, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("%s: unknown key %q", what, k.Value)
			if s := suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				sort.Strings(names)
				msg += "; known keys: " + strings.Join(names, ", ")
			}
			d.problems = append(d.problems, Problem{Line: k.Line, Col: k.Column, Msg: msg, path: join(path, k.Value)})
			if s := suggest(k.Value, names); s != "" {
				d.bad[join(path, s)] = true
			}
			continue
		}
		d.decode(val, v.FieldByIndex(idx), join(path, k.Value))
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the text %q", n.Value)
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "nothing"
	}
	return n.Value
}

// suggest returns the known name closest to s when it is close enough to be a typo.
func suggest(s string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		dist := levenshtein(strings.ToLower(s), k)
		if dist < bestD {
			best, bestD = k, dist
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit {
		return best
	}
	for _, k := range known { // a prefix or a part: "concurr" → "concurrency"
		if len(s) >= 3 && (strings.HasPrefix(k, s) || strings.Contains(k, s)) {
			return k
		}
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
