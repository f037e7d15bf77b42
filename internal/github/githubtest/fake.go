// Package githubtest is an in-memory stand-in for the parts of the GitHub
// REST API perfgate uses, answering as GitHub does: JSON bodies, Link-header
// pagination, 403 "Resource not accessible by integration" for a read-only
// token, GET /user refused for an installation token, 404 for a missing ref
// and 422 when a ref update is not a fast forward.
package githubtest

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token kinds.
const (
	// InstallationToken is like a workflow's GITHUB_TOKEN: it writes, but
	// GET /user answers 403; it writes as github-actions[bot].
	InstallationToken = "ghs_installation"
	// ReadOnlyToken is a fork pull request's token: reads work, writes 403.
	ReadOnlyToken = "ghs_readonly"
	// UserToken is a personal token of the user "perfgate-bot".
	UserToken = "ghp_user"
)

// Comment is an issue comment.
type Comment struct {
	ID    int64
	Issue int
	User  string
	Body  string
}

// Issue is an issue (not a pull request).
type Issue struct {
	Number int
	User   string
	Title  string
	Body   string
	Labels []string
	State  string
}

// Status is a commit status.
type Status struct {
	SHA, State, Context, Description, TargetURL string
}

// Pull is a pull request.
type Pull struct {
	Number         int
	HeadSHA, Title string
	HeadRef        string
	BaseRef        string // default "main"
	// HeadRepo is the head's repository (default the fake's own, id 1;
	// "-" a deleted fork: null); HeadRepoID its id (default 1 for the
	// fake's own, 2 for any other).
	HeadRepo   string
	HeadRepoID int64
}

type commit struct {
	tree    string
	parents []string
	message string
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	Owner, Repo string
	Private     bool
	// PerPage caps the page size of listings (GitHub's is 100): small pages
	// exercise pagination.
	PerPage int
	// RefRaces makes that many ref updates fail with 422, as when another
	// job pushed first; each one also moves the branch on.
	RefRaces int
	// Git is a local repository standing in for the repository's commits:
	// GET /compare/BASE...HEAD answers from it. Without it every
	// comparison is 404, as for commits GitHub does not have.
	Git string
	// Faults answer matching requests instead of the API, each up to its
	// Times, in order: GitHub's 5xx, 429 and secondary rate limits.
	Faults []*Fault

	mu       sync.Mutex
	Comments []*Comment
	Issues   []*Issue
	Statuses []Status
	Pulls    map[int]*Pull
	Requests []string // "METHOD path" of every request
	nextID   int64
	blobs    map[string][]byte
	trees    map[string]map[string]string // tree sha → path → blob sha
	commits  map[string]commit
	refs     map[string]string // "heads/x" → commit sha
}

// Fault is an answer the fake gives instead of the API.
type Fault struct {
	Method, Path string // the request's method, and a part of its path
	Status       int
	Header       map[string]string
	Message      string
	Times        int // how many requests it answers
	// After: the request is served first, then answered with the fault
	// (a 502 after GitHub did the work).
	After bool
}

func (s *Server) fault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.Faults {
		if f.Times > 0 && (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.Path) {
			f.Times--
			return f
		}
	}
	return nil
}

// New starts a fake for OWNER/REPO.
func New(owner, repo string) *Server {
	s := &Server{Owner: owner, Repo: repo, PerPage: 100, Pulls: map[int]*Pull{}, nextID: 1000,
		blobs: map[string][]byte{}, trees: map[string]map[string]string{}, commits: map[string]commit{}, refs: map[string]string{}}
	mux := http.NewServeMux()
	p := "/repos/" + owner + "/" + repo
	mux.HandleFunc("GET /user", s.user)
	mux.HandleFunc("GET "+p, s.repo)
	mux.HandleFunc("GET "+p+"/pulls/{n}", s.pull)
	mux.HandleFunc("GET "+p+"/compare/{basehead...}", s.compare)
	mux.HandleFunc("GET "+p+"/issues/{n}/comments", s.listComments)
	mux.HandleFunc("POST "+p+"/issues/{n}/comments", s.write(s.createComment))
	mux.HandleFunc("PATCH "+p+"/issues/comments/{id}", s.write(s.editComment))
	mux.HandleFunc("GET "+p+"/issues", s.listIssues)
	mux.HandleFunc("POST "+p+"/issues", s.write(s.createIssue))
	mux.HandleFunc("PATCH "+p+"/issues/{n}", s.write(s.editIssue))
	mux.HandleFunc("POST "+p+"/statuses/{sha}", s.write(s.createStatus))
	mux.HandleFunc("GET "+p+"/git/ref/{ref...}", s.getRef)
	mux.HandleFunc("POST "+p+"/git/refs", s.write(s.createRef))
	mux.HandleFunc("PATCH "+p+"/git/refs/{ref...}", s.write(s.updateRef))
	mux.HandleFunc("POST "+p+"/git/blobs", s.write(s.createBlob))
	mux.HandleFunc("POST "+p+"/git/trees", s.write(s.createTree))
	mux.HandleFunc("POST "+p+"/git/commits", s.write(s.createCommit))
	mux.HandleFunc("GET "+p+"/git/commits/{sha}", s.getCommit)
	mux.HandleFunc("GET "+p+"/git/trees/{sha}", s.getTree)
	mux.HandleFunc("GET "+p+"/git/blobs/{sha}", s.getBlob)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.Requests = append(s.Requests, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		if tokenOf(r) == "" {
			fail(w, http.StatusUnauthorized, "Requires authentication")
			return
		}
		if f := s.fault(r); f != nil {
			if f.After {
				mux.ServeHTTP(httptest.NewRecorder(), r)
			}
			for k, v := range f.Header {
				w.Header().Set(k, v)
			}
			fail(w, f.Status, f.Message)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	return s
}

func tokenOf(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if t, ok := strings.CutPrefix(a, p); ok {
			return t
		}
	}
	return ""
}

// LoginOf is who a token writes as.
func LoginOf(token string) string {
	if token == UserToken {
		return "perfgate-bot"
	}
	return "github-actions[bot]"
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	doc := "https://docs.github.com/rest"
	if strings.Contains(msg, "secondary rate limit") {
		// as GitHub links it, which is how go-github recognises one
		doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	}
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": doc})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// write wraps a handler that writes: a read-only token gets 403, and the
// state is locked.
func (s *Server) write(h func(w http.ResponseWriter, r *http.Request, login string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if tokenOf(r) == ReadOnlyToken {
			fail(w, http.StatusForbidden, "Resource not accessible by integration")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		h(w, r, LoginOf(tokenOf(r)))
	}
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	if tokenOf(r) != UserToken {
		fail(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	reply(w, 200, map[string]any{"login": "perfgate-bot", "id": 7, "type": "User"})
}

func (s *Server) repo(w http.ResponseWriter, r *http.Request) {
	vis := "public"
	if s.Private {
		vis = "private"
	}
	reply(w, 200, map[string]any{"name": s.Repo, "full_name": s.Owner + "/" + s.Repo, "private": s.Private, "visibility": vis})
}

func (s *Server) pull(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("n"))
	s.mu.Lock()
	p, ok := s.Pulls[n]
	s.mu.Unlock()
	if !ok {
		fail(w, 404, "Not Found")
		return
	}
	own := s.Owner + "/" + s.Repo
	var headRepo any
	if name := cmpOr(p.HeadRepo, own); name != "-" {
		id := p.HeadRepoID
		if id == 0 {
			id = 2
			if name == own {
				id = 1
			}
		}
		headRepo = map[string]any{"id": id, "full_name": name}
	}
	reply(w, 200, map[string]any{"number": p.Number, "title": p.Title, "head": map[string]any{"sha": p.HeadSHA, "ref": p.HeadRef, "repo": headRepo},
		"base": map[string]any{"ref": cmpOr(p.BaseRef, "main"), "repo": map[string]any{"id": 1, "full_name": own}}})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// compare answers GET /compare/BASE...HEAD from the local repository in
// Git: status identical, ahead (BASE is an ancestor of HEAD), behind or
// diverged, the counts, and the merge base; 404 for an unknown commit.
func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	base, head, ok := strings.Cut(r.PathValue("basehead"), "...")
	if !ok || s.Git == "" {
		fail(w, 404, "Not Found")
		return
	}
	git := func(args ...string) (string, bool) {
		out, err := exec.Command("git", append([]string{"-C", s.Git}, args...)...).Output()
		return strings.TrimSpace(string(out)), err == nil
	}
	b, okB := git("rev-parse", "--verify", "--quiet", base+"^{commit}")
	h, okH := git("rev-parse", "--verify", "--quiet", head+"^{commit}")
	if !okB || !okH {
		fail(w, 404, "Not Found")
		return
	}
	mb, _ := git("merge-base", b, h)
	counts, _ := git("rev-list", "--left-right", "--count", b+"..."+h)
	var behind, ahead int
	fmt.Sscan(counts, &behind, &ahead)
	status := "diverged"
	switch {
	case behind == 0 && ahead == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case ahead == 0:
		status = "behind"
	}
	reply(w, 200, map[string]any{"status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
		"base_commit": map[string]any{"sha": b}, "merge_base_commit": map[string]any{"sha": mb}, "commits": []any{}, "files": []any{}})
}

// page answers one page of items with GitHub's Link header.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []any) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > s.PerPage {
		per = min(30, s.PerPage)
	}
	pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pg = max(pg, 1)
	lo := min((pg-1)*per, len(items))
	hi := min(lo+per, len(items))
	if hi < len(items) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(pg+1))
		q.Set("per_page", strconv.Itoa(per))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.URL, r.URL.Path, q.Encode()))
	}
	reply(w, 200, items[lo:hi])
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	return map[string]any{"id": c.ID, "body": c.Body, "user": map[string]any{"login": c.User},
		"html_url": fmt.Sprintf("https://github.com/%s/%s/pull/%d#issuecomment-%d", s.Owner, s.Repo, c.Issue, c.ID)}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("n"))
	s.mu.Lock()
	var items []any
	for _, c := range s.Comments {
		if c.Issue == n {
			items = append(items, s.commentJSON(c))
		}
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func body(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }

func (s *Server) createComment(w http.ResponseWriter, r *http.Request, login string) {
	var in struct{ Body string }
	if err := body(r, &in); err != nil || in.Body == "" {
		fail(w, 422, "Validation Failed")
		return
	}
	if len([]rune(in.Body)) > 65536 {
		fail(w, 422, "Validation Failed: body is too long (maximum is 65536 characters)")
		return
	}
	n, _ := strconv.Atoi(r.PathValue("n"))
	s.nextID++
	c := &Comment{ID: s.nextID, Issue: n, User: login, Body: in.Body}
	s.Comments = append(s.Comments, c)
	reply(w, 201, s.commentJSON(c))
}

func (s *Server) editComment(w http.ResponseWriter, r *http.Request, login string) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var in struct{ Body string }
	if err := body(r, &in); err != nil || len([]rune(in.Body)) > 65536 {
		fail(w, 422, "Validation Failed")
		return
	}
	for _, c := range s.Comments {
		if c.ID == id {
			if c.User != login {
				fail(w, 403, "Resource not accessible by integration")
				return
			}
			c.Body = in.Body
			reply(w, 200, s.commentJSON(c))
			return
		}
	}
	fail(w, 404, "Not Found")
}

// AddComment puts a comment by user on issue n (a look-alike, say).
func (s *Server) AddComment(n int, user, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.Comments = append(s.Comments, &Comment{ID: s.nextID, Issue: n, User: user, Body: body})
}

func (s *Server) issueJSON(is *Issue) map[string]any {
	return map[string]any{"number": is.Number, "title": is.Title, "body": is.Body, "state": is.State,
		"user": map[string]any{"login": is.User}, "html_url": fmt.Sprintf("https://github.com/%s/%s/issues/%d", s.Owner, s.Repo, is.Number)}
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	var items []any
	for _, is := range s.Issues {
		if (q.Get("state") == "" || q.Get("state") == "open") && is.State != "open" {
			continue
		}
		if c := q.Get("creator"); c != "" && c != is.User {
			continue
		}
		items = append(items, s.issueJSON(is))
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request, login string) {
	var in struct {
		Title, Body string
		Labels      []string
	}
	if err := body(r, &in); err != nil || in.Title == "" {
		fail(w, 422, "Validation Failed")
		return
	}
	is := &Issue{Number: 100 + len(s.Issues), User: login, Title: in.Title, Body: in.Body, Labels: in.Labels, State: "open"}
	s.Issues = append(s.Issues, is)
	reply(w, 201, s.issueJSON(is))
}

func (s *Server) editIssue(w http.ResponseWriter, r *http.Request, login string) {
	n, _ := strconv.Atoi(r.PathValue("n"))
	var in struct{ Title, Body *string }
	if err := body(r, &in); err != nil {
		fail(w, 422, "Validation Failed")
		return
	}
	for _, is := range s.Issues {
		if is.Number == n {
			if in.Title != nil {
				is.Title = *in.Title
			}
			if in.Body != nil {
				is.Body = *in.Body
			}
			reply(w, 200, s.issueJSON(is))
			return
		}
	}
	fail(w, 404, "Not Found")
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request, login string) {
	var in struct {
		State, Context, Description string
		TargetURL                   string `json:"target_url"`
	}
	if err := body(r, &in); err != nil || !slices.Contains([]string{"error", "failure", "pending", "success"}, in.State) || len(in.Description) > 1024 {
		fail(w, 422, "Validation Failed")
		return
	}
	st := Status{SHA: r.PathValue("sha"), State: in.State, Context: in.Context, Description: in.Description, TargetURL: in.TargetURL}
	s.Statuses = append(s.Statuses, st)
	reply(w, 201, map[string]any{"state": st.State, "context": st.Context, "description": st.Description})
}

func hash(kind string, b []byte) string {
	h := sha1.Sum(append([]byte(kind+"\x00"), b...))
	return hex.EncodeToString(h[:])
}

func (s *Server) refJSON(ref, sha string) map[string]any {
	return map[string]any{"ref": "refs/" + ref, "object": map[string]any{"sha": sha, "type": "commit"}}
}

func (s *Server) getRef(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	s.mu.Lock()
	sha, ok := s.refs[ref]
	s.mu.Unlock()
	if !ok {
		fail(w, 404, "Not Found")
		return
	}
	reply(w, 200, s.refJSON(ref, sha))
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request, login string) {
	var in struct{ Ref, SHA string }
	if err := body(r, &in); err != nil {
		fail(w, 422, "Validation Failed")
		return
	}
	ref, ok := strings.CutPrefix(in.Ref, "refs/")
	if _, exists := s.refs[ref]; !ok || exists {
		fail(w, 422, "Reference already exists")
		return
	}
	if _, ok := s.commits[in.SHA]; !ok {
		fail(w, 422, "Object does not exist")
		return
	}
	s.refs[ref] = in.SHA
	reply(w, 201, s.refJSON(ref, in.SHA))
}

func (s *Server) updateRef(w http.ResponseWriter, r *http.Request, login string) {
	ref := r.PathValue("ref")
	var in struct {
		SHA   string
		Force bool
	}
	if err := body(r, &in); err != nil {
		fail(w, 422, "Validation Failed")
		return
	}
	cur, ok := s.refs[ref]
	if !ok {
		fail(w, 422, "Reference does not exist")
		return
	}
	if s.RefRaces > 0 {
		// Someone else pushed first: the branch moves on, this update is refused.
		s.RefRaces--
		s.refs[ref] = s.commitLocked(s.commits[cur].tree, []string{cur}, "a concurrent push")
		fail(w, 422, "Update is not a fast forward")
		return
	}
	c, ok := s.commits[in.SHA]
	if !ok {
		fail(w, 422, "Object does not exist")
		return
	}
	if !in.Force && !slices.Contains(c.parents, cur) {
		fail(w, 422, "Update is not a fast forward")
		return
	}
	s.refs[ref] = in.SHA
	reply(w, 200, s.refJSON(ref, in.SHA))
}

func (s *Server) createBlob(w http.ResponseWriter, r *http.Request, login string) {
	var in struct{ Content, Encoding string }
	if err := body(r, &in); err != nil {
		fail(w, 422, "Validation Failed")
		return
	}
	data := []byte(in.Content)
	if in.Encoding == "base64" {
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.Content); err != nil {
			fail(w, 422, "Validation Failed: invalid base64")
			return
		}
	}
	sha := hash("blob", data)
	s.blobs[sha] = data
	reply(w, 201, map[string]any{"sha": sha})
}

func (s *Server) createTree(w http.ResponseWriter, r *http.Request, login string) {
	var in struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path, Mode, Type string
			SHA              *string
		}
	}
	if err := body(r, &in); err != nil {
		fail(w, 422, "Validation Failed")
		return
	}
	files := map[string]string{}
	if in.BaseTree != "" {
		base, ok := s.trees[in.BaseTree]
		if !ok {
			fail(w, 422, "Invalid tree info")
			return
		}
		files = maps.Clone(base)
	}
	for _, e := range in.Tree {
		if e.SHA == nil {
			delete(files, e.Path)
			continue
		}
		if _, ok := s.blobs[*e.SHA]; !ok || e.Type != "blob" {
			fail(w, 422, "Invalid tree info")
			return
		}
		files[e.Path] = *e.SHA
	}
	keys := slices.Sorted(maps.Keys(files))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + files[k] + "\n")
	}
	sha := hash("tree", []byte(b.String()))
	s.trees[sha] = files
	reply(w, 201, map[string]any{"sha": sha})
}

func (s *Server) commitLocked(tree string, parents []string, msg string) string {
	sha := hash("commit", []byte(fmt.Sprint(tree, parents, msg, time.Now().UnixNano(), len(s.commits))))
	s.commits[sha] = commit{tree: tree, parents: parents, message: msg}
	return sha
}

func (s *Server) createCommit(w http.ResponseWriter, r *http.Request, login string) {
	var in struct {
		Message, Tree string
		Parents       []string
	}
	if err := body(r, &in); err != nil {
		fail(w, 422, "Validation Failed")
		return
	}
	if _, ok := s.trees[in.Tree]; !ok {
		fail(w, 422, "Tree does not exist")
		return
	}
	for _, p := range in.Parents {
		if _, ok := s.commits[p]; !ok {
			fail(w, 422, "Parent does not exist")
			return
		}
	}
	sha := s.commitLocked(in.Tree, in.Parents, in.Message)
	reply(w, 201, map[string]any{"sha": sha, "tree": map[string]any{"sha": in.Tree}, "message": in.Message})
}

func (s *Server) getCommit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.commits[r.PathValue("sha")]
	s.mu.Unlock()
	if !ok {
		fail(w, 404, "Not Found")
		return
	}
	var ps []any
	for _, p := range c.parents {
		ps = append(ps, map[string]any{"sha": p})
	}
	reply(w, 200, map[string]any{"sha": r.PathValue("sha"), "tree": map[string]any{"sha": c.tree}, "parents": ps, "message": c.message})
}

func (s *Server) getTree(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	files, ok := s.trees[r.PathValue("sha")]
	s.mu.Unlock()
	if !ok {
		fail(w, 404, "Not Found")
		return
	}
	// Flat trees: every file is listed (as recursive=1 would).
	var es []any
	for _, p := range slices.Sorted(maps.Keys(files)) {
		es = append(es, map[string]any{"path": p, "mode": "100644", "type": "blob", "sha": files[p]})
	}
	reply(w, 200, map[string]any{"sha": r.PathValue("sha"), "tree": es, "truncated": false})
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.blobs[r.PathValue("sha")]
	s.mu.Unlock()
	if !ok {
		fail(w, 404, "Not Found")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "raw") {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
		return
	}
	reply(w, 200, map[string]any{"sha": r.PathValue("sha"), "encoding": "base64", "content": base64.StdEncoding.EncodeToString(b), "size": len(b)})
}

// Branch is the files at the tip of branch (nil when it does not exist)
// and the tip's parents.
func (s *Server) Branch(branch string) (files map[string][]byte, tip string, parents []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tip, ok := s.refs["heads/"+branch]
	if !ok {
		return nil, "", nil
	}
	c := s.commits[tip]
	files = map[string][]byte{}
	for p, b := range s.trees[c.tree] {
		files[p] = s.blobs[b]
	}
	return files, tip, c.parents
}

// Snapshot copies the comments, issues and statuses.
func (s *Server) Snapshot() (cs []Comment, is []Issue, st []Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.Comments {
		cs = append(cs, *c)
	}
	for _, i := range s.Issues {
		is = append(is, *i)
	}
	return cs, is, slices.Clone(s.Statuses)
}

// ActionVars are the GITHUB_* variables a workflow step gives perfgate
// action against this fake: the event and its payload file, the outputs
// and job summary files, run 77 on main.
func (s *Server) ActionVars(event, eventPath, outputs, summary string) map[string]string {
	return map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": eventPath, "GITHUB_REPOSITORY": s.Owner + "/" + s.Repo,
		"GITHUB_RUN_ID": "77", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": s.URL,
		"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "GITHUB_REF_NAME": "main",
	}
}
