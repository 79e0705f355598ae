package scripting

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Limits is the budget of one rule run (docs/RULES.md, "Sandbox"). A zero
// field takes its default (DefaultLimits); the budget is per run, so a
// hostile rule costs at most this much however often it runs.
type Limits struct {
	// LogLines and LogBytes bound the log lines (ctx.log.*, print) a run
	// keeps in its trace and writes to the process log; the rest are
	// counted, not built.
	LogLines int
	LogBytes int
	// Actions bounds the actions recorded in one run's trace; the actions
	// themselves still happen (the run deadline bounds them).
	Actions int
	// ErrorBytes is where a run's error message is cut.
	ErrorBytes int
	// StateBytes bounds the JSON of ctx.state, of the ctx.global keys a run
	// changes (together), of one timer's arguments and of one emitted
	// event's data. A run that goes past it fails and commits nothing.
	StateBytes int
	// HeapGrowth is how far the process heap may grow while a run is in
	// progress before the run is stopped; HeapCeiling is the process heap
	// at which every run in progress is stopped (HeapGuard).
	HeapGrowth  int64
	HeapCeiling int64
	// MemoryLimit is the Go runtime's soft memory limit
	// (debug.SetMemoryLimit) that NewHeapGuard sets when neither GOMEMLIMIT
	// nor the program has set one: near it the runtime collects and returns
	// memory to the OS sooner, so that the garbage of stopped runs and the
	// spans of their large strings do not keep the RSS up.
	MemoryLimit int64
}

// DefaultLimits returns the limits of a zero Limits value.
func DefaultLimits() Limits {
	return Limits{
		LogLines:    200,
		LogBytes:    64 << 10,
		Actions:     200,
		ErrorBytes:  4 << 10,
		StateBytes:  1 << 20,
		HeapGrowth:  64 << 20,
		HeapCeiling: 384 << 20,
		MemoryLimit: 512 << 20,
	}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	pick64 := func(v, def int64) int64 {
		if v > 0 {
			return v
		}
		return def
	}
	return Limits{
		LogLines:    pick(l.LogLines, d.LogLines),
		LogBytes:    pick(l.LogBytes, d.LogBytes),
		Actions:     pick(l.Actions, d.Actions),
		ErrorBytes:  pick(l.ErrorBytes, d.ErrorBytes),
		StateBytes:  pick(l.StateBytes, d.StateBytes),
		HeapGrowth:  pick64(l.HeapGrowth, d.HeapGrowth),
		HeapCeiling: pick64(l.HeapCeiling, d.HeapCeiling),
		MemoryLimit: pick64(l.MemoryLimit, d.MemoryLimit),
	}
}

// RunLog keeps one run's log lines within LogLines and LogBytes and counts
// the lines past them. Callers ask Full first and then skip formatting a
// line that would be dropped, so a loop of a million log calls costs a
// counter, not a million strings. The zero value keeps nothing; use
// NewRunLog.
type RunLog struct {
	maxLines, maxBytes int
	lines              []string
	bytes              int
	dropped            int
}

// NewRunLog returns an empty log with the limits' log budget.
func NewRunLog(l Limits) *RunLog {
	l = l.WithDefaults()
	return &RunLog{maxLines: l.LogLines, maxBytes: l.LogBytes}
}

// Reset empties the log for the next run. The kept lines belong to the
// trace that took them, so the array is not reused.
func (g *RunLog) Reset() { g.lines, g.bytes, g.dropped = nil, 0, 0 }

// Full reports that the next line would be dropped.
func (g *RunLog) Full() bool {
	return len(g.lines) >= g.maxLines || g.bytes >= g.maxBytes
}

// Drop counts a line that was not built because the log is full.
func (g *RunLog) Drop() { g.dropped++ }

// Add keeps line, cut to what is left of the byte budget, and reports
// whether it kept it (or part of it).
func (g *RunLog) Add(line string) (string, bool) {
	if g.Full() {
		g.dropped++
		return "", false
	}
	if left := g.maxBytes - g.bytes; len(line) > left {
		line = Truncate(line, left)
	}
	g.lines = append(g.lines, line)
	g.bytes += len(line)
	return line, true
}

// Dropped is how many lines were dropped.
func (g *RunLog) Dropped() int { return g.dropped }

// Lines returns the kept lines and, when lines were dropped, a last line
// that says how many.
func (g *RunLog) Lines() []string {
	if g.dropped == 0 {
		return g.lines
	}
	return append(g.lines, fmt.Sprintf("... %s more log lines dropped (budget %d lines, %d bytes per run)",
		groupThousands(g.dropped), g.maxLines, g.maxBytes))
}

// Truncate cuts s to at most n bytes plus a note of how much was cut,
// at a UTF-8 boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%s bytes cut)", groupThousands(len(s)-cut))
}

// groupThousands formats n as 1,234,567.
func groupThousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
