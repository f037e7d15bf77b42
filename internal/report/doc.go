// Package report turns run folders into tables (markdown, CSV, JSON), charts
// (SVG and PNG) and one self-contained HTML page. Several runs are overlaid
// on the same axes, the groundwork for baseline-against-candidate plots.
package report
