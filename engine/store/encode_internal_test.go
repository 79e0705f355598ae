package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
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
		in := new(inboxEntry)
		if err := encodeInbox(ev, true, in); err != nil {
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

// tricky are strings encoding/json escapes in every way it does.
var tricky = []string{"", "plain", `quote " back \ slash`, "<a href='x'>&amp;</a>", "ctl \x00\x01\b\f\n\r\t\x1f\x7f",
	"utf-8 é 日本 🙂", "bad \xff\xfe utf-8 \xc3", "sep \u2028 \u2029", "\u00e9\u0301"}

// floats covers encoding/json's switch to exponents and its cleanup.
var floats = []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 123456789, 1e20, 1e21, 1.7976931348623157e308, 5e-324, -2.5e-300}

// randomValue builds plain data, nested up to depth, with values of
// other types that go through encoding/json.
func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(12); {
	case n == 0:
		return nil
	case n == 1:
		return tricky[r.IntN(len(tricky))]
	case n == 2:
		return floats[r.IntN(len(floats))]
	case n == 3:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	case n == 4:
		return r.IntN(2) == 0
	case n == 5:
		return r.IntN(1000) - 500
	case n == 6:
		return []string{"x", "<y>"} // not plain data: encoding/json
	case n == 7:
		return json.RawMessage(`{"raw":[1,2]}`)
	case n == 8 && depth > 0:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomValue(r, depth-1)
		}
		return l
	case n >= 9 && depth > 0:
		m := map[string]any{}
		for range r.IntN(5) {
			m[tricky[r.IntN(len(tricky))]+strconv.Itoa(r.IntN(3))] = randomValue(r, depth-1)
		}
		return m
	}
	return int64(r.IntN(1 << 40))
}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return ""
	}
	return tricky[r.IntN(len(tricky))]
}

func randomTime(r *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("p", 5*3600+30*60), time.FixedZone("m", -7*3600)}
	return time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))])
}

func randomEvent(r *rand.Rand) engine.Event {
	ev := engine.Event{ID: randomString(r), Kind: randomString(r), Time: randomTime(r), Name: randomString(r),
		Target: randomString(r), TriggerIndex: r.IntN(3)}
	if r.IntN(2) == 0 {
		ev.Device = &engine.Device{Name: randomString(r), ID: randomString(r)}
	}
	if m, ok := randomValue(r, 3).(map[string]any); ok {
		ev.Data = m
	}
	if r.IntN(2) == 0 {
		ev.Cause = engine.Cause{Rule: randomString(r), Depth: r.IntN(2)}
	}
	return ev
}

func randomTrace(r *rand.Rand) engine.Trace {
	t := engine.Trace{ID: randomString(r), Rule: randomString(r), Handler: randomString(r), EventID: randomString(r),
		Trigger: randomString(r), Started: randomTime(r), DurationMS: floats[r.IntN(len(floats))], Outcome: randomString(r),
		Error: randomString(r), Reason: randomString(r), Late: r.IntN(2) == 0}
	if r.IntN(4) > 0 {
		t.Actions = []engine.Action{}
		for range r.IntN(3) {
			t.Actions = append(t.Actions, engine.Action{Call: randomString(r), Device: randomString(r),
				Args: randomValue(r, 2), Result: randomValue(r, 1), Sent: randomValue(r, 1), Note: randomString(r),
				Rule: randomString(r), EventID: randomString(r)})
		}
	}
	if r.IntN(4) > 0 {
		t.Log = []string{}
		for range r.IntN(3) {
			t.Log = append(t.Log, randomString(r))
		}
	}
	return t
}

// The hand-written encodings are byte for byte encoding/json's, so the
// existing decoder reads them back exactly, and they fail where it does.
func TestEncodingsAreEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 5))
	for i := range 3000 {
		ev := randomEvent(r)
		got, err := marshalEvent(&ev)
		want, wantErr := json.Marshal(ev)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Fatalf("event %d: got\n%s (%v)\nwant\n%s (%v)", i, got, err, want, wantErr)
		}
		tr := randomTrace(r)
		got, err = marshalTrace(&tr)
		want, wantErr = json.Marshal(tr)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Fatalf("trace %d: got\n%s (%v)\nwant\n%s (%v)", i, got, err, want, wantErr)
		}
		var back engine.Trace
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("trace %d does not decode: %v", i, err)
		}
	}
}

func TestEncodingsFailWhereEncodingJSONDoes(t *testing.T) {
	bad := []engine.Trace{
		{ID: "nan", Actions: []engine.Action{{Call: "c", Args: map[string]any{"v": math.NaN()}}}},
		{ID: "inf", DurationMS: math.Inf(1)},
		{ID: "func", Actions: []engine.Action{{Call: "c", Result: func() {}}}},
		{ID: "year", Started: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tr := range bad {
		if _, err := json.Marshal(tr); err == nil {
			t.Fatalf("%s: encoding/json accepts it", tr.ID)
		}
		if b, err := marshalTrace(&tr); err == nil {
			t.Errorf("%s: encoded as %s, want an error", tr.ID, b)
		}
	}
	ev := engine.Event{ID: "e", Data: map[string]any{"v": math.Inf(-1)}}
	if b, err := marshalEvent(&ev); err == nil {
		t.Errorf("event with -Inf encoded as %s, want an error", b)
	}
}

func BenchmarkEncode(b *testing.B) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	ev := engine.Event{ID: "di76jsvhqm80-3", Kind: engine.KindCustom, Time: at, Name: "bench",
		Data: map[string]any{"seq": 1234.0, "sent_ns": float64(at.UnixNano())}}
	tr := engine.Trace{ID: "di76jsvhqm80-4", Rule: "bench", EventID: ev.ID, Trigger: "event:bench", Started: at,
		DurationMS: 0.12, Outcome: engine.OutcomeOK, Log: []string{},
		Actions: []engine.Action{{Call: "remind", Device: "Bench Echo", Result: "ok", Rule: "bench", EventID: ev.ID,
			Args: map[string]any{"text": `{"seq":1234,"level":34}`, "in": "1h"}}}}
	for _, c := range []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{"event/encoding-json", func() ([]byte, error) { return json.Marshal(ev) }},
		{"event/appender", func() ([]byte, error) { return marshalEvent(&ev) }},
		{"trace/encoding-json", func() ([]byte, error) { return json.Marshal(tr) }},
		{"trace/appender", func() ([]byte, error) { return marshalTrace(&tr) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A trace's key is its rule's prefix, then its time key, in one
// allocation: the layout store.go describes, sorted by time within a rule.
func TestTraceKeyIsTheRulePrefixThenTheTimeKey(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	for _, c := range []struct {
		rule, id string
		at       time.Time
	}{{"r", "run-1", at}, {"", "x", at}, {"a long rule name", "", time.Unix(-5, 0)}, {"日本", "ü", time.Time{}}} {
		want := append(rulePrefix(c.rule), timeKey(c.at, c.id)...)
		got := traceKey(c.rule, c.at, c.id)
		if !bytes.Equal(got, want) {
			t.Errorf("traceKey(%q, %v, %q) = %x, want %x", c.rule, c.at, c.id, got, want)
		}
		var kept []byte
		if n := testing.AllocsPerRun(10, func() { kept = traceKey(c.rule, c.at, c.id) }); n != 1 || len(kept) != len(want) {
			t.Errorf("traceKey made %v allocations, want 1", n)
		}
	}
	if bytes.Compare(traceKey("r", at, "b"), traceKey("r", at.Add(1), "a")) >= 0 {
		t.Error("an earlier trace's key does not sort first")
	}
}
