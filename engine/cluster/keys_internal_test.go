package cluster

import (
	"regexp"
	"testing"
)

// Escaped names are single KV key tokens and come back unchanged.
func TestEscapeRoundTrips(t *testing.T) {
	token := regexp.MustCompile(`^[-/_=a-zA-Z0-9]+$`)
	for _, s := range []string{"", "r", "hotel-a/lamp", "Room 101 Lamp", "a.b.c", "timer:r/bye@1x", "=3D", "ünï", "a=", "x=Z1"} {
		e := escape(s)
		if !token.MatchString(e) {
			t.Errorf("escape(%q) = %q: not one key token", s, e)
		}
		if got := unescape(e); got != s {
			t.Errorf("unescape(escape(%q)) = %q", s, got)
		}
	}
}
