package ruletest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// voiceHearing bounds how much clock time t.voice lets pass for the
// engine to hear an utterance: the push burst's debounce, the history's
// delay and the watcher's retries take seconds.
const voiceHearing = time.Minute

// voice speaks text to an Echo, as POST /_sim/voice does, and moves the
// clock on until the engine has heard it from the voice history (a few
// seconds): t.voice(echo, text [, { reply=, person=, delay= }]).
func (t *tester) voice(L *lua.LState) int {
	name, text := L.CheckString(1), L.CheckString(2)
	opts, err := plainTable(L.Get(3))
	t.check("voice", err)
	h := t.running("voice")
	echo, err := h.findEcho(name)
	t.check("voice", err)
	req := sim.VoiceRequest{Device: echo.Serial, Text: text}
	req.Reply, _ = opts["reply"].(string)
	req.Person, _ = opts["person"].(string)
	if d := L.Get(3); d != lua.LNil {
		if d := L.GetField(d, "delay"); d != lua.LNil {
			delay, err := scripting.ParseDuration(d)
			t.check("voice", err)
			ms := int(delay / time.Millisecond)
			req.DelayMS = &ms
		}
	}
	body, _ := json.Marshal(req)
	var ans sim.VoiceAnswer
	t.check("voice", h.control(http.MethodPost, "/_sim/voice", string(body), &ans))
	t.check("voice", h.hear(ans.Record, fmt.Sprintf("the engine to hear %q said to %s", text, echo.Name)))
	return 0
}

// hear advances the clock one due time at a time until the engine
// published the alexa.voice event of record, within voiceHearing.
func (h *harness) hear(record, what string) error {
	deadline := h.clock.Now().Add(voiceHearing)
	for !h.sawVoice(record) {
		err := h.waitFor(what, func() bool {
			next, ok := h.clock.Next()
			return ok && !next.After(deadline) || h.sawVoice(record)
		})
		if err != nil {
			return fmt.Errorf("%w (within %s of clock time)", err, voiceHearing)
		}
		if next, ok := h.clock.Next(); ok && !h.sawVoice(record) {
			h.clock.Set(next)
		}
		if err := h.settle(); err != nil {
			return err
		}
	}
	return h.settle()
}

// sawVoice reports whether the engine got the alexa.voice event of a
// voice history record.
func (h *harness) sawVoice(record string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if ev.Kind == engine.KindVoice && ev.Data["record"] == record {
			return true
		}
	}
	return false
}
