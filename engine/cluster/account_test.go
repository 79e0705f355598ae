package cluster_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/nats-io/nats-server/v2/server"
)

// proxy forwards loopback connections to target until cut; restore
// listens again on the same address.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection through it.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// A node that held the account queues a source's record (a list's
// snapshot S1) just as it loses NATS; the next holder claims the account
// and writes a newer snapshot S2. When the former holder reaches NATS
// again, its queued put is refused by the claim's fence instead of
// writing S1 over S2. Before, the account's store was not fenced and
// retried its queued puts for the life of the process.
func TestAFormerAccountHoldersQueuedRecordIsFencedOff(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	p := newProxy(t, s.Addr().String())
	ca := dial(t, "nats://"+p.addr, "a")
	cb := dial(t, s.ClientURL(), "b")
	a, err := ca.ClaimAccount(t.Context(), t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}

	p.cut()
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
	p.restore()
	waitLong(t, "a's queued put to be answered", func() bool { return len(done) > 0 })
	if err := <-done; !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("the former holder's queued put: %v, want ErrFenced", err)
	}
	wantValue(t, b, "notify", "list", "S2")
}

// accountNode runs a node that holds no partition and sends the store of
// each of its terms of the account lease to terms.
func accountNode(t *testing.T, url, name string, terms chan<- *cluster.Store) *node {
	conn := dial(t, url, name)
	n := cluster.NewNode(cluster.NodeOptions{Conn: conn, Name: name, Account: func(ctx context.Context, st *cluster.Store) error {
		terms <- st
		<-ctx.Done()
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	nd := &node{n: n, conn: conn, cancel: cancel, done: make(chan struct{})}
	go func() { _ = n.Run(ctx); close(nd.done) }()
	t.Cleanup(func() { cancel(); <-nd.done })
	return nd
}

// A node's term of the account lease ends when it loses the lease: the
// record its sources queued and NATS never took is dropped then (its
// caller told), not kept and written once NATS is back, and the term's
// store is fenced off by the next holder's claim.
func TestAnAccountTermsQueuedRecordsEndWithIt(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	p := newProxy(t, s.Addr().String())
	termsA, termsB := make(chan *cluster.Store, 4), make(chan *cluster.Store, 4)
	a := accountNode(t, "nats://"+p.addr, "a", termsA)
	var stA *cluster.Store
	waitLong(t, "a to hold the account", func() bool {
		select {
		case stA = <-termsA:
			return true
		default:
			return false
		}
	})
	accountNode(t, s.ClientURL(), "b", termsB)

	p.cut()
	enginetest.WaitUntil(t, "a to notice", func() bool { return !a.conn.Connected() })
	done := make(stored, 1)
	stA.QueuePut("notify", "list", []byte("S1"), done.then)
	waitLong(t, "a's term to end", func() bool { return !a.n.Account() })
	if err := done.answered(t, "after a's term ended"); err == nil {
		t.Fatal("a's queued put was reported stored while a was cut off")
	}
	var stB *cluster.Store
	waitLong(t, "b to hold the account", func() bool {
		select {
		case stB = <-termsB:
			return true
		default:
			return false
		}
	})
	if err := stB.Put("notify", "list", []byte("S2")); err != nil {
		t.Fatal(err)
	}
	p.restore()
	enginetest.WaitUntil(t, "a to reconnect", a.conn.Connected)
	if err := stA.Put("notify", "list", []byte("S0")); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("a write through a's former term's store: %v, want ErrFenced", err)
	}
	wantValue(t, stB, "notify", "list", "S2")
}
