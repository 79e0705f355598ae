package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// An event's journal entry is exactly what encoding its record gives,
// whether it is shared with the inbox's encoding or encoded on its own.
func TestJournalEntryIsTheEventsRecord(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.FixedZone("x", 3600))
	for _, ev := range []engine.Event{
		{ID: "a", Kind: engine.KindCustom, Time: at, Name: "bench", Data: map[string]any{"seq": 7.0, "s": "<&>\u2028"}},
		{ID: "b", Kind: engine.KindReading, Time: at, Device: &engine.Device{Name: "Kitchen", ID: "k1"},
			Data: map[string]any{"value": 21.5, "list": []any{"x", nil, true}}},
		{ID: "c", Kind: engine.KindCustom, Time: at, Cause: engine.Cause{Rule: "r", Depth: 1}},
		{ID: "d", Kind: engine.KindSchedule, Time: at, Target: "r", TriggerIndex: 2},
		{ID: "e", Kind: engine.KindCustom, Time: at, Target: "r"},
	} {
		in, err := encodeInbox(ev, true)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(ev.Record())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in.journal, want) {
			t.Errorf("event %s: journal entry\n%s\nwant\n%s", ev.ID, in.journal, want)
		}
		if shared := &in.journal[0] == &in.value[0]; shared != recordShaped(ev) {
			t.Errorf("event %s: shared the inbox encoding = %v, want %v", ev.ID, shared, recordShaped(ev))
		}
	}
}
