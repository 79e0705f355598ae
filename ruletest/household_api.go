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
	loc := h.loc
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
	t.check("alarm", h.settle())
	return 0
}

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
	t.check("list_add", h.control(http.MethodPost, "/_sim/lists/"+url.PathEscape(l.ID)+"/items", string(body), nil))
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

// readingEvent is the event the poller publishes for a changed value.
func readingEvent(d device, attr string, value, previous any, known bool, now time.Time) engine.Event {
	dev := &engine.Device{Name: d.name, ID: d.id}
	if attr == poll.AttrConnectivity {
		s, _ := value.(string)
		data := map[string]any{"reachable": s == poll.ConnectivityOK, "connectivity": s, "since": epoch(now)}
		if known {
			data["previous"] = previous
		}
		return engine.Event{Kind: engine.KindReachability, Time: now, Device: dev, Data: data}
	}
	data := map[string]any{"attr": attr, "value": value, "since": epoch(now)}
	if known {
		data["previous"] = previous
	}
	return engine.Event{Kind: engine.KindReading, Time: now, Device: dev, Data: data}
}

// operations maps device() methods to the API operations they call, so
// t.expect_call takes either name.
var operations = map[string]string{
	"on": "turnOn", "off": "turnOff", "set_brightness": "setBrightness", "adjust_brightness": "adjustBrightness",
	"set_color": "setColor", "set_color_temperature": "setColorTemperature",
	"warmer": "decreaseColorTemperature", "cooler": "increaseColorTemperature",
	"set_volume": "setVolume", "adjust_volume": "adjustVolume", "unpair_bluetooth": "unpair",
}

func callMatches(a engine.Action, dev, op string) bool {
	if !strings.EqualFold(a.Device, dev) {
		return false
	}
	return op == "" || a.Call == op || operations[a.Call] == op
}
