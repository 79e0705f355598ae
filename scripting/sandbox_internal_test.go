package scripting

import (
	"math"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Bounding string.format's output costs no allocation for directives
// without a width (Atoi's error for "" did), and still counts widths.
func TestFormatBoundAllocations(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	L.Push(lua.LString(`{"bulb":%d,"level":%d,"name":%q}`))
	L.Push(lua.LNumber(3))
	L.Push(lua.LNumber(42))
	L.Push(lua.LString("lamp"))
	var got int
	if n := testing.AllocsPerRun(100, func() { got = formatBound(L) }); n != 0 {
		t.Errorf("%v allocations; want 0", n)
	}
	if want := 32 + 4 + 3*330; got != want {
		t.Errorf("bound %d; want %d", got, want)
	}
	L.SetTop(0)
	L.Push(lua.LString("%5.20f"))
	if got, want := formatBound(L), 6+20+330; got != want {
		t.Errorf("bound of %%5.20f %d; want %d", got, want)
	}
}

// fastFormat writes what gopher-lua's string.format writes, or declines.
func TestFastFormatMatchesStringFormat(t *testing.T) {
	orig := lua.NewState() // gopher-lua's own string.format
	defer orig.Close()
	format := orig.GetField(orig.GetGlobal("string"), "format")
	L := lua.NewState()
	defer L.Close()
	nums := []lua.LValue{lua.LNumber(0), lua.LNumber(42), lua.LNumber(-7), lua.LNumber(3.5), lua.LNumber(-0.25),
		lua.LNumber(1e15), lua.LNumber(1e300), lua.LNumber(math.NaN()), lua.LNumber(math.Inf(-1)), lua.LNumber(1e-9)}
	strs := []lua.LValue{lua.LString(""), lua.LString("lamp"), lua.LString("50%"), lua.LString("é\x00\""), lua.LString("12")}
	others := []lua.LValue{lua.LTrue, lua.LNil, L.NewTable()}
	formats := []string{"", "plain", `{"seq":%d,"bucket":%d}`, "%s=%d", "%d%s", "%s", "%d", "100%%", "%5d", "%x", "%", "a%", "%q", "%i", "%.2f"}
	declined, compared := 0, 0
	for _, f := range formats {
		for _, a := range append(append(append([]lua.LValue{}, nums...), strs...), others...) {
			for _, args := range [][]lua.LValue{{}, {a}, {a, a}, {a, lua.LNumber(9), lua.LString("x")}} {
				L.SetTop(0)
				L.Push(lua.LString(f))
				for _, v := range args {
					L.Push(v)
				}
				got, ok := fastFormat(L)
				if !ok {
					declined++
					continue
				}
				if err := orig.CallByParam(lua.P{Fn: format, NRet: 1, Protect: true}, append([]lua.LValue{lua.LString(f)}, args...)...); err != nil {
					t.Fatalf("string.format(%q, %v) failed (%v) where fastFormat gave %q", f, args, err, got)
				}
				want := orig.Get(-1)
				orig.Pop(1)
				compared++
				if want != got {
					t.Errorf("fastFormat(%q, %v) = %q; string.format gives %q", f, args, got, want)
				}
			}
		}
	}
	if declined == 0 || compared < 100 {
		t.Fatalf("fastFormat declined %d calls and formatted %d; want both kinds", declined, compared)
	}
	L.SetTop(0)
	L.Push(lua.LString(`{"seq":%d,"bucket":%d}`))
	L.Push(lua.LNumber(123456))
	L.Push(lua.LNumber(56))
	if n := testing.AllocsPerRun(100, func() { fastFormat(L) }); n > 1 {
		t.Errorf("%v allocations; want 1", n)
	}
}

// appendNumber writes what LNumber.String does; a concatenation of a
// string and an integer allocates the result only.
func TestAppendNumber(t *testing.T) {
	for _, n := range []float64{0, 1, -1, 42, 3.5, -0.25, 1e15, 1e21, 1e300, 1e-9, math.MaxInt64, math.MinInt64, math.NaN(), math.Inf(1), math.Copysign(0, -1)} {
		if got, want := string(appendNumber(nil, lua.LNumber(n))), lua.LNumber(n).String(); got != want {
			t.Errorf("appendNumber(%v) = %q; want %q", n, got, want)
		}
	}
	L := lua.NewState()
	defer L.Close()
	L.Push(lua.LString("Bench Lamp "))
	L.Push(lua.LNumber(17))
	if n := testing.AllocsPerRun(100, func() {
		luaConcat(L)
		if got := L.Get(-1); got != lua.LString("Bench Lamp 17") {
			t.Fatalf("concatenation %q", got)
		}
		L.Pop(1)
	}); n > 2 {
		t.Errorf("%v allocations; want 2 (the string and its boxing)", n)
	}
}
