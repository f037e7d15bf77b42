package github

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// PublishOptions say where a report goes.
type PublishOptions struct {
	AssetsBranch  string // "" pushes no plots
	Comment       bool
	StatusContext string // "" sets no status
	State         string // the status state (the caller maps the verdict through fail-on)
	ServerURL     string // GITHUB_SERVER_URL
	// Warn reports what was skipped (a read-only token, say); the job
	// summary still has everything.
	Warn func(string)
}

// Published is what publishing did.
type Published struct {
	CommentURL   string
	AssetsCommit string
	Status       bool
	Degraded     bool // something was not written for want of permission
}

// Publish sets the commit status first — the check must never stay
// pending, whatever happens to the rest — then pushes the plots to the
// assets branch, links them into rep, and edits (or creates) the sticky
// comment. A token that may not write degrades each step to a warning; any
// other failure of the plots is a note in the report, of the comment or
// status an error (the other steps still run).
func Publish(ctx context.Context, c *Client, rep *Report, files []LocalFile, o PublishOptions) (Published, error) {
	var out Published
	warn := func(s string) {
		if o.Warn != nil {
			o.Warn(s)
		}
	}
	var failed []error
	if o.StatusContext != "" && rep.HeadSHA != "" {
		err := c.SetStatus(ctx, rep.HeadSHA, o.State, o.StatusContext, rep.Headline(), rep.RunURL)
		switch {
		case errors.Is(err, ErrNoPermission):
			out.Degraded = true
			warn("no commit status: " + err.Error())
		case err != nil:
			failed = append(failed, fmt.Errorf("the commit status: %w", err))
		default:
			out.Status = true
		}
	}
	if o.AssetsBranch != "" && len(files) > 0 {
		sha, prefix, err := pushPlots(ctx, c, rep, files, o.AssetsBranch)
		switch {
		case errors.Is(err, ErrNoPermission):
			out.Degraded = true
			warn("the plots were not pushed to " + o.AssetsBranch + ": " + err.Error() + "; they are in the job summary's artifact")
		case err != nil:
			rep.Notes = append(rep.Notes, "the plots could not be pushed ("+err.Error()+"); the chart below and the artifact have the results")
		default:
			out.AssetsCommit = sha
			private, perr := c.Private(ctx)
			if perr != nil {
				private = true // the /raw/ form works for both
			}
			linkPlots(c, rep, files, o.ServerURL, private, sha, prefix)
		}
	}
	if o.Comment && rep.PR > 0 {
		u, _, err := c.UpsertComment(ctx, rep.PR, Marker(rep.Set), rep.Comment(rep.RunURL))
		switch {
		case errors.Is(err, ErrNoPermission):
			out.Degraded = true
			warn("no comment on #" + fmt.Sprint(rep.PR) + ": " + err.Error() + " (a pull request from a fork gets a read-only token: use the benchmark/report split, docs/action.md)")
		case err != nil:
			out.Degraded = true
			err = fmt.Errorf("the comment on #%d: %w", rep.PR, err)
			failed = append(failed, err)
			warn(err.Error() + "; the job summary has the results")
		default:
			out.CommentURL = u
		}
	}
	return out, errors.Join(failed...)
}

// assetFolders gives each scenario of a report its folder on the assets
// branch: its safe name, made unique when two names reduce alike.
func assetFolders(rep *Report) map[string]string {
	out, used := map[string]string{}, map[string]bool{}
	for _, s := range rep.Scenarios {
		base := SafeName(s.Name)
		name := base
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		used[name], out[s.Name] = true, name
	}
	return out
}

// assetPrefix is where a report's plots live on the assets branch.
func assetPrefix(rep *Report) string {
	if rep.PR > 0 {
		return fmt.Sprintf("pr-%d/%s", rep.PR, rep.HeadSHA)
	}
	return "commit/" + rep.HeadSHA
}

func pushPlots(ctx context.Context, c *Client, rep *Report, files []LocalFile, branch string) (sha, prefix string, err error) {
	prefix = assetPrefix(rep)
	folders := assetFolders(rep)
	var fs []File
	for _, f := range files {
		b := f.Data
		if b == nil {
			var err error
			if b, err = os.ReadFile(f.Path); err != nil {
				return "", "", err
			}
		}
		fs = append(fs, File{Path: path.Join(prefix, folders[f.Scenario], f.Name), Data: b})
	}
	msg := fmt.Sprintf("perfgate plots for %s", strings.ReplaceAll(prefix, "/", " "))
	sha, err = c.PushFiles(ctx, branch, msg, fs)
	return sha, prefix, err
}

// linkPlots gives each scenario of rep its charts: the SVG (or, in a private
// repository, the PNG, which renders there) linking to the SVG.
func linkPlots(c *Client, rep *Report, files []LocalFile, serverURL string, private bool, sha, prefix string) {
	have := map[string]bool{}
	for _, f := range files {
		have[f.Scenario+"/"+f.Name] = true
	}
	folders := assetFolders(rep)
	for i, s := range rep.Scenarios {
		var names []string
		for _, f := range files {
			if f.Scenario == s.Name && strings.HasSuffix(f.Name, ".svg") {
				names = append(names, strings.TrimSuffix(f.Name, ".svg"))
			}
		}
		slices.Sort(names)
		for _, n := range names {
			at := func(ext string) string {
				return c.AssetURL(serverURL, private, sha, path.Join(prefix, folders[s.Name], n+ext))
			}
			p := Plot{Name: n, Img: at(".svg"), Link: at(".svg")}
			if private && have[s.Name+"/"+n+".png"] {
				p.Img = at(".png")
			}
			rep.Scenarios[i].Plots = append(rep.Scenarios[i].Plots, p)
		}
	}
}
