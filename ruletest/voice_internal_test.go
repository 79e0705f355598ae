package ruletest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
)

// voiceEvents are the alexa.voice events the harness saw, by record.
func (h *harness) voiceEvents() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := map[string]int{}
	for _, ev := range h.events {
		if ev.Kind == engine.KindVoice {
			rec, _ := ev.Data["record"].(string)
			n[rec]++
		}
	}
	return n
}

// An utterance reaches the engine through the push burst and the voice
// history on the virtual clock, exactly once: neither a restart nor the
// slow timer's later polls publish it again, and one spoken while the
// engine was down fires once after the restart, with its lateness.
func TestVoiceIsHeardExactlyOnceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	h := newHarness(Options{}, t.TempDir(), nil, t.TempDir()+"/data.db", time.UTC)
	h.hh = sim.Household{Echos: []sim.Echo{{Serial: "G0KITCHEN", Type: "A3S5BH2HU6VAYF", Name: "Kitchen"}}}
	defer h.close()
	if err := h.start(ctx); err != nil {
		t.Fatal(err)
	}
	say := func(text string, delay int) string {
		t.Helper()
		var ans sim.VoiceAnswer
		body := fmt.Sprintf(`{"device":"Kitchen","text":%q,"delay_ms":%d}`, text, delay)
		if err := h.control("POST", "/_sim/voice", body, &ans); err != nil {
			t.Fatal(err)
		}
		return ans.Record
	}
	first := say("good night", 5000) // found by the burst's second poll
	if err := h.hear(first, "good night"); err != nil {
		t.Fatal(err)
	}
	if err := h.stopEngine(); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	down := say("turn on the porch light", 0) // while the engine is down
	h.clock.Advance(time.Minute)
	if err := h.start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.waitFor("the catch-up poll", func() bool { return h.sawVoice(down) }); err != nil {
		t.Fatal(err)
	}
	if err := h.advance(h.clock.Now().Add(48 * time.Hour)); err != nil { // slow-timer polls
		t.Fatal(err)
	}
	got := h.voiceEvents()
	if got[first] != 1 || got[down] != 1 || len(got) != 2 {
		t.Errorf("voice events by record: %v, want one each of %s and %s", got, first, down)
	}
	for _, ev := range h.events {
		if ev.Kind == engine.KindVoice && ev.Data["record"] == down {
			if d, _ := ev.Data["delay"].(float64); d < 60 {
				t.Errorf("the catch-up event's delay = %v s, want the minute it waited", d)
			}
			if ev.Data["text"] != "turn on the porch light" || ev.Device == nil || ev.Device.Name != "Kitchen" {
				t.Errorf("event %+v", ev)
			}
		}
	}
}
