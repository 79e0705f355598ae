package ruletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// householdFrom builds the simulated household from t.household's table:
// endpoints and smarthome devices with their state flattened (power=,
// brightness=, ...), echos, lists (items as strings or {text=, completed=}),
// routines and players (as the simulator takes them).
// Missing ids are made from the names. smart reports smart-home devices,
// which then back device().
func householdFrom(tb *lua.LTable) (hh sim.Household, smart bool, err error) {
	g, err := scripting.FromLua(tb)
	if err != nil {
		return hh, false, err
	}
	m, ok := g.(map[string]any)
	if !ok {
		return hh, false, fmt.Errorf("want a table with endpoints=, echos=, lists=, smarthome=")
	}
	out := map[string]any{}
	for key, v := range m {
		items, ok := v.([]any)
		if !ok {
			if mm, isMap := v.(map[string]any); isMap && len(mm) == 0 {
				continue
			}
			return hh, false, fmt.Errorf("%s: want a list of tables", key)
		}
		var conv []any
		for i, it := range items {
			obj, ok := it.(map[string]any)
			if !ok {
				return hh, false, fmt.Errorf("%s[%d]: want a table", key, i+1)
			}
			c, err := householdEntry(key, obj, m)
			if err != nil {
				return hh, false, fmt.Errorf("%s[%d]: %w", key, i+1, err)
			}
			conv = append(conv, c)
		}
		out[key] = conv
	}
	b, err := json.Marshal(out)
	if err != nil {
		return hh, false, err
	}
	hh, err = sim.LoadHousehold(bytes.NewReader(b))
	if err != nil {
		return hh, false, err
	}
	return hh, len(hh.SmartHome) > 0, hh.Validate()
}

// householdEntry is one entry in the simulator's JSON form.
func householdEntry(key string, obj, all map[string]any) (map[string]any, error) {
	name, _ := obj["name"].(string)
	if key == "players" {
		if echo, _ := obj["echo"].(string); echo == "" {
			return nil, fmt.Errorf("echo is required")
		}
		return obj, nil
	}
	if name == "" {
		return nil, fmt.Errorf("name is required")
	}
	id, _ := obj["id"].(string)
	switch key {
	case "endpoints":
		e := nest(obj, "features", "amzn1.alexa.endpoint.test-", name, "id", "name", "exact")
		if exact, _ := e["exact"].(bool); !exact {
			lightDefaults(e["features"].(map[string]any))
		}
		delete(e, "exact")
		return e, nil
	case "smarthome":
		return nest(obj, "state", "test-", name, "id", "name", "type", "aliases"), nil
	case "echos":
		e := copyMap(obj)
		if id == "" && e["serial"] == nil {
			e["serial"] = "TEST" + strings.ToUpper(slug(name))
		}
		delete(e, "id")
		if e["type"] == nil {
			e["type"] = "A3S5BH2HU6VAYF"
		}
		return e, nil
	case "lists":
		return listEntry(obj, name, id)
	case "groups":
		return groupEntry(obj, name, id, all)
	case "routines":
		return obj, nil
	}
	return nil, fmt.Errorf("unknown household field %q (endpoints, echos, lists, smarthome, groups, routines, players)", key)
}

// lightDefaults gives an endpoint the features of a dimmable colour
// light that its fields leave out, so that a test names only the state it
// cares about (t.household{ endpoints = {{ name = "Lamp", power = "OFF" }} }
// can be dimmed); exact = true keeps only the fields given.
func lightDefaults(f map[string]any) {
	defaults := map[string]any{"power": "OFF", "brightness": 100, "color_temperature": 2700,
		"color": map[string]any{"hue": 0, "saturation": 0, "brightness": 1}}
	for k, v := range defaults {
		if _, ok := f[k]; !ok {
			f[k] = v
		}
	}
}

// nest moves every field but keep into a nested table named inner.
func nest(obj map[string]any, inner, idPrefix, name string, keep ...string) map[string]any {
	e := map[string]any{}
	state := map[string]any{}
	for k, v := range obj {
		if slices.Contains(keep, k) {
			e[k] = v
		} else {
			state[k] = v
		}
	}
	if e["id"] == nil {
		e["id"] = idPrefix + slug(name)
	}
	e[inner] = state
	return e
}

func listEntry(obj map[string]any, name, id string) (map[string]any, error) {
	if id == "" {
		id = "amzn1.alexa.list.test-" + slug(name)
	}
	var items []any
	raw, _ := obj["items"].([]any)
	for i, it := range raw {
		switch v := it.(type) {
		case string:
			items = append(items, map[string]any{"id": fmt.Sprintf("%s-item-%d", id, i+1), "text": v})
		case map[string]any:
			c := copyMap(v)
			if c["id"] == nil {
				c["id"] = fmt.Sprintf("%s-item-%d", id, i+1)
			}
			items = append(items, c)
		default:
			return nil, fmt.Errorf("items[%d]: want a string or {text=, completed=}", i+1)
		}
	}
	return map[string]any{"id": id, "name": name, "items": items}, nil
}

// groupEntry is an Alexa app group of smart-home devices; members are
// their names (or ids).
func groupEntry(obj map[string]any, name, id string, all map[string]any) (map[string]any, error) {
	if id == "" {
		id = "test-group-" + slug(name)
	}
	ids := map[string]string{}
	devices, _ := all["smarthome"].([]any)
	for _, d := range devices {
		if dm, ok := d.(map[string]any); ok {
			n, _ := dm["name"].(string)
			did, _ := dm["id"].(string)
			if did == "" {
				did = "test-" + slug(n)
			}
			ids[strings.ToLower(n)] = did
		}
	}
	raw, _ := obj["members"].([]any)
	members := []any{}
	for i, m := range raw {
		s, ok := m.(string)
		if !ok {
			return nil, fmt.Errorf("members[%d]: want a device name", i+1)
		}
		if did, ok := ids[strings.ToLower(s)]; ok {
			s = did
		}
		members = append(members, s)
	}
	return map[string]any{"id": id, "name": name, "members": members}, nil
}

// slug is the id part rules.IDFromName makes of name, "" when it has no
// letter or digit.
func slug(name string) string {
	id, _ := rules.IDFromName(name)
	return id
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	maps.Copy(out, m)
	return out
}

// device is a device of the household as the test names it.
type device struct {
	id, name string
	smart    bool
	state    map[string]any
}

// findDevice looks up an endpoint or smart-home device by name or id in
// the simulator's current household.
func (h *harness) findDevice(q string) (device, error) {
	hh := h.sim.Household()
	for _, e := range hh.Endpoints {
		if strings.EqualFold(e.Name, q) || e.ID == q {
			return device{id: e.ID, name: e.Name, state: stateMap(e.Features)}, nil
		}
	}
	for _, d := range hh.SmartHome {
		if strings.EqualFold(d.Name, q) || d.ID == q {
			return device{id: d.ID, name: d.Name, smart: true, state: stateMap(d.State)}, nil
		}
	}
	return device{}, fmt.Errorf("no device %q in the household (t.household endpoints= or smarthome=)", q)
}

func stateMap(f sim.Features) map[string]any {
	m, _ := plain(f).(map[string]any)
	return m
}

// findEcho looks up an Echo by name or serial.
func (h *harness) findEcho(q string) (sim.Echo, error) {
	for _, e := range h.sim.Household().Echos {
		if strings.EqualFold(e.Name, q) || e.Serial == q {
			return e, nil
		}
	}
	return sim.Echo{}, fmt.Errorf("no Echo %q in the household (t.household echos=)", q)
}

// findList looks up a list by name or id.
func (h *harness) findList(q string) (sim.List, error) {
	for _, l := range h.sim.Household().Lists {
		if strings.EqualFold(l.Name, q) || l.ID == q {
			return l, nil
		}
	}
	return sim.List{}, fmt.Errorf("no list %q in the household (t.household lists=)", q)
}
