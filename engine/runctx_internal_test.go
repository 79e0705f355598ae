package engine

import (
	"context"
	"errors"
	"testing"
)

// Contexts derived from a run's follow it through AfterFunc: cancelling
// the run ends them; cancelling one first unregisters it.
func TestRunCtxAfterFunc(t *testing.T) {
	c := newRunCtx()
	a, cancelA := context.WithCancelCause(c)
	b, cancelB := context.WithCancelCause(c)
	defer cancelA(nil)
	cancelB(errors.New("b alone"))
	if len(c.after) != 1 {
		t.Fatalf("%d functions registered after b was cancelled; want a's alone", len(c.after))
	}
	c.cancel(context.Canceled, errRestarted)
	<-a.Done()
	if a.Err() != context.Canceled || context.Cause(b).Error() != "b alone" {
		t.Fatalf("a: %v; b's cause: %v", a.Err(), context.Cause(b))
	}
	ran := make(chan struct{})
	if c.AfterFunc(func() { close(ran) })() {
		t.Fatal("stop after the end reported that it kept the call")
	}
	<-ran
}

// Registering and stopping the first function costs the stop closure only.
func TestRunCtxAfterFuncAllocations(t *testing.T) {
	f := func() {}
	if n := testing.AllocsPerRun(100, func() {
		c := runCtx{}
		c.after = c.afterBuf[:0]
		if !c.AfterFunc(f)() {
			t.Fatal("stop did not keep the call")
		}
	}); n > 2 {
		t.Fatalf("%v allocations; want at most 2 (the context and the stop closure)", n)
	}
}
