package scripting_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

const libDir = "testdata/sandbox/lib"

// newState returns a sandboxed state on a virtual clock whose print lines
// are collected in *printed.
func newState(t testing.TB, libs *scripting.LibCache) (*lua.LState, *[]string) {
	t.Helper()
	var printed []string
	L := scripting.NewState(scripting.StateOptions{
		Clock:    engine.NewVirtual(time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC)),
		Location: time.UTC,
		LibDir:   libDir,
		Libs:     libs,
		Print:    func(msg string) { printed = append(printed, msg) },
	})
	t.Cleanup(L.Close)
	return L, &printed
}

// run compiles src as rules/<name>.lua and runs it, returning its first
// result.
func run(t testing.TB, L *lua.LState, name, src string) (lua.LValue, error) {
	t.Helper()
	proto, err := scripting.Compile("rules/"+name+".lua", []byte(src))
	if err != nil {
		return nil, err
	}
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 1, nil); err != nil {
		return nil, scripting.AsScriptError(err)
	}
	ret := L.Get(-1)
	L.Pop(1)
	return ret, nil
}

func TestSandboxEscapesFail(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // substring of the error
	}{
		{"io.open", `return io.open("/etc/passwd")`, "non-table object(nil) with key 'open'"},
		{"os.execute", `return os.execute("true")`, "non-function"},
		{"os.exit", `os.exit(3)`, "non-function"},
		{"os.getenv", `return os.getenv("HOME")`, "non-function"},
		{"os.remove", `return os.remove("x")`, "non-function"},
		{"os.rename", `return os.rename("x", "y")`, "non-function"},
		{"os.setenv", `return os.setenv("X", "y")`, "non-function"},
		{"os.tmpname", `return os.tmpname()`, "non-function"},
		{"dofile", `return dofile("/etc/passwd")`, "non-function"},
		{"loadfile", `return loadfile("/etc/passwd")`, "non-function"},
		{"load", `return load(function() return nil end)`, "non-function"},
		{"loadstring", `return loadstring("return 1")`, "non-function"},
		{"collectgarbage", `collectgarbage()`, "non-function"},
		{"getfenv", `return getfenv(1)`, "non-function"},
		{"setfenv", `setfenv(1, {})`, "non-function"},
		{"module", `module("x")`, "non-function"},
		{"newproxy", `return newproxy(true)`, "non-function"},
		{"_printregs", `_printregs()`, "non-function"},
		{"package.loadlib", `return package.loadlib("libc.so", "system")`, "non-function"},
		{"string.dump", `return string.dump(print)`, "non-function"},
		{"coroutine", `return coroutine.create(print)`, "non-table object(nil)"},
		{"debug", `return debug.getregistry()`, "non-table object(nil)"},
		{"channel", `return channel.make()`, "non-table object(nil)"},
		{"require parent", `return require "../x"`, `module "../x" not found`},
		{"require absolute", `return require "/etc/passwd"`, `module "/etc/passwd" not found`},
		{"require dotted parent", `return require "..x"`, `module "..x" not found`},
		{"require os", `return require "os"`, `module "os" not found: no file os.lua in ` + libDir},
		{"require io", `return require "io"`, `module "io" not found`},
		{"require debug", `return require "debug"`, `module "debug" not found`},
		{"require missing", `return require "nope"`, `module "nope" not found`},
		{"string.rep bomb", `return string.rep("x", 1e9)`, "string.rep result too large"},
		{"string.rep method bomb", `return ("xy"):rep(1e9)`, "string.rep result too large"},
		{"string.format width bomb", `return string.format(string.rep("%999999d", 100), 1)`, "string.format result too large"},
		{"table.concat bomb", `
			local s, t = string.rep("x", 2^19), {}
			for i = 1, 100 do t[i] = s end
			return table.concat(t)`, "table.concat result too large"},
		{"deep recursion", `local function f(n) return 1 + f(n + 1) end return f(1)`, "stack overflow"},
		{"unpack bomb", `local t = {} for i = 1, 100000 do t[i] = i end return unpack(t)`, "registry overflow"},
		{"concat doubling", `local s = string.rep("x", 2^19) while true do s = s .. s end`, "string concatenation too large (2097152 bytes, limit 1048576)"},
		{"concat of many", `local s, c = "", string.rep("x", 2^16) while true do s = s .. c .. c end`, "string concatenation too large"},
		{"concat of nil", `local x return "a" .. x`, "cannot perform concat operation between string and nil"},
		{"concat of a table", `return 1 .. {}`, "cannot perform concat operation between number and table"},
		{"gsub doubling", `local s = string.rep("x", 2^12) while true do s = s:gsub(".", "%0%0%0%0") end`, "string.gsub"},
		{"gsub result bomb", `return string.rep("x", 2^10):gsub(".", string.rep("y", 2^11))`, "string.gsub result too large"},
		{"gsub quadratic copying", `return string.rep("x", 2^20 - 1):gsub(".", "y")`, "string.gsub too costly"},
		{"gsub function bomb", `local big = string.rep("z", 2^20) return string.rep("x", 64):gsub(".", function() return big end)`, "string.gsub result too large"},
		{"gsub table bomb", `return string.rep("x", 64):gsub(".", { x = string.rep("z", 2^20) })`, "string.gsub result too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := newState(t, nil)
			_, err := run(t, L, "escape", tt.src)
			if err == nil {
				t.Fatalf("no error; want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			se := scripting.AsScriptError(err)
			if se.File != "rules/escape.lua" || se.Line < 1 {
				t.Errorf("position %s:%d, want rules/escape.lua:N (error %q)", se.File, se.Line, err)
			}
			// The state stays usable after the error.
			if v, err := run(t, L, "after", `return 40 + 2`); err != nil || v != lua.LNumber(42) {
				t.Errorf("state after error: %v, %v; want 42", v, err)
			}
		})
	}
}

func TestSandboxAllowed(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want lua.LValue
	}{
		{"string methods", `return ("abc"):upper() .. string.rep("x", 3) .. string.format("%03d", 7)`, lua.LString("ABCxxx007")},
		{"string.rep at the limit", `return #string.rep("ab", 2^19)`, lua.LNumber(1 << 20)},
		{"string.rep zero and negative", `return string.rep("x", 0) .. string.rep("x", -1)`, lua.LString("")},
		{"string.format wide but small", `return #string.format("%500d|%-10s|%.3f", 1, "a", 1/3)`, lua.LNumber(500 + 1 + 10 + 1 + 5)},
		{"table.concat", `return table.concat({1, "b", 3.5}, "-")`, lua.LString("1-b-3.5")},
		{"table.concat range", `return table.concat({"a", "b", "c", "d"}, ",", 2, 3)`, lua.LString("b,c")},
		{"table.concat empty", `return table.concat({}, ",")`, lua.LString("")},
		{"table.concat big table", `local t = {} for i = 1, 50000 do t[i] = "x" end return #table.concat(t)`, lua.LNumber(50000)},
		{"math", `return math.floor(math.max(1.5, 2.5))`, lua.LNumber(2)},
		{"pcall catches", `local ok, err = pcall(function() error("boom", 0) end) return tostring(ok) .. " " .. err`, lua.LString("false boom")},
		{"rawset on _G", `rawset(_G, "x", 5) return x`, lua.LNumber(5)},
		{"globals are plain", `_G.os = nil local ok = pcall(function() return os.time() end) return ok`, lua.LFalse},
		{"require string is the string table", `return require("string") == string`, lua.LTrue},
		{"package.path empty", `return package.path .. package.cpath`, lua.LString("")},
		{"the data stack grows past its start", `local t = {} for i = 1, 5000 do t[i] = i end return select("#", unpack(t))`, lua.LNumber(5000)},
		{"tail calls do not overflow", `local function f(n) if n == 0 then return "done" end return f(n - 1) end return f(10000)`, lua.LString("done")},
		{"concat", `local a, b = "x", 2 return a .. b .. 3.5 .. "y"`, lua.LString("x23.5y")},
		{"concat at the limit", `return #(string.rep("a", 2^19) .. string.rep("b", 2^19))`, lua.LNumber(1 << 20)},
		{"concat metamethod", `local t = setmetatable({}, {__concat = function(a, b) return "T" end}) return "a" .. t .. "b"`, lua.LString("aT")},
		{"concat metamethod on the right", `local t = setmetatable({}, {__concat = function(a, b) return type(a) .. "+" .. type(b) end}) return 1 .. t`, lua.LString("number+table")},
		{"gsub", `return (string.gsub("hello world", "o", "0"))`, lua.LString("hell0 w0rld")},
		{"gsub captures and limit", `return (string.gsub("abc abc", "(a)(b)", "%2%1", 1))`, lua.LString("bac abc")},
		{"gsub function", `return (string.gsub("a b", "%a", function(c) return c:upper() end))`, lua.LString("A B")},
		{"gsub table", `return (string.gsub("a b", "%a", { a = "1" }))`, lua.LString("1 b")},
		{"gsub count", `return select(2, string.gsub("aaa", "a", "b"))`, lua.LNumber(3)},
		{"gsub on 8 KB, a match every 2 bytes", `return #(string.rep("ab", 2^12):gsub("b", ""))`, lua.LNumber(1 << 12)},
		{"assert passes its arguments on", `return select("#", assert(1, "m", 3))`, lua.LNumber(3)},
		{"assert raises an error table as its text", `local e = setmetatable({}, {__tostring = function() return "ENDPOINT_UNREACHABLE" end})
			local ok, err = pcall(function() assert(nil, e) end) return err`, lua.LString("rules/allowed.lua:2: ENDPOINT_UNREACHABLE")},
		{"assert without a message", `local ok, err = pcall(assert, false) return err`, lua.LString("rules/allowed.lua:1: assertion failed!")},
		{"recursion below the limit", `local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end return f(150)`, lua.LNumber(150)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := newState(t, nil)
			got, err := run(t, L, "allowed", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want.String() || got.Type() != tt.want.Type() {
				t.Errorf("got %v (%s), want %v (%s)", got, got.Type(), tt.want, tt.want.Type())
			}
		})
	}
}

// TestSandboxReachableFunctions walks everything a rule can reach from
// _G and the string metatable and compares the Go functions found with the
// allow-list, so a new escape cannot slip in unnoticed.
func TestSandboxReachableFunctions(t *testing.T) {
	L, _ := newState(t, nil)
	seen := map[*lua.LTable]bool{}
	var found []string
	var walk func(path string, v lua.LValue)
	walk = func(path string, v lua.LValue) {
		switch x := v.(type) {
		case *lua.LFunction:
			found = append(found, path)
		case *lua.LTable:
			if seen[x] {
				return
			}
			seen[x] = true
			// Visit aliases (_G._G, package.loaded.*) last so every library
			// is reached under its own name first.
			var keys []string
			x.ForEach(func(k, _ lua.LValue) { keys = append(keys, k.String()) })
			slices.SortFunc(keys, func(a, b string) int {
				alias := func(k string) bool { return k == "_G" || k == "package" || k == "loaded" }
				if alias(a) != alias(b) {
					if alias(a) {
						return 1
					}
					return -1
				}
				return strings.Compare(a, b)
			})
			for _, k := range keys {
				walk(path+"."+k, x.RawGetString(k))
			}
			// The raw metatable, past __metatable: what a table reads
			// through (the shared libraries behind each state's own string,
			// table and math) counts as reachable under the table's name.
			if mt, ok := x.Metatable.(*lua.LTable); ok {
				if idx, ok := mt.RawGetString("__index").(*lua.LTable); ok {
					walk(path, idx)
				}
				walk(path+"<mt>", mt)
			}
		}
	}
	walk("_G", L.Get(lua.GlobalsIndex))
	walk("string<mt>", L.GetMetatable(lua.LString("")))
	slices.Sort(found)
	found = slices.Compact(found)

	want := []string{
		"_G.__concat", "_G.assert", "_G.error", "_G.getmetatable", "_G.ipairs", "_G.next", "_G.pairs", "_G.pcall",
		"_G.print", "_G.rawequal", "_G.rawget", "_G.rawset", "_G.require", "_G.select",
		"_G.setmetatable", "_G.tonumber", "_G.tostring", "_G.type", "_G.unpack", "_G.xpcall",
		"_G.math.abs", "_G.math.acos", "_G.math.asin", "_G.math.atan", "_G.math.atan2", "_G.math.ceil",
		"_G.math.cos", "_G.math.cosh", "_G.math.deg", "_G.math.exp", "_G.math.floor", "_G.math.fmod",
		"_G.math.frexp", "_G.math.ldexp", "_G.math.log", "_G.math.log10", "_G.math.max", "_G.math.min",
		"_G.math.mod", "_G.math.modf", "_G.math.pow", "_G.math.rad", "_G.math.random",
		"_G.math.randomseed", "_G.math.sin", "_G.math.sinh", "_G.math.sqrt", "_G.math.tan", "_G.math.tanh",
		"_G.os.clock", "_G.os.date", "_G.os.difftime", "_G.os.time",
		"_G.string.byte", "_G.string.char", "_G.string.find", "_G.string.format", "_G.string.gfind",
		"_G.string.gmatch", "_G.string.gsub", "_G.string.len", "_G.string.lower", "_G.string.match",
		"_G.string.rep", "_G.string.reverse", "_G.string.sub", "_G.string.upper",
		"_G.table.concat", "_G.table.getn", "_G.table.insert", "_G.table.maxn", "_G.table.remove",
		"_G.table.sort",
		"_G.time.between", "_G.time.format", "_G.time.next", "_G.time.now", "_G.time.parse",
		"_G.time.weekday",
	}
	slices.Sort(want)
	if !slices.Equal(found, want) {
		extra, missing := diff(found, want), diff(want, found)
		t.Errorf("reachable functions differ from the allow-list\nunexpected: %v\nmissing: %v", extra, missing)
	}
}

// The os and time tables are shared by the states of one LibCache that
// read one clock in one zone, as string is: a state's changes stay in it,
// the shared tables are out of reach, os.clock counts from each state's
// creation, and a state on another clock or in another zone reads its own.
func TestSharedTimeTablesStayPerState(t *testing.T) {
	libs := scripting.NewLibCache()
	clock := engine.NewVirtual(time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC))
	newL := func(clock engine.Clock, loc *time.Location) *lua.LState {
		L := scripting.NewState(scripting.StateOptions{Clock: clock, Location: loc, Libs: libs})
		t.Cleanup(L.Close)
		return L
	}
	a := newL(clock, time.UTC)
	clock.Advance(90 * time.Second)
	b := newL(clock, time.UTC)
	if err := a.DoString(`
os.foo = 1
time.now = nil
os.date = function() return "tampered" end
assert(getmetatable(os) == false and getmetatable(time) == false, "the shared tables are hidden")
assert(not pcall(setmetatable, os, {}) and not pcall(setmetatable, time, {}), "the views' metatables are protected")
assert(os.foo == 1 and os.date() == "tampered" and time.now() == os.time(), "nil reads the shared function again")
assert(os.clock() == 90, "os.clock counts from this state's creation: " .. os.clock())`); err != nil {
		t.Fatal(err)
	}
	if err := b.DoString(`
assert(os.foo == nil and time.now() == os.time() and os.date("%H:%M:%S") == "07:00:30", "another state's changes are not seen")
assert(os.clock() == 0, "os.clock counts from this state's creation: " .. os.clock())`); err != nil {
		t.Fatalf("another state saw the changes: %v", err)
	}
	shared := func(L *lua.LState) lua.LValue { return L.GetGlobal("os").(*lua.LTable).Metatable }
	if shared(a) == lua.LNil || shared(a) != shared(b) {
		t.Error("the states of one clock and zone do not share their os table")
	}
	real := scripting.NewLibCache()
	defaults := scripting.NewState(scripting.StateOptions{Libs: real})
	defer defaults.Close()
	explicit := scripting.NewState(scripting.StateOptions{Clock: engine.RealClock{}, Location: time.Local, Libs: real})
	defer explicit.Close()
	if shared(defaults) == lua.LNil || shared(defaults) != shared(explicit) {
		t.Error("no clock and zone are the real clock and the local zone")
	}
	other := engine.NewVirtual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, L := range []*lua.LState{newL(other, time.UTC), newL(clock, berlin(t))} {
		if shared(L) != lua.LNil {
			t.Error("a state of another clock or zone shares the os table")
		}
		if err := L.DoString(`_G.seen = time.format(time.now(), "%Y %H:%M")`); err != nil {
			t.Fatal(err)
		}
		if got := L.GetGlobal("seen").String(); got != "2030 00:00" && got != "2026 08:00" {
			t.Errorf("a state of another clock or zone reads %q", got)
		}
	}
}

// A state of a LibCache (base values, string, table, math, os and time
// shared) has the same globals, package table and package.loaded as a
// state of its own, and the same base functions as gopher-lua's.
func TestSharedStateHasTheSameShape(t *testing.T) {
	const shape = `
local function names(t)
  local out = {}
  for k, v in pairs(t) do out[#out + 1] = tostring(k) .. ":" .. type(v) end
  table.sort(out)
  return table.concat(out, " ")
end
return names(_G) .. " | " .. names(package) .. " | " .. names(package.loaded) .. " | " .. package.config ..
  " | " .. _VERSION .. tostring(package.loaded._G == _G and package.loaded.package == nil and _G._G == _G)`
	var got []string
	for _, libs := range []*scripting.LibCache{nil, scripting.NewLibCache()} {
		L := scripting.NewState(scripting.StateOptions{Location: time.UTC, Libs: libs})
		defer L.Close()
		if err := L.DoString(`package.preload.x = function() return "x" end
assert(require("x") == "x" and select("#", pcall(error, "e")) == 2 and ipairs({}) ~= nil)`); err != nil {
			t.Fatal(err)
		}
		if err := L.DoString(shape); err != nil {
			t.Fatal(err)
		}
		got = append(got, L.Get(-1).String())
	}
	if got[0] != got[1] {
		t.Errorf("a state of its own:\n%s\na state of a LibCache:\n%s", got[0], got[1])
	}
	for _, part := range []string{"pcall:function", "config:string", "loaded:table", "preload:table", "x:string", "Lua 5.1true"} {
		if !strings.Contains(got[0], part) || strings.Contains(got[0], "loadlib") {
			t.Errorf("shape without %q or with loadlib: %s", part, got[0])
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func TestSandboxPrint(t *testing.T) {
	L, printed := newState(t, nil)
	if _, err := run(t, L, "print", `print("a", 1, nil, true, setmetatable({}, {__tostring = function() return "T" end}))`); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a\t1\tnil\ttrue\tT"}; !slices.Equal(*printed, want) {
		t.Errorf("printed %q, want %q", *printed, want)
	}

	// Without a Print function print is silent, not an error.
	quiet := scripting.NewState(scripting.StateOptions{})
	defer quiet.Close()
	if err := quiet.DoString(`print("dropped")`); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxEndlessLoopStopsAtDeadline(t *testing.T) {
	loops := []struct{ name, src string }{
		{"while", `while true do end`},
		{"pcall in loop", `while true do pcall(function() while true do end end) end`},
		{"tail recursion", `local function f() return f() end return f()`},
		{"gsub callbacks", `local s = string.rep("x", 1000) while true do s:gsub(".", function(c) return c end) end`},
	}
	for _, tt := range loops {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := newState(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			L.SetContext(ctx)
			_, err := run(t, L, "loop", tt.src)
			L.RemoveContext()
			if err == nil {
				t.Fatal("endless loop returned without error")
			}
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Errorf("ctx.Err() = %v, want deadline exceeded", ctx.Err())
			}
			if se := scripting.AsScriptError(err); se.File != "rules/loop.lua" {
				t.Errorf("error %q has no position in rules/loop.lua", err)
			}
			if L.GetTop() != 0 {
				t.Errorf("stack top %d after the timeout, want 0", L.GetTop())
			}
			if v, err := run(t, L, "after", `return "reusable"`); err != nil || v != lua.LString("reusable") {
				t.Errorf("state after timeout: %v, %v", v, err)
			}
		})
	}
}

func TestRequireFromLib(t *testing.T) {
	libs := scripting.NewLibCache()
	for range 3 {
		L, _ := newState(t, libs)
		v, err := run(t, L, "req", `
			local s = require "util.strings"
			local g = require "greet"
			assert(require("greet") == g, "second require returns the loaded table")
			assert(package.loaded["util.strings"] == s)
			return s.shout("bob") .. " " .. loads`)
		if err != nil {
			t.Fatal(err)
		}
		// loads counts executions of greet.lua in this state: once.
		if v.String() != "HELLO BOB 1" {
			t.Errorf("got %q, want %q", v, "HELLO BOB 1")
		}
	}
	if got := libs.Compiles(); got != 2 {
		t.Errorf("LibCache compiled %d files for 3 states, want 2 (greet, util.strings)", got)
	}
}

func TestRequireErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings
	}{
		{"syntax error names the module file", `require "broken"`, []string{filepath.Join(libDir, "broken.lua") + ":3:", "near"}},
		{"runtime error in module", `require "fails"`, []string{filepath.Join(libDir, "fails.lua") + ":2: fails on purpose"}},
		{"loop", `require "loop.a"`, []string{`module "loop.a" requires itself`}},
		{"not found names the lib dir", `require "nothere"`, []string{`rules/req.lua:1: module "nothere" not found: no file nothere.lua in ` + libDir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := newState(t, nil)
			_, err := run(t, L, "req", tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			// A failed module is not cached as loaded: requiring it again
			// fails the same way.
			if _, err2 := run(t, L, "req", tt.src); err2 == nil {
				t.Errorf("second require succeeded")
			}
		})
	}

	t.Run("module without return value", func(t *testing.T) {
		L, _ := newState(t, nil)
		v, err := run(t, L, "req", `return tostring(require "noreturn") .. tostring(noreturn_ran)`)
		if err != nil || v.String() != "truetrue" {
			t.Errorf("got %v, %v; want truetrue", v, err)
		}
	})

	t.Run("preloaded Go module", func(t *testing.T) {
		L, _ := newState(t, nil)
		L.PreloadModule("alexa", func(L *lua.LState) int {
			L.Push(lua.LString("alexa module"))
			return 1
		})
		v, err := run(t, L, "req", `return require "alexa"`)
		if err != nil || v.String() != "alexa module" {
			t.Errorf("got %v, %v", v, err)
		}
	})

	t.Run("no lib dir", func(t *testing.T) {
		L := scripting.NewState(scripting.StateOptions{})
		defer L.Close()
		_, err := run(t, L, "req", `require "greet"`)
		if err == nil || !strings.Contains(err.Error(), `module "greet" not found (no lib directory)`) {
			t.Errorf("error %v", err)
		}
	})
}

func TestRequireSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "secret.lua")
	if err := os.WriteFile(outside, []byte(`return "secret"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(lib, "escape.lua")); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	if err := os.WriteFile(filepath.Join(lib, "ok.lua"), []byte(`return "ok"`), 0o644); err != nil {
		t.Fatal(err)
	}
	L := scripting.NewState(scripting.StateOptions{LibDir: lib})
	defer L.Close()
	if v, err := run(t, L, "req", `return require "ok"`); err != nil || v.String() != "ok" {
		t.Fatalf("require ok: %v, %v", v, err)
	}
	if v, err := run(t, L, "req", `return require "escape"`); err == nil {
		t.Errorf("symlink out of lib dir loaded: %v", v)
	}
}

// A cache keeps a module as it first read it: an edit, or removing the
// file, reaches only a new cache (the next load of the rules). Capture
// reads the modules before their first require.
func TestLibCacheKeepsTheModulesItRead(t *testing.T) {
	lib := t.TempDir()
	writeLib(t, lib, "m.lua", `return "v1"`)
	writeLib(t, lib, "sub/n.lua", `return "n1"`)
	libs := scripting.NewLibCache()
	libs.Capture(lib)
	if got := requireIn(t, lib, libs, "m"); got != "v1" || libs.Compiles() != 1 {
		t.Fatalf("first require: %q, compiles %d", got, libs.Compiles())
	}
	writeLib(t, lib, "m.lua", `return "v2"`)
	writeLib(t, lib, "sub/n.lua", `return (`) // captured, not yet required
	if got := requireIn(t, lib, libs, "m"); got != "v1" || libs.Compiles() != 1 {
		t.Errorf("after an edit: %q, compiles %d; want v1 as first read, compiled once", got, libs.Compiles())
	}
	if got := requireIn(t, lib, libs, "sub.n"); got != "n1" {
		t.Errorf("a module captured and edited before its first require: %q, want n1", got)
	}
	if err := os.Remove(filepath.Join(lib, "m.lua")); err != nil {
		t.Fatal(err)
	}
	if got := requireIn(t, lib, libs, "m"); got != "v1" {
		t.Errorf("after removing the file: %q, want v1", got)
	}
	writeLib(t, lib, "m.lua", `return "v3"`)
	fresh := scripting.NewLibCache()
	if got := requireIn(t, lib, fresh, "m"); got != "v3" {
		t.Errorf("a new cache: %q, want v3", got)
	}
	if got := requireIn(t, lib, fresh, "sub.n"); !strings.Contains(got, filepath.Join(lib, "sub", "n.lua")+":1:") {
		t.Errorf("a new cache's syntax error: %q, want it to name sub/n.lua:1", got)
	}
}

// A captured lib directory has the modules it had: a module added later
// (or the directory, when there was none) is not found until a new cache
// (the next load), without a look at the disk. Only a file under a
// symlinked sub-directory, which the capture does not walk, is read at its
// first require.
func TestACapturedLibDirHasTheModulesItHad(t *testing.T) {
	lib := t.TempDir()
	writeLib(t, lib, "m.lua", `return "m"`)
	writeLib(t, lib, "real/x.lua", `return "x"`)
	if err := os.Mkdir(filepath.Join(lib, "dir.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(lib, "alias")); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	libs := scripting.NewLibCache()
	libs.Capture(lib)
	missing := filepath.Join(t.TempDir(), "lib")
	libs.Capture(missing)
	writeLib(t, lib, "late.lua", `return (`)
	writeLib(t, lib, "sub/late.lua", `return (`)
	writeLib(t, lib, "real/late.lua", `return "late"`)
	writeLib(t, missing, "m.lua", `return (`)
	for _, c := range []struct{ lib, module, want string }{
		{lib, "late", `module "late" not found: no file late.lua in ` + lib + ` as read with the rules`},
		{lib, "sub.late", `module "sub.late" not found: no file sub/late.lua in ` + lib},
		{lib, "real.late", `module "real.late" not found: no file real/late.lua in ` + lib},
		{missing, "m", `module "m" not found: no file m.lua in ` + missing},
		{lib, "m", "m"},
		{lib, "dir", `module "dir": ` + filepath.Join(lib, "dir.lua") + ` is not a regular file (a directory)`},
		{lib, "alias.x", "x"},
		{lib, "alias.late", "late"}, // under a symlinked directory: read at its first require
	} {
		if got := requireIn(t, c.lib, libs, c.module); !strings.Contains(got, c.want) {
			t.Errorf("require %q: %q, want %q", c.module, got, c.want)
		}
	}
	if got := requireIn(t, lib, scripting.NewLibCache(), "real.late"); got != "late" {
		t.Errorf("a new cache: %q, want late", got)
	}
}

// writeLib writes the module file name (slash-separated) under lib.
func writeLib(t testing.TB, lib, name, src string) {
	t.Helper()
	p := filepath.Join(lib, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// requireIn requires module in a new state on lib and libs: its value, or
// the error.
func requireIn(t testing.TB, lib string, libs *scripting.LibCache, module string) string {
	t.Helper()
	L := scripting.NewState(scripting.StateOptions{LibDir: lib, Libs: libs})
	defer L.Close()
	v, err := run(t, L, "req", `return require "`+module+`"`)
	if err != nil {
		return err.Error()
	}
	return v.String()
}

func TestLibCacheConcurrent(t *testing.T) {
	libs := scripting.NewLibCache()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			L := scripting.NewState(scripting.StateOptions{LibDir: libDir, Libs: libs})
			defer L.Close()
			if err := L.DoString(`assert(require("util.strings").shout("x") == "HELLO X")`); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := libs.Compiles(); got != 2 {
		t.Errorf("compiles = %d, want 2", got)
	}
}

func BenchmarkNewState(b *testing.B) {
	libs := scripting.NewLibCache()
	clock := engine.NewVirtual(time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC))
	b.ReportAllocs()
	for b.Loop() {
		L := scripting.NewState(scripting.StateOptions{Clock: clock, Location: time.UTC, LibDir: libDir, Libs: libs})
		L.Close()
	}
}

// BenchmarkStateRetained reports the heap an idle sandboxed state keeps.
func BenchmarkStateRetained(b *testing.B) {
	const n = 200
	var bytesPer float64
	for b.Loop() {
		states := make([]*lua.LState, n)
		libs := scripting.NewLibCache() // as rules.Load shares one between its states
		before := heapInUse()
		for i := range states {
			states[i] = scripting.NewState(scripting.StateOptions{Location: time.UTC, Libs: libs})
		}
		bytesPer = float64(heapInUse()-before) / n
		for _, L := range states {
			L.Close()
		}
	}
	b.ReportMetric(bytesPer, "retained-B/state")
}

// The string, table and math libraries are shared by the states of one
// LibCache: a state's changes to them stay in that state, and states on
// different goroutines use them at once (go test -race).
func TestSharedLibrariesStayPerState(t *testing.T) {
	libs := scripting.NewLibCache()
	newL := func() *lua.LState {
		L := scripting.NewState(scripting.StateOptions{Location: time.UTC, Libs: libs})
		t.Cleanup(L.Close)
		return L
	}
	a, b := newL(), newL()
	if err := a.DoString(`
string.upper = nil
function string.trim(s) return (s:gsub("^%s+", "")) end
getmetatable("").__index.lower = function() return "tampered" end
table.insert = nil
math.pi = 3
assert(getmetatable(math) == false, "the shared table is hidden")
assert(not pcall(setmetatable, string, {}), "the view's metatable is protected")
assert(string.trim("  x") == "x" and ("Y"):lower() == "tampered" and math.pi == 3)
assert(string.format("%d", 7) == "7", "the rest reads through")`); err != nil {
		t.Fatal(err)
	}
	if err := b.DoString(`
assert(string.upper("x") == "X" and ("Y"):lower() == "y" and string.trim == nil)
assert(table.insert ~= nil and math.pi > 3.14)`); err != nil {
		t.Fatalf("another state saw the changes: %v", err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			L := scripting.NewState(scripting.StateOptions{Location: time.UTC, Libs: libs})
			defer L.Close()
			for range 200 {
				if err := L.DoString(`local t = {} for i = 1, 10 do table.insert(t, string.format("%d", math.floor(i / 2))) end
assert(table.concat(t, ",") == "0,1,1,2,2,3,3,4,4,5")`); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
