package scripting_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/alexarules/alexarules/scripting"
)

func TestCompileSyntaxError(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"unexpected keyword", "local x = 1\nlocal y = \nif", 3, "near 'if'"},
		{"end of file", "local x = 1\nfunction f(\n", 2, "end of file"},
		{"bad token", "local x = 1\n\nx = 3 $ 4", 3, "Invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto, err := scripting.Compile("rules/bad.lua", []byte(tt.src))
			if proto != nil || err == nil {
				t.Fatalf("Compile = %v, %v; want an error", proto, err)
			}
			se, ok := errors.AsType[*scripting.ScriptError](err)
			if !ok {
				t.Fatalf("error %T is not a *ScriptError", err)
			}
			if se.File != "rules/bad.lua" || se.Line != tt.line {
				t.Errorf("position %s:%d, want rules/bad.lua:%d (%q)", se.File, se.Line, tt.line, err)
			}
			if !strings.Contains(se.Msg, tt.msg) || !strings.HasPrefix(err.Error(), fmt.Sprintf("rules/bad.lua:%d: ", tt.line)) {
				t.Errorf("error %q, want prefix rules/bad.lua:%d: and %q", err, tt.line, tt.msg)
			}
			var pe *parse.Error
			if !errors.As(err, &pe) {
				t.Errorf("error does not unwrap to *parse.Error")
			}
		})
	}
}

// setBrightness stands in for a bound API function that validates its
// arguments like the engine's bindings do.
func setBrightness(L *lua.LState) int {
	if n := L.CheckInt(1); n < 0 || n > 100 {
		L.ArgError(1, fmt.Sprintf("0..100 expected, got %d", n))
	}
	L.Push(lua.LTrue)
	return 1
}

func TestRuntimeErrorPositions(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"index nil", "local t\n\nreturn t.field", 3, "attempt to index a non-table object(nil) with key 'field'"},
		{"in nested function", "local function f()\n  local x = nil\n  return x + 1\nend\nreturn f()", 3, "cannot perform add operation between nil and number"},
		{"error string", "\nerror('boom')", 2, "boom"},
		{"arg error from Go", "local x = 1\n\nset_brightness(150)", 3, "bad argument #1 to set_brightness (0..100 expected, got 150)"},
		{"type error from Go", "set_brightness('high')", 1, "bad argument #1 to set_brightness (number expected, got string)"},
		{"arg error in nested call", "local function on()\n  return set_brightness(-1)\nend\non()", 2, "bad argument #1 to set_brightness (0..100 expected, got -1)"},
		{"time arg error", "\nlocal c = time.between(\"25:00\", \"06:00\")", 2, `bad argument #1 to between (HH:MM expected, got "25:00")`},
		{"error with table", "local x = 1\nerror({code = 42})", 2, "table"},
		{"error with message table", "local x = 1\n\nerror({type = 'http', message = 'endpoint unreachable'})", 3, "endpoint unreachable"},
		{"error level 0", "local x = 1\n\n\nerror('no position', 0)", 4, "no position"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := newState(t, nil)
			L.SetGlobal("set_brightness", L.NewFunction(setBrightness))
			_, err := run(t, L, "porch", tt.src)
			se := scripting.AsScriptError(err)
			if se == nil {
				t.Fatal("no error")
			}
			if se.File != "rules/porch.lua" || se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("got %s:%d %q, want rules/porch.lua:%d containing %q", se.File, se.Line, se.Msg, tt.line, tt.msg)
			}
			if se.Traceback == "" {
				t.Errorf("no traceback")
			}
			var ae *lua.ApiError
			if !errors.As(err, &ae) {
				t.Errorf("error does not unwrap to *lua.ApiError")
			}
		})
	}
}

func TestAsScriptError(t *testing.T) {
	if scripting.AsScriptError(nil) != nil {
		t.Error("AsScriptError(nil) != nil")
	}
	plain := errors.New("plain")
	if se := scripting.AsScriptError(plain); se.Error() != "plain" || se.Line != 0 || !errors.Is(se, plain) {
		t.Errorf("plain error: %+v", se)
	}
	orig := &scripting.ScriptError{File: "a.lua", Line: 2, Msg: "m"}
	if se := scripting.AsScriptError(fmt.Errorf("load: %w", orig)); se != orig {
		t.Errorf("wrapped ScriptError not found: %+v", se)
	}
	if got := (&scripting.ScriptError{File: "a.lua", Msg: "m"}).Error(); got != "a.lua: m" {
		t.Errorf("Error() without line = %q", got)
	}

	// DoString reports syntax errors as an ApiError with the parse error
	// as its cause.
	L := lua.NewState()
	defer L.Close()
	fn, err := L.Load(strings.NewReader("x = = 1"), "rules/ds.lua")
	if fn != nil || err == nil {
		t.Fatal("Load of bad code succeeded")
	}
	if se := scripting.AsScriptError(err); se.File != "rules/ds.lua" || se.Line != 1 {
		t.Errorf("Load syntax error: %s:%d %q", se.File, se.Line, se.Msg)
	}
}

// compileRaw compiles like scripting.Compile without compaction.
func compileRaw(t testing.TB, name string, src []byte) *lua.FunctionProto {
	t.Helper()
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		t.Fatal(err)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		t.Fatal(err)
	}
	return proto
}

func readRule50(t testing.TB) []byte {
	t.Helper()
	src, err := os.ReadFile("testdata/sandbox/rule50.lua")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestCompactedProtosRunIdentically(t *testing.T) {
	rule50 := string(readRule50(t))
	programs := []struct{ name, src string }{
		{"rule50 run", rule50 + "\n"},
		{"closures and upvalues", `
			local function counter()
				local n = 0
				return function(step) n = n + (step or 1) return n end
			end
			local c1, c2 = counter(), counter()
			c1() c1(5) c2(2)
			return { c1(), c2() }`},
		{"varargs and select", `
			local function pack(...) return { n = select("#", ...), ... } end
			local p = pack(1, nil, "x")
			return { p.n, p[1], p[3] }`},
		{"strings and patterns", `
			local words = {}
			for w in ("the quick brown fox"):gmatch("%a+") do words[#words + 1] = w:upper() end
			return { table.concat(words, "-"), (("a,b,,c"):gsub(",", ";")) }`},
		{"nested error position", `
			local M = {}
			function M.deep(x)
				if x > 3 then
					return nil + x
				end
				return M.deep(x + 1)
			end
			local ok, err = pcall(M.deep, 1)
			return { ok, err }`},
	}
	for _, p := range programs {
		t.Run(p.name, func(t *testing.T) {
			src := p.src
			if strings.HasPrefix(p.name, "rule50") {
				// rule50.lua returns its module; call into it.
				src = strings.Replace(rule50, "return M\n", "", 1) +
					"return { M.run({ hour = 7, offset = 3 }), M.run({ hour = 23 }), M.fib(15) }\n"
			}
			compact, err := scripting.Compile("rules/p.lua", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			raw := compileRaw(t, "rules/p.lua", []byte(src))
			got, want := runProto(t, compact), runProto(t, raw)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("compacted proto returned %v, raw proto %v", got, want)
			}
			checkCompact(t, compact, "main")
		})
	}
}

func runProto(t *testing.T, proto *lua.FunctionProto) any {
	t.Helper()
	L, _ := newState(t, nil)
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 1, nil); err != nil {
		t.Fatal(scripting.AsScriptError(err))
	}
	v, err := scripting.FromLua(L.Get(-1))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkCompact fails unless every slice of p and its children has no spare
// capacity.
func checkCompact(t *testing.T, p *lua.FunctionProto, path string) {
	t.Helper()
	for name, lc := range map[string][2]int{
		"Code":               {len(p.Code), cap(p.Code)},
		"Constants":          {len(p.Constants), cap(p.Constants)},
		"FunctionPrototypes": {len(p.FunctionPrototypes), cap(p.FunctionPrototypes)},
		"DbgSourcePositions": {len(p.DbgSourcePositions), cap(p.DbgSourcePositions)},
		"DbgLocals":          {len(p.DbgLocals), cap(p.DbgLocals)},
		"DbgCalls":           {len(p.DbgCalls), cap(p.DbgCalls)},
		"DbgUpvalues":        {len(p.DbgUpvalues), cap(p.DbgUpvalues)},
	} {
		if lc[0] != lc[1] {
			t.Errorf("%s.%s: len %d cap %d", path, name, lc[0], lc[1])
		}
	}
	for i, c := range p.FunctionPrototypes {
		checkCompact(t, c, fmt.Sprintf("%s/%d", path, i))
	}
}

func BenchmarkCompile50Lines(b *testing.B) {
	src := readRule50(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scripting.Compile("rules/rule50.lua", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProtoRetained reports the heap a compiled 50-line proto keeps
// alive, as gopher-lua returns it and after Compile's compaction.
func BenchmarkProtoRetained(b *testing.B) {
	src := readRule50(b)
	for _, tc := range []struct {
		name    string
		compile func() *lua.FunctionProto
	}{
		{"raw", func() *lua.FunctionProto { return compileRaw(b, "rules/rule50.lua", src) }},
		{"compacted", func() *lua.FunctionProto {
			p, err := scripting.Compile("rules/rule50.lua", src)
			if err != nil {
				b.Fatal(err)
			}
			return p
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 200
			var bytesPer float64
			for b.Loop() {
				keep := make([]*lua.FunctionProto, n)
				before := heapInUse()
				for i := range keep {
					keep[i] = tc.compile()
				}
				bytesPer = float64(heapInUse()-before) / n
				runtime.KeepAlive(keep)
			}
			b.ReportMetric(bytesPer, "retained-B/proto")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
