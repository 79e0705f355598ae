package scripting

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Limits of plain-data conversion between Go and Lua. They keep an event
// payload or a table a rule stores (ctx.state, timer args) from growing
// without bound.
const (
	MaxDepth    = 32      // nesting of tables / maps and slices
	MaxElements = 1 << 16 // values in one FromLua conversion
)

// ToLua converts plain Go data to a Lua value: nil, bool, string, every
// integer and float type, json.Number, json.RawMessage (decoded), time.Time
// (epoch seconds, see TimeToLua), slices and arrays (tables 1..n) and maps
// with string keys (tables). Other structs go through encoding/json. Values
// nested deeper than MaxDepth, and values with no plain-data form
// (functions, channels, undecodable JSON), become nil, which also cuts
// cyclic maps.
func ToLua(L *lua.LState, v any) lua.LValue {
	return toLua(L, v, 0)
}

func toLua(L *lua.LState, v any, depth int) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case lua.LValue:
		return x
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return lua.LString(string(x))
		}
		return lua.LNumber(f)
	case json.RawMessage:
		var decoded any
		if err := json.Unmarshal(x, &decoded); err != nil {
			return lua.LNil
		}
		return toLua(L, decoded, depth)
	case time.Time:
		return TimeToLua(x)
	case time.Duration:
		return lua.LNumber(x.Seconds())
	case []string:
		if depth >= MaxDepth {
			return lua.LNil
		}
		t := L.CreateTable(len(x), 0)
		for _, s := range x {
			t.Append(lua.LString(s))
		}
		return t
	case map[string]string:
		if depth >= MaxDepth {
			return lua.LNil
		}
		t := L.CreateTable(0, len(x))
		for k, s := range x {
			t.RawSetString(k, lua.LString(s))
		}
		return t
	case []any:
		if depth >= MaxDepth {
			return lua.LNil
		}
		t := L.CreateTable(len(x), 0)
		for i, e := range x {
			// RawSetInt keeps positions when an element is nil.
			t.RawSetInt(i+1, toLua(L, e, depth+1))
		}
		return t
	case map[string]any:
		if depth >= MaxDepth {
			return lua.LNil
		}
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e, depth+1))
		}
		return t
	}
	return reflectToLua(L, reflect.ValueOf(v), depth)
}

// reflectToLua handles named and less common types (type Mode string,
// []int, map[string]float64, structs).
func reflectToLua(L *lua.LState, rv reflect.Value, depth int) lua.LValue {
	switch rv.Kind() {
	case reflect.Bool:
		return lua.LBool(rv.Bool())
	case reflect.String:
		return lua.LString(rv.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return lua.LNumber(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return lua.LNumber(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return lua.LNumber(rv.Float())
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return lua.LNil
		}
		return toLua(L, rv.Elem().Interface(), depth)
	case reflect.Slice, reflect.Array:
		if depth >= MaxDepth || (rv.Kind() == reflect.Slice && rv.IsNil()) {
			return lua.LNil
		}
		t := L.CreateTable(rv.Len(), 0)
		for i := range rv.Len() {
			t.RawSetInt(i+1, toLua(L, rv.Index(i).Interface(), depth+1))
		}
		return t
	case reflect.Map:
		if depth >= MaxDepth || rv.IsNil() || rv.Type().Key().Kind() != reflect.String {
			return lua.LNil
		}
		t := L.CreateTable(0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			t.RawSetString(it.Key().String(), toLua(L, it.Value().Interface(), depth+1))
		}
		return t
	case reflect.Struct:
		raw, err := json.Marshal(rv.Interface())
		if err != nil {
			return lua.LNil
		}
		return toLua(L, json.RawMessage(raw), depth)
	}
	return lua.LNil
}

// FromLua converts a Lua value to plain Go data: nil, bool, string, float64
// (every number), []any for a table whose keys are exactly 1..n, and
// map[string]any for any other table (number keys are formatted as
// strings; an empty table is an empty map). Metatables are ignored.
// Functions, userdata, coroutines, NaN and infinities, keys of other types,
// cycles, nesting deeper than MaxDepth and more than MaxElements values are
// errors naming the path of the offending value ("a.b[2]").
func FromLua(v lua.LValue) (any, error) {
	return FromLuaMax(v, 0)
}

// FromLuaMax is FromLua that also refuses a value whose JSON would be
// larger than about maxBytes (strings, keys and numbers are counted as the
// conversion goes, so a huge table fails before it is copied); 0 means no
// limit. The error wraps ErrTooLarge.
func FromLuaMax(v lua.LValue, maxBytes int) (any, error) {
	c := converter{visiting: map[*lua.LTable]bool{}, maxBytes: maxBytes}
	return c.fromLua(v, "value", 0)
}

// ErrTooLarge is wrapped by FromLuaMax errors for values over the limit.
var ErrTooLarge = errors.New("too large")

type converter struct {
	visiting map[*lua.LTable]bool // tables on the current path, for cycles
	count    int
	bytes    int // JSON size so far, about
	maxBytes int
}

// grow adds n bytes of output and checks the limit.
func (c *converter) grow(n int, path string) error {
	c.bytes += n
	if c.maxBytes > 0 && c.bytes > c.maxBytes {
		return fmt.Errorf("%s: over %d bytes as JSON: %w", path, c.maxBytes, ErrTooLarge)
	}
	return nil
}

// ErrNotPlain is wrapped by FromLua errors for values that have no
// plain-data form (functions, userdata, NaN, non-string/number keys).
var ErrNotPlain = errors.New("not plain data")

func (c *converter) fromLua(v lua.LValue, path string, depth int) (any, error) {
	c.count++
	if c.count > MaxElements {
		return nil, fmt.Errorf("%s: more than %d values", path, MaxElements)
	}
	size := 5 // null, true, false and a separator
	if s, ok := v.(lua.LString); ok {
		size = len(s) + 3
	}
	if err := c.grow(size, path); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LString:
		return string(x), nil
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s: %v is %w", path, f, ErrNotPlain)
		}
		return f, nil
	case *lua.LTable:
		return c.table(x, path, depth)
	}
	return nil, fmt.Errorf("%s: %s is %w", path, v.Type(), ErrNotPlain)
}

func (c *converter) table(t *lua.LTable, path string, depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d", path, MaxDepth)
	}
	if c.visiting[t] {
		return nil, fmt.Errorf("%s: table contains itself", path)
	}
	c.visiting[t] = true
	defer delete(c.visiting, t)

	n, isArray := arrayLen(t)
	if isArray && n > 0 {
		out := make([]any, n)
		for i := range n {
			e, err := c.fromLua(t.RawGetInt(i+1), path+"["+strconv.Itoa(i+1)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	out := map[string]any{}
	var err error
	t.ForEach(func(k, e lua.LValue) {
		if err != nil {
			return
		}
		var key string
		switch kk := k.(type) {
		case lua.LString:
			key = string(kk)
		case lua.LNumber:
			key = formatNumber(float64(kk))
		default:
			err = fmt.Errorf("%s: %s key is %w", path, k.Type(), ErrNotPlain)
			return
		}
		if err = c.grow(len(key)+3, path); err != nil {
			return
		}
		var conv any
		conv, err = c.fromLua(e, path+"."+key, depth+1)
		out[key] = conv
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// arrayLen reports whether t's keys are exactly 1..n.
func arrayLen(t *lua.LTable) (int, bool) {
	count, maxKey := 0, 0
	isArray := true
	t.ForEach(func(k, _ lua.LValue) {
		count++
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) != math.Trunc(float64(n)) || n < 1 || n > math.MaxInt32 {
			isArray = false
			return
		}
		maxKey = max(maxKey, int(n))
	})
	return count, isArray && maxKey == count
}

func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// TimeToLua converts t to epoch seconds with millisecond precision, the
// form every time takes in rules (ctx.now, ev.time, time.now()).
func TimeToLua(t time.Time) lua.LNumber {
	return lua.LNumber(float64(t.UnixMilli()) / 1000)
}

// TimeFromLua converts epoch seconds back to a time.Time, rounding to the
// millisecond.
func TimeFromLua(n lua.LNumber) time.Time {
	return time.UnixMilli(int64(math.Round(float64(n) * 1000)))
}
