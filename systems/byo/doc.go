// Package byo reads system files: a system the lab does not know, described
// as data by the team that runs it (how to get the node's files, the node's
// command, when it is ready, what its logs say, and the client adapter the
// lab starts for each client). A system file is strict like a scenario:
// an unknown field, a missing command or a template that names an unknown
// variable is bad input, reported with the file, line and field, before
// anything starts.
//
// This package only reads and checks the file; the plugin that runs such
// a system builds on the result.
package byo
