// Package plot draws perfgate's charts with gonum.org/v1/plot and writes
// them as SVG (through a canvas of its own that GitHub's image sanitizer
// accepts) and PNG.
package plot
