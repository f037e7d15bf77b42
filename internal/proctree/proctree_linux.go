//go:build linux

package proctree

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one line of /proc/PID/stat, the fields a tree needs.
type proc struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks since boot
}

// readProc reads /proc/PID/stat (ok false when the process is gone).
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	p := proc{pid: pid, state: f[0][0]}
	p.ppid, _ = strconv.Atoi(f[1])
	p.pgid, _ = strconv.Atoi(f[2])
	p.start, _ = strconv.ParseUint(f[19], 10, 64) // field 22: fields after ")" start at field 3
	return p, true
}

// startTime is a process's start time, 0 when it does not exist.
func startTime(pid int) uint64 {
	p, ok := readProc(pid)
	if !ok {
		return 0
	}
	return p.start
}

// scan reads every process of the system.
func scan() []proc {
	ents, _ := os.ReadDir("/proc")
	out := make([]proc, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// treeOf is the processes of a tree in the table ps: the first process
// (when its start time matches), its process group (members that started
// no earlier than it, also once it has exited), the processes known by pid
// and start time, and every descendant of those by parent.
func treeOf(ps []proc, pid int, start uint64, known map[int]uint64) []proc {
	byPID := map[int]proc{}
	children := map[int][]proc{}
	for _, p := range ps {
		byPID[p.pid] = p
		children[p.ppid] = append(children[p.ppid], p)
	}
	in := map[int]bool{}
	var queue []proc
	add := func(p proc) {
		if !in[p.pid] {
			in[p.pid] = true
			queue = append(queue, p)
		}
	}
	if p, ok := byPID[pid]; ok && (start == 0 || p.start == start) {
		add(p)
	}
	// The group is the tree's while its first process is the one started,
	// or gone: Linux does not give a pid to a new process while a process
	// group of that id exists, so a live process of another start time
	// under that pid means the group is another's.
	_, present := byPID[pid]
	leaderGone := !present
	for _, p := range ps {
		if p.pgid == pid && p.pid != pid && (start == 0 || p.start >= start) && (in[pid] || leaderGone) {
			add(p)
		}
		if s, ok := known[p.pid]; ok && s == p.start {
			add(p)
		}
	}
	for i := 0; i < len(queue); i++ {
		for _, c := range children[queue[i].pid] {
			add(c)
		}
	}
	return queue
}

// members is the tree's processes now (pids), noting them as seen; the
// first process is left out (the group signal reaches it).
func (t *Tree) members() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for _, p := range treeOf(scan(), t.pid, t.start, t.seen) {
		if p.state == 'Z' {
			continue
		}
		t.seen[p.pid] = p.start
		if p.pid != t.pid {
			out = append(out, p.pid)
		}
	}
	return out
}

// Alive says whether a process of the tree is left. A zombie is not (it
// holds nothing), though Stop gives zombies a moment to be reaped: one whose
// parent is perfgate (perfgate as PID 1 in a container, where orphans come
// to it) is reaped here, the first process excepted (its exec.Cmd waits for
// it).
func (t *Tree) Alive() bool {
	live, _ := t.state()
	return live
}

// state says whether a process of the tree is running, and whether one is
// a zombie not yet reaped.
func (t *Tree) state() (live, zombies bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	self := os.Getpid()
	ps := scan()
	for _, p := range treeOf(ps, t.pid, t.start, t.seen) {
		if p.state != 'Z' {
			live = true
			continue
		}
		if p.ppid == self && p.pid != t.pid {
			var ws syscall.WaitStatus
			if n, _ := syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil); n == p.pid {
				continue
			}
		}
		zombies = true
	}
	// The group: a member may have started after the table was read.
	for _, p := range ps {
		if p.pgid == t.pid && (t.start == 0 || p.start >= t.start) {
			if p.state == 'Z' {
				zombies = true
			} else {
				live = true
			}
		}
	}
	return live, zombies
}

// recordDir is where the records live ("" when there is no cache dir).
var recordDir = func() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "perfgate", "engines")
}

// record is what a tree's file says: whose it is, and what it holds.
type record struct {
	Kind          string      `json:"kind,omitempty"`
	Perfgate      int         `json:"perfgate"` // the perfgate process that started it
	PerfgateStart uint64      `json:"perfgate_start"`
	Engine        int         `json:"engine"` // the first process, its process group's id
	EngineStart   uint64      `json:"engine_start"`
	Descendants   [][2]uint64 `json:"descendants,omitempty"` // pid, start time
}

// watchEvery is how often the watcher notes a tree's descendants.
var watchEvery = 500 * time.Millisecond

// begin writes the tree's record and starts its watcher.
func (t *Tree) begin() {
	if dir := recordDir(); dir != "" && os.MkdirAll(dir, 0o700) == nil {
		t.rec = filepath.Join(dir, strconv.Itoa(t.pid)+".json")
	}
	t.members()
	t.write()
	go func() {
		defer close(t.done)
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-t.quit:
				return
			case <-tick.C:
				t.members()
				t.mu.Lock()
				grew := len(t.seen) != n
				n = len(t.seen)
				t.mu.Unlock()
				if grew {
					t.write()
				}
			}
		}
	}()
}

// write replaces the record (written beside it, then renamed).
func (t *Tree) write() {
	if t.rec == "" {
		return
	}
	self := os.Getpid()
	r := record{Kind: t.kind, Perfgate: self, PerfgateStart: startTime(self), Engine: t.pid, EngineStart: t.start}
	t.mu.Lock()
	for pid, s := range t.seen {
		if pid != t.pid {
			r.Descendants = append(r.Descendants, [2]uint64{uint64(pid), s})
		}
	}
	t.mu.Unlock()
	slices.SortFunc(r.Descendants, func(a, b [2]uint64) int { return int(a[0]) - int(b[0]) })
	b, _ := json.Marshal(r)
	tmp := t.rec + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, t.rec)
	}
}

func (t *Tree) forget() {
	if t.rec != "" {
		os.Remove(t.rec)
	}
}

// SweepOrphans stops the trees that a perfgate killed outright left
// running — the first process's group, what its record says it held, and
// their descendants, each only while its start time is the one recorded —
// and removes records of trees that are gone.
func SweepOrphans() []Orphan {
	dir := recordDir()
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []Orphan
	for _, f := range files {
		b, err := os.ReadFile(f)
		var r record
		if err != nil || json.Unmarshal(b, &r) != nil || r.Engine <= 1 {
			os.Remove(f)
			continue
		}
		if r.PerfgateStart != 0 && startTime(r.Perfgate) == r.PerfgateStart {
			continue // its perfgate is alive: the tree is its business
		}
		known := map[int]uint64{}
		for _, d := range r.Descendants {
			known[int(d[0])] = d[1]
		}
		if r.EngineStart == 0 {
			r.EngineStart = ^uint64(0) // an unreadable start: match nothing by group or pid
		}
		ps := treeOf(scan(), r.Engine, r.EngineStart, known)
		killed := false
		for _, p := range ps {
			if p.state != 'Z' && syscall.Kill(p.pid, syscall.SIGKILL) == nil {
				killed = true
			}
		}
		if killed {
			out = append(out, Orphan{Kind: cmpOr(r.Kind, "engine"), PID: r.Engine})
		}
		os.Remove(f)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Describe is an orphan in words.
func (o Orphan) String() string { return fmt.Sprintf("%s (process %d)", o.Kind, o.PID) }
