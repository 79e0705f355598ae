// Package examples holds the example rules, embedded so that `alexarules
// demo` runs them from anywhere.
package examples

import "embed"

// Files are the example rule files (and their tests); household/ holds
// those of the household smart-home devices (`alexarules demo --household`).
//
//go:embed *.lua household/*.lua
var Files embed.FS
