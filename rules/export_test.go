package rules

// WriteRules is writeRules for the black-box tests.
var WriteRules = writeRules

// SparesReady reports how many blank states l's rule set has built ahead
// of need and not yet given out (benchmarks wait for them).
func SparesReady(l *Loaded) int { return l.opts.spares.ready() }
