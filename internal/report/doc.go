// Package report turns run folders into tables (markdown, csvReport, jsonReport), charts
// (SVG and PNG) and one self-contained htmlReport page. Several runs are overlaid
// on the same axes, the groundwork for baseline-against-candidate plots.
package report
