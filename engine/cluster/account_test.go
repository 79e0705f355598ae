package cluster_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/nats-io/nats-server/v2/server"
)

// A node that held the account queues a source's record (a list's
// snapshot S1) just as it loses NATS; the next holder claims the account
// and writes a newer snapshot S2. When the former holder reaches NATS
// again, its queued put is refused by the claim's fence instead of
// writing S1 over S2. Before, the account's store was not fenced and
// retried its queued puts for the life of the process.
func TestAFormerAccountHoldersQueuedRecordIsFencedOff(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	p := natstest.StartProxy(t, s.Addr().String())
	ca := dial(t, p.URL(), "a")
	cb := dial(t, s.ClientURL(), "b")
	a, err := ca.ClaimAccount(t.Context(), t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}

	p.SetCut(true)
	enginetest.WaitUntil(t, "a to notice", func() bool { return !ca.Connected() })
	done := make(stored, 1)
	a.QueuePut("notify", "list", []byte("S1"), done.then) // retried while a is cut off
	b, err := cb.ClaimAccount(t.Context(), t.Context(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put("notify", "list", []byte("S2")); err != nil {
		t.Fatal(err)
	}
	p.SetCut(false)
	waitLong(t, "a's queued put to be answered", func() bool { return len(done) > 0 })
	if err := <-done; !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("the former holder's queued put: %v, want ErrFenced", err)
	}
	wantValue(t, b, "notify", "list", "S2")
}

// accountNode runs a node that holds no partition and sends the store of
// each of its terms of the account lease to terms.
func accountNode(t *testing.T, url, name string, terms chan<- *cluster.Store) *node {
	return runNode(t, cluster.NodeOptions{Conn: dial(t, url, name), Name: name, Account: func(ctx context.Context, st *cluster.Store) error {
		terms <- st
		<-ctx.Done()
		return nil
	}})
}

// nextTerm waits for the store of a node's next term of the account lease.
func nextTerm(t *testing.T, who string, terms <-chan *cluster.Store) *cluster.Store {
	t.Helper()
	var st *cluster.Store
	waitLong(t, who+" to hold the account", func() bool {
		select {
		case st = <-terms:
			return true
		default:
			return false
		}
	})
	return st
}

// A node's term of the account lease ends when it loses the lease: the
// record its sources queued and NATS never took is dropped then (its
// caller told), not kept and written once NATS is back, and the term's
// store is fenced off by the next holder's claim.
func TestAnAccountTermsQueuedRecordsEndWithIt(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	p := natstest.StartProxy(t, s.Addr().String())
	termsA, termsB := make(chan *cluster.Store, 4), make(chan *cluster.Store, 4)
	a := accountNode(t, p.URL(), "a", termsA)
	stA := nextTerm(t, "a", termsA)
	accountNode(t, s.ClientURL(), "b", termsB)

	p.SetCut(true)
	enginetest.WaitUntil(t, "a to notice", func() bool { return !a.conn.Connected() })
	done := make(stored, 1)
	stA.QueuePut("notify", "list", []byte("S1"), done.then)
	waitLong(t, "a's term to end", func() bool { return !a.n.Account() })
	if err := done.answered(t, "after a's term ended"); err == nil {
		t.Fatal("a's queued put was reported stored while a was cut off")
	}
	stB := nextTerm(t, "b", termsB)
	if err := stB.Put("notify", "list", []byte("S2")); err != nil {
		t.Fatal(err)
	}
	p.SetCut(false)
	enginetest.WaitUntil(t, "a to reconnect", a.conn.Connected)
	if err := stA.Put("notify", "list", []byte("S0")); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("a write through a's former term's store: %v, want ErrFenced", err)
	}
	wantValue(t, stB, "notify", "list", "S2")
}
