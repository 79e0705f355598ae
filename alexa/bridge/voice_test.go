package bridge_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/engine"
)

// historyCalls records the clock time and status of each voice history
// call the bridge's web client makes.
type historyCalls struct {
	clock func() time.Time
	mu    sync.Mutex
	at    []time.Time
	codes []int
}

func (h *historyCalls) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if strings.Contains(req.URL.Path, "history-records-v2") && err == nil {
		h.mu.Lock()
		h.at = append(h.at, h.clock())
		h.codes = append(h.codes, resp.StatusCode)
		h.mu.Unlock()
	}
	return resp, err
}

func (h *historyCalls) snapshot() ([]time.Time, []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.at...), append([]int(nil), h.codes...)
}

func (h *historyCalls) count() int {
	at, _ := h.snapshot()
	return len(at)
}

// startVoiceRig starts a rig whose history calls are recorded; its clock
// is the rig's virtual one.
func startVoiceRig(t *testing.T, o bridge.VoiceOptions) (*rig, *historyCalls) {
	t.Helper()
	clock := engine.NewVirtual(time.Now())
	calls := &historyCalls{clock: clock.Now}
	return startRigOpts(t, rigOptions{voice: o, http: &http.Client{Transport: calls}, clock: clock, simOnClock: true}), calls
}

const kitchen = "G6G0XW0412650C3M"

func (r *rig) say(text string, delayMS int, typ string) string {
	r.t.Helper()
	body := fmt.Sprintf(`{"device":"Kitchen Echo","text":%q,"delay_ms":%d,"type":%q}`, text, delayMS, typ)
	rec, _ := r.post("/_sim/voice", body)["record"].(string)
	return rec
}

func (r *rig) voiceEvents() []engine.Event {
	var out []engine.Event
	for _, ev := range r.snapshot() {
		if ev.Kind == engine.KindVoice {
			out = append(out, ev)
		}
	}
	return out
}

// advanceUntil moves the clock a second at a time until cond holds.
func (r *rig) advanceUntil(what string, cond func() bool) {
	r.t.Helper()
	r.waitFor(what, func() bool {
		if cond() {
			return true
		}
		r.clock.Advance(time.Second)
		return false
	})
}

// startUpPolls are the history reads after a start: at once, then three
// more 4 s apart, for an utterance said just before the start that the
// history shows only seconds later.
const startUpPolls = 4

// startUpPolls moves the clock on until the start-up reads are done.
func (r *rig) startUpPolls(calls *historyCalls) {
	r.t.Helper()
	r.advanceUntil("the start-up polls", func() bool { return calls.count() >= startUpPolls })
}

// An utterance said just before the start, which the history shows 3 s
// later, is found by the start-up reads without a push and without the
// slow timer (a day here).
func TestVoiceSaidJustBeforeTheStartIsHeard(t *testing.T) {
	r, calls := startVoiceRig(t, bridge.VoiceOptions{Poll: 24 * time.Hour})
	rec := r.say("movie time", 3000, "GENERAL")
	r.startUpPolls(calls)
	r.advanceUntil("the alexa.voice event", func() bool { return len(r.voiceEvents()) > 0 })
	if evs := r.voiceEvents(); len(evs) != 1 || evs[0].Data["record"] != rec {
		t.Fatalf("events %+v", evs)
	}
}

// A burst of pushes makes the bridge read the history until the
// utterance shows (its delay is 5 s: the second poll finds it), and it is
// published once, with its text, reply, Echo and lateness; a wake word
// alone is not. Later polls of the slow timer find nothing new.
func TestVoiceBurstPublishesEachUtteranceOnce(t *testing.T) {
	r, calls := startVoiceRig(t, bridge.VoiceOptions{})
	r.startUpPolls(calls)
	r.say("", 0, "WAKE_WORD_ONLY")
	rec := r.say("good night", 5000, "GENERAL")
	r.advanceUntil("the alexa.voice event", func() bool { return len(r.voiceEvents()) > 0 })
	evs := r.voiceEvents()
	if len(evs) != 1 || evs[0].Data["record"] != rec || evs[0].Data["text"] != "good night" ||
		evs[0].Device == nil || evs[0].Device.Name != "Kitchen Echo" || evs[0].Device.ID != kitchen {
		t.Fatalf("events %+v", evs)
	}
	t.Logf("history delay 5 s: event %.3f s after the utterance", evs[0].Data["delay"])
	if d, _ := evs[0].Data["delay"].(float64); d < 5 || d > 12 {
		t.Errorf("delay %v s, want the 5 s the history took and the poll's wait", d)
	}
	if n := calls.count(); n > startUpPolls+3 {
		t.Errorf("%d history calls for one burst, want at most the start-up polls and 3", n-startUpPolls)
	}
	if lc, ok := r.bridge.LastCalled(); !ok || lc.ID != rec || lc.Text != "good night" {
		t.Errorf("LastCalled = %+v, %v", lc, ok)
	}
	before := calls.count()
	r.advanceUntil("two slow-timer polls", func() bool { return calls.count() >= before+2 })
	if evs := r.voiceEvents(); len(evs) != 1 {
		t.Errorf("after more polls: %d events, want 1", len(evs))
	}
}

// Throttled history calls back off 30 s, then 60 s, ...; nothing is lost:
// the utterance is published once the service answers again.
func TestVoiceThrottledBacksOffAndCatchesUp(t *testing.T) {
	r, calls := startVoiceRig(t, bridge.VoiceOptions{Poll: 24 * time.Hour})
	r.startUpPolls(calls)
	r.clock.Advance(time.Minute) // the start-up reads leave the budget's window: only the back-off spaces the calls
	r.put("/_sim/throttle", `{"/alexa-privacy/apd/rvh/customer-history-records-v2":{"per_second":0.00001,"burst":1}}`)
	r.say("first", 0, "GENERAL")
	r.advanceUntil("the first utterance", func() bool { return len(r.voiceEvents()) == 1 })
	rec := r.say("second", 0, "GENERAL")
	r.advanceUntil("three throttled calls", func() bool {
		_, codes := calls.snapshot()
		return len(slices.DeleteFunc(codes, func(c int) bool { return c != http.StatusTooManyRequests })) >= 3
	})
	at, codes := calls.snapshot()
	s := slices.Index(codes, http.StatusTooManyRequests) // the first throttled call
	if s < 0 || len(codes) < s+3 || codes[s+1] != http.StatusTooManyRequests || codes[s+2] != http.StatusTooManyRequests {
		t.Fatalf("statuses %v", codes)
	}
	gap1, gap2 := at[s+1].Sub(at[s]), at[s+2].Sub(at[s+1])
	if gap1 < 30*time.Second || gap1 > 32*time.Second || gap2 < 60*time.Second || gap2 > 62*time.Second {
		t.Errorf("back-off gaps %v, %v; want 30 s then 60 s", gap1, gap2)
	}
	r.put("/_sim/throttle", `{"/alexa-privacy/apd/rvh/customer-history-records-v2":{"per_second":0}}`)
	r.advanceUntil("the second utterance", func() bool { return len(r.voiceEvents()) == 2 })
	if ev := r.voiceEvents()[1]; ev.Data["record"] != rec {
		t.Errorf("second event %+v", ev)
	}
}

// However many bursts come, the history is called at most
// requests_per_minute times in any minute, and every utterance is heard
// (by a burst's read or the slow timer's: how the test's pushes group
// into bursts depends on when they arrive).
func TestVoicePollsStayWithinTheBudget(t *testing.T) {
	r, calls := startVoiceRig(t, bridge.VoiceOptions{Poll: time.Minute, RequestsPerMinute: 2})
	r.startUpPolls(calls)
	var recs []string
	for i := range 4 {
		recs = append(recs, r.say(fmt.Sprintf("utterance %d", i), 10000, "GENERAL"))
		r.clock.Advance(3 * time.Second)
	}
	r.advanceUntil("every utterance", func() bool { return len(r.voiceEvents()) == len(recs) })
	at, _ := calls.snapshot()
	for i := 2; i < len(at); i++ {
		if at[i].Sub(at[i-2]) < time.Minute {
			t.Errorf("calls %d..%d within %v, budget 2 per minute", i-2, i, at[i].Sub(at[i-2]))
		}
	}
}

// More utterances than one history page holds are all read (the pages
// are followed, each within the budget), oldest published first.
func TestVoiceFollowsThePages(t *testing.T) {
	r, calls := startVoiceRig(t, bridge.VoiceOptions{Poll: 24 * time.Hour})
	r.startUpPolls(calls)
	r.put("/_sim/voice/settings", `{"page_size":2}`)
	var recs []string
	for i := range 5 {
		recs = append(recs, r.say(fmt.Sprintf("utterance %d", i), 0, "GENERAL"))
	}
	r.advanceUntil("every utterance", func() bool { return len(r.voiceEvents()) == len(recs) })
	for i, ev := range r.voiceEvents() {
		if ev.Data["record"] != recs[i] {
			t.Errorf("event %d is %v, want %s", i, ev.Data["record"], recs[i])
		}
	}
}
