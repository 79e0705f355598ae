package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/scripting"
)

// ruleHelpers are the functions of the `rules` table (RULES.md, "Rules
// from data"), as editors see them; installHelpers binds these names.
var ruleHelpers = []scripting.Func{
	{Name: "each", Params: []scripting.Param{
		{Name: "list", Type: "table", Doc: "names, or tables with a name (or id) field"},
		{Name: "fn", Type: "fun(item: any, id: string): Rule|Rule[]|nil", Doc: "makes the item's rule(s); nil makes none"}},
		Returns: []scripting.Param{{Type: "Rule[]"}},
		Doc:     `A rule (or several) per item of a list, with an id made from the item's name: return rules.each(rooms, function(room, id) return rule("lights-" .. id) { ... } end).`},
	{Name: "id", Params: []scripting.Param{{Name: "name", Type: "string"}}, Returns: []scripting.Param{{Type: "string"}},
		Doc: `An id part made from a name: "Room 101" gives "room-101".`},
}

// Helpers describes the functions of the `rules` table.
func Helpers() []scripting.Func { return slices.Clone(ruleHelpers) }

// installHelpers defines the `rules` table in L.
func installHelpers(L *lua.LState, fns *stateFuncs) {
	t := L.CreateTable(0, len(fns.helpers))
	for _, f := range ruleHelpers {
		t.RawSetString(f.Name, fns.helpers[f.Name])
	}
	L.SetGlobal("rules", t)
}

// IDFromName makes a rule id part from a name: lower case, every run of
// characters other than a-z and 0-9 one '-', none at either end.
func IDFromName(name string) (string, error) {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("%q has no letter or digit to make an id from", name)
	}
	return b.String(), nil
}

// luaID is rules.id(name).
func luaID(L *lua.LState) int {
	id, err := IDFromName(L.CheckString(1))
	if err != nil {
		L.ArgError(1, err.Error())
	}
	L.Push(lua.LString(id))
	return 1
}

// luaEach is rules.each(list, fn): fn(item, id) for each item in order;
// the rules it returns, in order, are the result. Each is made by rule()
// and validated like any; a duplicate id is reported by the loader.
func luaEach(L *lua.LState) int {
	list := L.CheckTable(1)
	fn := L.CheckFunction(2)
	n := list.Len() // the items given: fn appending to the list does not add more
	out := L.CreateTable(n, 0)
	for i := 1; i <= n; i++ {
		item := list.RawGetInt(i)
		name, err := itemName(item)
		var id string
		if err == nil {
			id, err = IDFromName(name)
		}
		if err != nil {
			L.ArgError(1, fmt.Sprintf("item %d: %s", i, err))
		}
		L.Push(fn)
		L.Push(item)
		L.Push(lua.LString(id))
		L.Call(2, 1)
		ret := L.Get(-1)
		L.Pop(1)
		if err := appendRules(out, ret); err != nil {
			L.RaiseError("rules.each: item %d (%q): %s", i, name, err)
		}
	}
	L.Push(out)
	return 1
}

// itemName is the name of a rules.each item: a string, a number, or a
// table's name (else id) field.
func itemName(item lua.LValue) (string, error) {
	switch v := item.(type) {
	case lua.LString:
		return string(v), nil
	case lua.LNumber:
		return v.String(), nil
	case *lua.LTable:
		for _, field := range []string{"name", "id"} {
			if s, ok := v.RawGetString(field).(lua.LString); ok {
				return string(s), nil
			}
		}
		return "", errors.New("a table item needs a name (or id) string field")
	}
	return "", fmt.Errorf("a name or a table with a name field expected, got %s", item.Type())
}

// appendRules adds what a rules.each function returned to out: a rule, a
// list of rules, or nothing (nil).
func appendRules(out *lua.LTable, ret lua.LValue) error {
	isRule := func(v lua.LValue) bool {
		ud, ok := v.(*lua.LUserData)
		if !ok {
			return false
		}
		_, ok = ud.Value.(*Def)
		return ok
	}
	switch v := ret.(type) {
	case *lua.LNilType:
		return nil
	case *lua.LTable:
		for j := 1; j <= v.Len(); j++ {
			if !isRule(v.RawGetInt(j)) {
				return fmt.Errorf("item %d of the returned list is not a rule (got %s)", j, v.RawGetInt(j).Type())
			}
			out.Append(v.RawGetInt(j))
		}
		return nil
	}
	if !isRule(ret) {
		return fmt.Errorf("the function must return a rule, a list of rules or nil, got %s", ret.Type())
	}
	out.Append(ret)
	return nil
}
