package scripting_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/scripting"
)

func TestRunLogKeepsTheBudgetAndCountsTheRest(t *testing.T) {
	g := scripting.NewRunLog(scripting.Limits{LogLines: 3, LogBytes: 100})
	for i := range 1000 {
		if g.Full() {
			g.Drop()
			continue
		}
		g.Add(strings.Repeat("x", i+1))
	}
	lines := g.Lines()
	if len(lines) != 4 || lines[3] != "... 997 more log lines dropped (budget 3 lines, 100 bytes per run)" {
		t.Fatalf("lines %q", lines)
	}

	g = scripting.NewRunLog(scripting.Limits{LogLines: 10, LogBytes: 10})
	if line, ok := g.Add(strings.Repeat("é", 100)); !ok || !strings.HasPrefix(line, "ééééé...") || !strings.Contains(line, "(190 bytes cut)") {
		t.Fatalf("long line kept as %q, %v", line, ok)
	}
	if _, ok := g.Add("next"); ok || !g.Full() {
		t.Fatal("a line past the byte budget was kept")
	}
	if got := g.Lines()[1]; !strings.HasPrefix(got, "... 1 more log lines dropped") {
		t.Fatalf("note %q", got)
	}
	g.Reset()
	if g.Full() || len(g.Lines()) != 0 || g.Dropped() != 0 {
		t.Fatal("Reset left the budget spent")
	}
}

func TestTruncate(t *testing.T) {
	if got := scripting.Truncate("short", 10); got != "short" {
		t.Errorf("got %q", got)
	}
	if got := scripting.Truncate(strings.Repeat("a", 2000000), 3); got != "aaa... (1,999,997 bytes cut)" {
		t.Errorf("got %q", got)
	}
}

func TestFromLuaMaxRefusesLargeValuesEarly(t *testing.T) {
	L, _ := newState(t, nil)
	v, err := run(t, L, "big", `local t, s = {}, string.rep("x", 2^16) for i = 1, 1000 do t[i] = s end return t`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scripting.FromLuaMax(v, 1<<20); !errors.Is(err, scripting.ErrTooLarge) || !strings.Contains(err.Error(), "value[16]") {
		t.Fatalf("err %v, want ErrTooLarge at value[16]", err)
	}
	if _, err := scripting.FromLuaMax(v, 0); err != nil {
		t.Fatalf("without a limit: %v", err)
	}
	small, _ := run(t, L, "small", `return { a = "b", n = { 1, 2 } }`)
	if _, err := scripting.FromLuaMax(small, 100); err != nil {
		t.Fatalf("small value: %v", err)
	}
}

// TestHeapGuardStopsGrowingRuns stops a table that grows a little per
// instruction (the run's own check) and one that grows a megabyte every few
// instructions (the sampler's), with the cause in the context.
func TestHeapGuardStopsGrowingRuns(t *testing.T) {
	bombs := map[string]string{
		"table growth":   `local t = {} while true do t[#t + 1] = { #t } end`,
		"megabytes kept": `local t = {} while true do t[#t + 1] = string.rep("x", 2^20 - 8) .. #t end`,
	}
	for name, src := range bombs {
		// given: the run's context is cancelled through the function Watch
		// is given (the engine's run context), not derived by the guard.
		for _, given := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cancel-given=%t", name, given), func(t *testing.T) {
				stopsGrowingRun(t, src, given)
			})
		}
	}
}

func stopsGrowingRun(t *testing.T, src string, given bool) {
	g := scripting.NewHeapGuard(scripting.Limits{HeapGrowth: 32 << 20})
	// The deadline only keeps a broken guard from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var watchCancel context.CancelCauseFunc
	if given {
		ctx, watchCancel = context.WithCancelCause(ctx)
	}
	run1 := g.Watch(ctx, watchCancel)
	if given && run1.Context() != ctx {
		t.Fatal("the guard derived a context although it was given a cancel function")
	}
	L, _ := newState(t, nil)
	L.SetContext(run1.VM())
	_, err := run(t, L, "bomb", src)
	run1.Stop()
	if err == nil {
		t.Fatal("the bomb returned")
	}
	var me *scripting.MemoryError
	if !errors.As(context.Cause(run1.Context()), &me) || me.Growth != 32<<20 {
		t.Fatalf("cause %v, want a *MemoryError of the growth budget (err %v)", context.Cause(run1.Context()), err)
	}
	if run1.Cause() != error(me) {
		t.Errorf("Cause() = %v, want the context's cause %v", run1.Cause(), me)
	}
	if !strings.Contains(me.Error(), "memory budget exceeded (heap grew") {
		t.Errorf("message %q", me)
	}
}

func TestHeapGuardLeavesSmallRunsAlone(t *testing.T) {
	g := scripting.NewHeapGuard(scripting.Limits{})
	for range 100 {
		r := g.Watch(context.Background(), nil)
		L, _ := newState(t, nil)
		L.SetContext(r.VM())
		if _, err := run(t, L, "small", `local t = {} for i = 1, 10000 do t[i] = tostring(i) end return #t`); err != nil {
			t.Fatal(err)
		}
		r.Stop()
		if cause := context.Cause(r.Context()); !errors.Is(cause, context.Canceled) {
			t.Fatalf("cause after Stop %v, want context.Canceled", cause)
		}
		if r.Cause() != nil {
			t.Fatalf("Cause() = %v for a run the guard did not stop", r.Cause())
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	g.Watch(ctx, cancel).Stop()
	if ctx.Err() != nil {
		t.Error("Stop ended the context the guard was given a cancel function of: its owner ends it")
	}
	var nilGuard *scripting.HeapGuard
	if r := nilGuard.Watch(context.Background(), nil); r.VM() != context.Background() {
		t.Error("a nil guard must watch nothing")
	}
}

// BenchmarkHeapGuard measures what the guard adds to a run: Watch and Stop
// per run, and the VM context's checks in a loop of Lua instructions.
func BenchmarkHeapGuard(b *testing.B) {
	b.Run("watch", func(b *testing.B) {
		g := scripting.NewHeapGuard(scripting.Limits{})
		b.ReportAllocs()
		for b.Loop() {
			g.Watch(context.Background(), nil).Stop()
		}
	})
	// As the engine watches: its run context ends through the function
	// the guard is given, so no context is derived per run, and an
	// instance watches its runs in one GuardedRun.
	b.Run("watch/cancel-given", func(b *testing.B) {
		g := scripting.NewHeapGuard(scripting.Limits{})
		ctx, cancel := context.WithCancelCause(b.Context())
		defer cancel(nil)
		b.ReportAllocs()
		for b.Loop() {
			g.Watch(ctx, cancel).Stop()
		}
	})
	b.Run("again/cancel-given", func(b *testing.B) {
		g := scripting.NewHeapGuard(scripting.Limits{})
		ctx, cancel := context.WithCancelCause(b.Context())
		defer cancel(nil)
		r := g.Watch(ctx, cancel)
		r.Stop()
		b.ReportAllocs()
		for b.Loop() {
			r.Again(ctx, cancel)
			r.Stop()
		}
	})
	loop := `local n = 0 for i = 1, 100000 do n = n + i end return n`
	for _, guarded := range []bool{false, true} {
		b.Run(fmt.Sprintf("loop-100k/guarded=%t", guarded), func(b *testing.B) {
			g := scripting.NewHeapGuard(scripting.Limits{})
			L, _ := newState(b, nil)
			proto, err := scripting.Compile("loop.lua", []byte(loop))
			if err != nil {
				b.Fatal(err)
			}
			// A cancellable parent, as the engine's run context is: the
			// unguarded state polls its done channel, the guarded one the
			// same channel through the VM context.
			parent := b.Context()
			for b.Loop() {
				r := g.Watch(parent, nil)
				if guarded {
					L.SetContext(r.VM())
				} else {
					L.SetContext(parent)
				}
				L.Push(L.NewFunctionFromProto(proto))
				if err := L.PCall(0, 1, nil); err != nil {
					b.Fatal(err)
				}
				L.Pop(1)
				r.Stop()
			}
		})
	}
}
