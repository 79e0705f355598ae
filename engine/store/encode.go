package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/internal/jsonenc"
)

// The writer's two hot encodings, an accepted event and a run's trace,
// are appended by hand: byte for byte what encoding/json writes for them
// (the tests compare the two), without its reflection. Plain data (the
// kinds engine.Event.Data holds) is appended directly; any other value
// goes through encoding/json.

// marshalEvent is json.Marshal(ev).
func marshalEvent(ev *engine.Event) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = jsonenc.AppendString(append(b, `{"id":`...), ev.ID)
	b = jsonenc.AppendString(append(b, `,"kind":`...), ev.Kind)
	b, err := appendTime(append(b, `,"time":`...), ev.Time)
	if err != nil {
		return nil, err
	}
	if d := ev.Device; d != nil {
		b = append(b, `,"device":{`...)
		sep := ""
		if d.Name != "" {
			b = jsonenc.AppendString(append(b, `"name":`...), d.Name)
			sep = ","
		}
		if d.ID != "" {
			b = jsonenc.AppendString(append(append(b, sep...), `"id":`...), d.ID)
		}
		b = append(b, '}')
	}
	b = appendOptString(b, `,"name":`, ev.Name)
	if len(ev.Data) > 0 {
		if b, err = appendMap(append(b, `,"data":`...), ev.Data); err != nil {
			return nil, err
		}
	}
	if c := ev.Cause; c != (engine.Cause{}) {
		b = append(b, `,"cause":{`...)
		sep := ""
		if c.Rule != "" {
			b = jsonenc.AppendString(append(b, `"rule":`...), c.Rule)
			sep = ","
		}
		if c.Depth != 0 {
			b = strconv.AppendInt(append(append(b, sep...), `"depth":`...), int64(c.Depth), 10)
		}
		b = append(b, '}')
	}
	b = appendOptString(b, `,"target":`, ev.Target)
	if ev.TriggerIndex != 0 {
		b = strconv.AppendInt(append(b, `,"trigger_index":`...), int64(ev.TriggerIndex), 10)
	}
	return append(b, '}'), nil
}

// marshalTrace is json.Marshal(t).
func marshalTrace(t *engine.Trace) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = jsonenc.AppendString(append(b, `{"id":`...), t.ID)
	b = jsonenc.AppendString(append(b, `,"rule":`...), t.Rule)
	b = appendOptString(b, `,"handler":`, t.Handler)
	b = appendOptString(b, `,"event_id":`, t.EventID)
	b = appendOptString(b, `,"trigger":`, t.Trigger)
	b, err := appendTime(append(b, `,"started":`...), t.Started)
	if err != nil {
		return nil, err
	}
	if b, err = jsonenc.AppendFloat(append(b, `,"duration_ms":`...), t.DurationMS); err != nil {
		return nil, err
	}
	b = jsonenc.AppendString(append(b, `,"outcome":`...), t.Outcome)
	b = appendOptString(b, `,"error":`, t.Error)
	b = appendOptString(b, `,"reason":`, t.Reason)
	if t.Late {
		b = append(b, `,"late":true`...)
	}
	b = append(b, `,"actions":`...)
	if t.Actions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range t.Actions {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendAction(b, &t.Actions[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"log":`...)
	if t.Log == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, line := range t.Log {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, line)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendAction(b []byte, a *engine.Action) ([]byte, error) {
	b = jsonenc.AppendString(append(b, `{"call":`...), a.Call)
	b = appendOptString(b, `,"device":`, a.Device)
	var err error
	for _, f := range [...]struct {
		key string
		v   any
	}{{`,"args":`, a.Args}, {`,"result":`, a.Result}, {`,"sent":`, a.Sent}} {
		if f.v != nil {
			if b, err = appendValue(append(b, f.key...), f.v); err != nil {
				return nil, err
			}
		}
	}
	b = appendOptString(b, `,"note":`, a.Note)
	b = appendOptString(b, `,"rule":`, a.Rule)
	b = appendOptString(b, `,"event_id":`, a.EventID)
	return append(b, '}'), nil
}

// appendOptString appends key and s unless s is empty (omitempty).
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return jsonenc.AppendString(append(b, key...), s)
}

// appendTime is time.Time's MarshalJSON.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b, err := t.AppendText(append(b, '"'))
	if err != nil {
		return nil, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	return append(b, '"'), nil
}

// appendValue appends plain data (nil, strings, float64, bool, ints,
// []any, map[string]any) itself and anything else with encoding/json.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonenc.AppendString(b, x), nil
	case float64:
		return jsonenc.AppendFloat(b, x)
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case map[string]any:
		return appendMap(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// appendMap appends m with its keys sorted, as encoding/json does.
func appendMap(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonenc.AppendString(b, k), ':')
		if b, err = appendValue(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}
