// Package github is perfgate's side of GitHub: the event payload, the REST
// calls the action makes (sticky comment, assets branch, commit status,
// tracking issue), the markdown it posts, and the results folder that the
// fork-safe benchmark/report split hands from one job to the other.
package github
