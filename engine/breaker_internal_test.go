package engine

import (
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode"
)

// A run that acts on a target the breaker knows costs no allocation: its
// key is made on the stack and the entry updated in place. Echoes still
// find the latest action.
func TestBreakerObserveKnownTarget(t *testing.T) {
	b := newBreaker(BreakerConfig{}, NewVirtual(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)), slog.New(slog.DiscardHandler))
	rb := b.forRule("r")
	acts := []Action{{Call: "remind", Device: "Bench Echo"}}
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	rb.observe(acts, at)
	if n := testing.AllocsPerRun(100, func() { rb.observe(acts, at) }); n != 0 {
		t.Fatalf("observe of a known target: %v allocations; want 0", n)
	}
	later := at.Add(time.Second)
	b.forRule("other").observe([]Action{{Call: "on", Device: "bench-echo"}}, later)
	got, ok := b.echoOf(&Event{Device: &Device{Name: "BENCH ECHO"}}, later)
	if !ok || got.rule != "other" || got.target != "bench-echo" || !got.at.Equal(later) {
		t.Fatalf("echoOf = %+v, %t; want other's action on bench-echo at %v", got, ok, later)
	}
}

// appendTargetKey makes the key strings.Map made before, for any input.
func TestTargetKey(t *testing.T) {
	old := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || unicode.IsSpace(r) {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	for _, s := range []string{"", "Bench Echo", "To-do", "to_do list", "ÄRGER\u00a0Ö", "bad\xffutf8", "İstanbul", strings.Repeat("Long Name ", 20)} {
		if got, want := targetKey(s), old(s); got != want {
			t.Errorf("targetKey(%q) = %q; want %q", s, got, want)
		}
	}
}
