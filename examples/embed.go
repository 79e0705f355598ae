// Package examples holds the example rules, embedded so that `alexarules
// demo` runs them from anywhere.
package examples

import "embed"

// Files are the example rule files (and their tests).
//
//go:embed *.lua
var Files embed.FS
