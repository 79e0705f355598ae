package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// listStore is mapStore with List, which New reads the snapshots from.
type listStore struct{ *mapStore }

func (s listStore) List(bucket, prefix string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.kv {
		if rest, ok := strings.CutPrefix(k, bucket+"\x00"); ok && strings.HasPrefix(rest, prefix) {
			out[rest] = v
		}
	}
	return out, nil
}

// apply does what the engine does when it accepts ev: it writes ev's
// records.
func (s listStore) apply(t *testing.T, ev engine.Event) {
	t.Helper()
	for _, w := range ev.Writes {
		if err := s.Put(w.Bucket, w.Key, w.Value); err != nil {
			t.Fatal(err)
		}
	}
}

// newListBridge starts a bridge on st, as after a restart, and returns it
// with the events it publishes.
func newListBridge(t *testing.T, st listStore) (*Bridge, *[]engine.Event) {
	t.Helper()
	hosts, err := alexa.HostsFor("DE", "http://127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie})
	if err != nil {
		t.Fatal(err)
	}
	var events []engine.Event
	b, err := New(Options{Web: wc, Clock: engine.NewVirtual(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)), Store: st,
		Publish: func(ev engine.Event) { events = append(events, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	return b, &events
}

func listOps(evs []engine.Event) []string {
	var ops []string
	for _, ev := range evs {
		ops = append(ops, ev.Data["op"].(string)+" "+ev.Data["item"].(map[string]any)["text"].(string))
	}
	return ops
}

// A crash after some of a sync's list events were accepted and before the
// rest were: the stored snapshot holds exactly the accepted changes, so
// the sync after the restart publishes the others, once.
func TestAListSnapshotIsStoredWithTheEventsItsChangesMade(t *testing.T) {
	st := listStore{&mapStore{kv: map[string][]byte{}}}
	l := web.List{ID: "L1", Name: "Shopping"}
	milk, eggs := web.Item{ID: "i1", Text: "milk", Version: 1}, web.Item{ID: "i2", Text: "eggs", Version: 1}
	b, evs := newListBridge(t, st)
	b.diffList(l, []web.Item{milk, eggs}, nil) // first sight: the baseline, stored at once
	if len(*evs) != 0 {
		t.Fatalf("baseline published %v", listOps(*evs))
	}
	checked := web.Item{ID: "i1", Text: "milk", Completed: true, Version: 2}
	bread := web.Item{ID: "i3", Text: "bread", Version: 1}
	after := []web.Item{checked, bread}
	b.diffList(l, after, nil)
	want := []string{"checked milk", "added bread", "removed eggs"}
	if got := listOps(*evs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
	first := (*evs)[0]
	// Nothing was accepted yet: a restart publishes all three again.
	b2, evs2 := newListBridge(t, st)
	b2.diffList(l, after, nil)
	if got := listOps(*evs2); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after a crash before any acceptance: %v, want %v", got, want)
	}
	// The first was accepted (its records written), then the crash.
	st.apply(t, first)
	b3, evs3 := newListBridge(t, st)
	b3.diffList(l, after, nil)
	if got := listOps(*evs3); strings.Join(got, ",") != strings.Join(want[1:], ",") {
		t.Fatalf("after a crash after the first acceptance: %v, want %v", got, want[1:])
	}
	// All were accepted: nothing is news after a restart.
	for _, ev := range *evs3 {
		st.apply(t, ev)
	}
	b4, evs4 := newListBridge(t, st)
	b4.diffList(l, after, nil)
	if len(*evs4) != 0 {
		t.Fatalf("after every acceptance: %v", listOps(*evs4))
	}
}
