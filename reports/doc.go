// Package reports owns the results file format that bench writes on each
// machine (Results, versioned by SchemaVersion) and turns the results of many
// machines into one report: Build merges them and prices them into a Report,
// and Write renders it as Markdown, self-contained HTML, CSV and charts.
//
// The report reproduces the batch chart of the AWS study it follows: the cost
// of encoding a million source frames through the whole ABR ladder on each
// instance type, relative to x264 ultrafast on the reference instance type
// (c6i.4xlarge by default), and how many live streams each instance type
// sustains.
package reports
