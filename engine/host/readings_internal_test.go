package host

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/poll"
	"github.com/alexarules/alexarules/engine/store"
)

// fixedReadings is a local poller's memory.
type fixedReadings map[string]struct {
	v     any
	since time.Time
}

func (f fixedReadings) Last(ep, attr string) (any, time.Time, bool) {
	r, ok := f[ep+"/"+attr]
	return r.v, r.since, ok
}

// In cluster mode device():last() answers what the polling node stored,
// unless this node's own poller read a newer value.
func TestSharedReadingsTakeTheNewerValue(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	put := func(ep string, v any, since time.Time) {
		b, _ := json.Marshal(map[string]any{"endpoint": ep, "attr": "temperature", "value": v, "since": since})
		if err := st.Put(poll.Bucket, ep+"/temperature", b); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 21.0, t0)
	put("b", 22.0, t0)
	local := fixedReadings{"b/temperature": {23.0, t0.Add(time.Minute)}, "c/temperature": {24.0, t0}}
	r := sharedReadings{local: local, st: st}
	for ep, want := range map[string]any{"a": 21.0, "b": 23.0, "c": 24.0, "d": nil} {
		v, _, ok := r.Last(ep, "temperature")
		if v != want || ok != (want != nil) {
			t.Errorf("Last(%s) = %v, %v; want %v", ep, v, ok, want)
		}
	}
}
