package enginetest_test

import (
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

func TestWaitPending(t *testing.T) {
	v := engine.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	armed := make(chan struct{})
	go func() {
		v.AfterFunc(time.Second, func() {})
		close(armed)
	}()
	enginetest.WaitPending(t, v, 1)
	<-armed
	if v.Pending() != 1 {
		t.Fatalf("%d pending after WaitPending(1)", v.Pending())
	}
}
