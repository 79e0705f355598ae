package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// writeAccepted answers exactly what writeJSON does for {"id": id}.
func TestWriteAcceptedMatchesWriteJSON(t *testing.T) {
	var ids engine.IDs
	for _, id := range []string{
		ids.Next(time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)), "", "p1:0000-a_b.c",
		`<script>&"quote"\`, "é", "tab\there", strings.Repeat("0123456789", 20),
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, http.StatusAccepted, map[string]string{"id": id})
		writeAccepted(got, id)
		if got.Code != want.Code || got.Body.String() != want.Body.String() ||
			got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("id %q: %d %q %q; want %d %q %q", id, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
}

// The 202 of an ordinary id costs no encoder, map or reflection.
func TestWriteAcceptedAllocations(t *testing.T) {
	var ids engine.IDs
	id := ids.Next(time.Now())
	w := httptest.NewRecorder()
	w.Header().Set("Content-Type", "")
	if n := testing.AllocsPerRun(100, func() {
		w.Body.Reset()
		writeAccepted(w, id)
	}); n > 1 {
		t.Fatalf("%v allocations per answer; want at most 1 (the header value)", n)
	}
}
