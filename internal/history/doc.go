// Package history keeps results over commits — a directory of JSON Lines
// files or a git branch — and finds where a metric stepped: the newest point
// against a prediction interval of recent history, and change points over
// the whole series by E-divisive means.
package history
