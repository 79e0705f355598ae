package scripting_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/scripting"
)

type mode string

type payload struct {
	Name  string `json:"name"`
	Level int    `json:"level"`
}

func TestToLuaFromLuaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any // FromLua(ToLua(in))
	}{
		{"nil", nil, nil},
		{"bool", true, true},
		{"string", "hi", "hi"},
		{"int", 42, 42.0},
		{"int64", int64(-7), -7.0},
		{"uint8", uint8(200), 200.0},
		{"float", 1.5, 1.5},
		{"json.Number", json.Number("12.25"), 12.25},
		{"named string", mode("restart"), "restart"},
		{"time", time.Date(2026, 3, 2, 7, 0, 0, 500e6, time.UTC), 1772434800.5},
		{"duration", 90 * time.Second, 90.0},
		{"[]any", []any{1, "a", true}, []any{1.0, "a", true}},
		{"[]string", []string{"a", "b"}, []any{"a", "b"}},
		{"[]int", []int{3, 4}, []any{3.0, 4.0}},
		{"map[string]string", map[string]string{"a": "b"}, map[string]any{"a": "b"}},
		{"map[string]float64", map[string]float64{"x": 1}, map[string]any{"x": 1.0}},
		{"nested", map[string]any{
			"device": map[string]any{"name": "Bedroom Echo", "id": "G0911"},
			"items":  []any{map[string]any{"text": "milk", "completed": false}},
		}, map[string]any{
			"device": map[string]any{"name": "Bedroom Echo", "id": "G0911"},
			"items":  []any{map[string]any{"text": "milk", "completed": false}},
		}},
		{"empty map", map[string]any{}, map[string]any{}},
		{"empty slice", []any{}, map[string]any{}}, // an empty table has no shape; maps win
		{"json.RawMessage", json.RawMessage(`{"a":[1,{"b":null}],"c":"d"}`), map[string]any{"a": []any{1.0, map[string]any{}}, "c": "d"}},
		{"struct via json", payload{Name: "lamp", Level: 3}, map[string]any{"name": "lamp", "level": 3.0}},
		{"pointer", &payload{Name: "p"}, map[string]any{"name": "p", "level": 0.0}},
		{"nil pointer", (*payload)(nil), nil},
		{"function becomes nil", func() {}, nil},
		{"bad raw json becomes nil", json.RawMessage(`{`), nil},
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scripting.FromLua(scripting.ToLua(L, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFromLua(t *testing.T) {
	tests := []struct {
		name    string
		src     string // a Lua expression
		want    any
		wantErr string
	}{
		{"array", `{1, 2, "x"}`, []any{1.0, 2.0, "x"}, ""},
		{"holes make a map", `{[1] = "a", [3] = "c"}`, map[string]any{"1": "a", "3": "c"}, ""},
		{"mixed keys make a map", `{1, 2, x = 3}`, map[string]any{"1": 1.0, "2": 2.0, "x": 3.0}, ""},
		{"float keys", `{[1.5] = true}`, map[string]any{"1.5": true}, ""},
		{"zero key", `{[0] = "z"}`, map[string]any{"0": "z"}, ""},
		{"nested", `{ a = { b = { 1, { c = "d" } } } }`, map[string]any{"a": map[string]any{"b": []any{1.0, map[string]any{"c": "d"}}}}, ""},
		{"metatable ignored", `setmetatable({}, { __index = { x = 1 } })`, map[string]any{}, ""},
		{"shared table is not a cycle", `(function() local s = {1} return { a = s, b = s } end)()`, map[string]any{"a": []any{1.0}, "b": []any{1.0}}, ""},
		{"function", `{ run = print }`, nil, "value.run: function is not plain data"},
		{"function in array", `{ 1, print }`, nil, "value[2]: function is not plain data"},
		{"table key", `{ [{}] = 1 }`, nil, "table key is not plain data"},
		{"bool key", `{ [true] = 1 }`, nil, "boolean key is not plain data"},
		{"nan", `{ x = 0/0 }`, nil, "value.x: NaN is not plain data"},
		{"inf", `{ 1/0 }`, nil, "+Inf is not plain data"},
		{"cycle", `(function() local t = {} t.self = t return t end)()`, nil, "value.self: table contains itself"},
		{"deep cycle", `(function() local a, b = {}, {} a.b = b b.list = { a } return a end)()`, nil, "table contains itself"},
		{"depth limit", `(function() local t = {} local cur = t for i = 1, 40 do cur.n = {} cur = cur.n end return t end)()`, nil, "nested deeper than 32"},
		{"depth at limit", `(function() local t = {} local cur = t for i = 1, 31 do cur.n = {} cur = cur.n end return 1 end)()`, 1.0, ""},
		{"size limit", `(function() local t = {} for i = 1, 70000 do t[i] = i end return t end)()`, nil, "more than 65536 values"},
		{"condition userdata", `time.between("22:00", "06:00")`, nil, "userdata is not plain data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := newState(t, nil)
			v, err := run(t, L, "conv", "return "+tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := scripting.FromLua(v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "not plain data") && !errors.Is(err, scripting.ErrNotPlain) {
					t.Errorf("error %v does not wrap ErrNotPlain", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestToLuaDepthLimitCutsCycles(t *testing.T) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	m := map[string]any{}
	m["self"] = m
	v := scripting.ToLua(L, m)
	depth := 0
	for cur := v; cur != lua.LNil; cur = cur.(*lua.LTable).RawGetString("self") {
		depth++
	}
	if depth != scripting.MaxDepth {
		t.Errorf("cyclic map became %d nested tables, want %d", depth, scripting.MaxDepth)
	}
}

func TestTimeToFromLua(t *testing.T) {
	tm := time.Date(2026, 3, 2, 6, 59, 1, 250e6, time.UTC)
	n := scripting.TimeToLua(tm)
	if float64(n) != float64(tm.UnixMilli())/1000 {
		t.Errorf("TimeToLua = %v", n)
	}
	if back := scripting.TimeFromLua(n); !back.Equal(tm) {
		t.Errorf("TimeFromLua = %v, want %v", back, tm)
	}
	if back := scripting.TimeFromLua(lua.LNumber(math.Floor(float64(n)))); !back.Equal(tm.Truncate(time.Second)) {
		t.Errorf("whole seconds: %v", back)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      lua.LValue
		want    time.Duration
		wantErr string
	}{
		{lua.LString("300ms"), 300 * time.Millisecond, ""},
		{lua.LString("90s"), 90 * time.Second, ""},
		{lua.LString("10m"), 10 * time.Minute, ""},
		{lua.LString("1h30m"), 90 * time.Minute, ""},
		{lua.LString("2d"), 48 * time.Hour, ""},
		{lua.LString("1d12h"), 36 * time.Hour, ""},
		{lua.LString("1.5h"), 90 * time.Minute, ""},
		{lua.LString("0.5d"), 12 * time.Hour, ""},
		{lua.LString("1d1h1m1s1ms"), 25*time.Hour + time.Minute + time.Second + time.Millisecond, ""},
		{lua.LString("0s"), 0, ""},
		{lua.LNumber(90), 90 * time.Second, ""},
		{lua.LNumber(0.25), 250 * time.Millisecond, ""},
		{lua.LNumber(0), 0, ""},
		{lua.LString("abc"), 0, `invalid duration "abc"`},
		{lua.LString(""), 0, "empty duration"},
		{lua.LString("90"), 0, `missing unit in duration "90" (write "90s")`},
		{lua.LString("-5m"), 0, "negative duration"},
		{lua.LString("5x"), 0, "invalid duration"},
		{lua.LString("5m garbage"), 0, "invalid duration"},
		{lua.LString("d"), 0, "invalid duration"},
		{lua.LString("999999999d"), 0, "out of range"},
		{lua.LString("2000000h2000000h"), 0, "out of range"},
		{lua.LNumber(-1), 0, "negative duration"},
		{lua.LNumber(math.NaN()), 0, "invalid duration"},
		{lua.LNumber(1e12), 0, "out of range"},
		{lua.LTrue, 0, "duration expected, got boolean"},
		{lua.LNil, 0, "duration expected, got nil"},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			got, err := scripting.ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%v) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
