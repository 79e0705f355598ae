package ruletest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/poll"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// alarm sets an alarm on an Echo, as the Alexa app would: the engine
// learns of it through the push and its notifications fetch.
func (t *tester) alarm(L *lua.LState) int {
	opts, err := plainTable(L.CheckTable(1))
	t.check("alarm", err)
	h := t.running("alarm")
	name, _ := opts["device"].(string)
	echo, err := h.findEcho(name)
	t.check("alarm", err)
	at, err := t.alarmTime(opts["at"])
	t.check("alarm", err)
	label, _ := opts["label"].(string)
	loc := time.UTC // the engine reads the alarms of an Echo without a time zone in UTC
	if echo.Timezone != "" {
		if l, err := time.LoadLocation(echo.Timezone); err == nil {
			loc = l
		}
	}
	local := at.In(loc)
	id := fmt.Sprintf("test-alarm-%d", h.clock.Now().UnixNano())
	if s, ok := opts["id"].(string); ok {
		id = s
	}
	body, _ := json.Marshal(map[string]any{"id": id, "type": "Alarm", "status": "ON", "version": "1",
		"deviceSerialNumber": echo.Serial, "deviceType": echo.Type, "alarmLabel": label,
		"originalDate": local.Format("2006-01-02"), "originalTime": local.Format("15:04:05.000")})
	t.check("alarm", h.control(http.MethodPost, "/_sim/notifications", string(body), nil))
	// The push makes the engine fetch the notifications a moment of clock
	// time later (its debounce): wait until that fetch is armed.
	t.check("alarm", h.waitFor("the engine to hear of the alarm", func() bool {
		next, ok := h.clock.Next()
		return ok && !next.After(h.clock.Now().Add(notificationsDebounce))
	}))
	t.check("alarm", h.settle())
	return 0
}

// notificationsDebounce bounds how long after a notification push the
// engine fetches the notifications (web.Debouncer's window).
const notificationsDebounce = 2 * time.Second

// alarmTime reads at: "HH:MM" (the next occurrence), "YYYY-MM-DD HH:MM"
// or epoch seconds.
func (t *tester) alarmTime(v any) (time.Time, error) {
	h := t.h
	switch at := v.(type) {
	case float64:
		return scripting.TimeFromLua(lua.LNumber(at)), nil
	case string:
		if tm, err := time.ParseInLocation(clockLayout, at, h.loc); err == nil {
			return tm, nil
		}
		tod, err := scripting.ParseClock(at)
		if err != nil {
			return time.Time{}, fmt.Errorf("at %q: want \"HH:MM\", \"YYYY-MM-DD HH:MM\" or epoch seconds", at)
		}
		return scripting.NextClock(h.clock.Now(), h.loc, tod), nil
	}
	return time.Time{}, fmt.Errorf("at is required: \"HH:MM\", \"YYYY-MM-DD HH:MM\" or epoch seconds")
}

// listAdd adds an item to a list as if spoken to an Echo.
func (t *tester) listAdd(L *lua.LState) int {
	name, text := L.CheckString(1), L.CheckString(2)
	h := t.running("list_add")
	l, err := h.findList(name)
	t.check("list_add", err)
	body, _ := json.Marshal(map[string]string{"text": text})
	var added struct {
		Item struct {
			ID string `json:"id"`
		} `json:"item"`
	}
	t.check("list_add", h.control(http.MethodPost, "/_sim/lists/"+url.PathEscape(l.ID)+"/items", string(body), &added))
	// The engine hears of the item through the push, then fetches it.
	t.check("list_add", h.waitFor(fmt.Sprintf("the engine to see %q added to %s", text, l.Name), func() bool {
		return h.sawListItem(added.Item.ID)
	}))
	t.check("list_add", h.settle())
	return 0
}

// push sends one raw push, as POST /_sim/push.
func (t *tester) push(L *lua.LState) int {
	body, err := plainTable(L.CheckTable(1))
	t.check("push", err)
	h := t.running("push")
	b, err := json.Marshal(body)
	t.check("push", err)
	t.check("push", h.control(http.MethodPost, "/_sim/push", string(b), nil))
	t.check("push", h.settle())
	return 0
}

// reading changes a reading of a device in the household and hands the
// change to the engine as the poller would (connectivity: a
// reachability change).
func (t *tester) reading(L *lua.LState) int {
	name, attr := L.CheckString(1), L.CheckString(2)
	value := t.luaValue("reading", L.CheckAny(3))
	h := t.running("reading")
	d, err := h.findDevice(name)
	t.check("reading", err)
	route := "/_sim/endpoints/"
	if d.smart {
		route = "/_sim/smarthome/"
	}
	body, _ := json.Marshal(map[string]any{attr: value})
	t.check("reading", h.control(http.MethodPatch, route+url.PathEscape(d.id), string(body), nil))
	key := d.id + "/" + attr
	previous, known := h.readings[key]
	if !known {
		previous, known = d.state[attr]
	}
	h.readings[key] = value
	if !known || !equalValues(previous, value) {
		h.eng.Publish(readingEvent(d, attr, value, previous, known, h.clock.Now()))
	}
	t.check("reading", h.settle())
	return 0
}

// sawListItem reports whether the engine got an event about the list
// item id.
func (h *harness) sawListItem(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if item, ok := ev.Data["item"].(map[string]any); ev.Kind == engine.KindList && ok && item["id"] == id {
			return true
		}
	}
	return false
}

// readingEvent is the event the poller publishes for a changed value.
func readingEvent(d device, attr string, value, previous any, known bool, now time.Time) engine.Event {
	dev := engine.Device{Name: d.name, ID: d.id}
	if attr == poll.AttrConnectivity {
		s, _ := value.(string)
		return poll.ReachabilityEvent(dev, s, previous, known, now)
	}
	return poll.ReadingEvent(dev, attr, value, previous, known, now)
}

// operations maps device() methods to the API operations they call, so
// t.expect_call takes either name.
var operations = map[string]string{
	"on": "turnOn", "off": "turnOff", "set_brightness": "setBrightness", "adjust_brightness": "adjustBrightness",
	"set_color": "setColor", "set_color_temperature": "setColorTemperature",
	"warmer": "decreaseColorTemperature", "cooler": "increaseColorTemperature",
	"set_volume": "setVolume", "adjust_volume": "adjustVolume", "unpair_bluetooth": "unpair",
}

// callMatches reports whether a is op (any, when "") on dev; an action
// on several Echos at once (alexa.echoes) names them all, "Kitchen Echo,
// Office Echo", and is on each of them.
func callMatches(a engine.Action, dev, op string) bool {
	on := strings.EqualFold(a.Device, dev)
	for name := range strings.SplitSeq(a.Device, ", ") {
		on = on || strings.EqualFold(name, dev)
	}
	return on && (op == "" || a.Call == op || operations[a.Call] == op)
}
