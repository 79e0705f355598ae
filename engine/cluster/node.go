package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPartition is the partition of rules and devices in no property.
const DefaultPartition = "default"

// NewEngine builds the engine of one partition on its store, with the
// partition's rules set, not yet running.
type NewEngine func(partition string, st engine.Store) (*engine.Engine, error)

// NodeOptions configure a Node.
type NodeOptions struct {
	Conn *Conn
	// Name is this node's name, unique in the cluster.
	Name string
	// Partitions are every partition's name (the default one included).
	Partitions []string
	NewEngine  NewEngine
	// Account, when set, runs while this node holds the account lease:
	// the one push connection and the sources that must not run twice.
	// st is the account's store for this term of the lease
	// (Conn.ClaimAccount): the sources write through it. When the term
	// ends (ctx ends) its queued puts get one last attempt, and those not
	// written then are dropped with their callers told: a former holder
	// never writes over the next one's records.
	Account func(ctx context.Context, st *Store) error
	Log     *slog.Logger
}

// Node owns some of the cluster's partitions: it holds their leases, runs
// an engine for each and feeds it the partition's events from the stream.
type Node struct {
	o NodeOptions

	mu      sync.Mutex
	owned   map[string]*owned
	owners  map[string]string
	account bool
	// seenFree counts the lease rounds a partition has been seen free; a
	// partition that prefers another node is taken in its second round free.
	seenFree map[string]int
	// life is Run's context: a commit of a run whose actions were sent
	// retries until NATS takes it or the node shuts down, even after its
	// partition was given up (a new owner's replay then finds it done, or
	// is refused by its done mark).
	life context.Context
}

// owned is a partition this node runs.
type owned struct {
	lease *lease
	stop  context.CancelFunc
	done  chan struct{}
}

// NewNode returns a node; Run starts it.
func NewNode(o NodeOptions) *Node {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Node{o: o, owned: map[string]*owned{}, owners: map[string]string{}, seenFree: map[string]int{}}
}

// Name is the node's name.
func (n *Node) Name() string { return n.o.Name }

// Owned returns the partitions this node owns now, sorted.
func (n *Node) Owned() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return keysOf(n.owned)
}

// Owners returns the owner of every partition as last seen.
func (n *Node) Owners() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.owners))
	maps.Copy(out, n.owners)
	return out
}

// Run takes part in the cluster until ctx ends; then it stops its
// partitions (runs in progress finish) and gives up their leases.
func (n *Node) Run(ctx context.Context) error {
	n.life = ctx
	tick := time.NewTicker(n.o.Conn.ttl / 5)
	defer tick.Stop()
	var acct *lease
	var acctStop context.CancelFunc
	acctDone := make(chan struct{})
	close(acctDone)
	defer func() {
		n.stopAll()
		if acctStop != nil {
			acctStop()
			<-acctDone
			n.o.Conn.release(acct)
		}
	}()
	for {
		n.round(ctx)
		if n.o.Account != nil {
			acct, acctStop, acctDone = n.accountRound(ctx, acct, acctStop, acctDone)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// accountRound keeps or takes the account lease and runs Account while
// held.
func (n *Node) accountRound(ctx context.Context, l *lease, stop context.CancelFunc, done chan struct{}) (*lease, context.CancelFunc, chan struct{}) {
	c := n.o.Conn
	if l != nil {
		if c.renew(ctx, l, n.o.Name) {
			return l, stop, done
		}
		n.o.Log.Warn("cluster: account lease lost; stopping push and polling here")
		stop()
		<-done
		n.setAccount(false)
		l = nil
	}
	l, ok := c.acquire(ctx, "account", n.o.Name)
	if !ok {
		return nil, nil, done
	}
	// The term's store lives as long as the term: its retries end with
	// it, and the claim fences off the former holder's writes.
	actx, stop := context.WithCancel(ctx)
	st, err := c.ClaimAccount(ctx, actx, n.o.Name)
	if err != nil {
		stop()
		n.o.Log.Warn("cluster: account not claimed; giving its lease back", "err", err)
		c.release(l)
		return nil, nil, done
	}
	n.o.Log.Info("cluster: this node runs the account's push connection and polling")
	n.setAccount(true)
	done = make(chan struct{})
	go func() {
		defer close(done)
		n.runAccount(actx, st)
	}()
	return l, stop, done
}

// runAccount runs Account on st until ctx ends (the term of the account
// lease), then gives st's queued puts their last attempt: the lease is
// released or lost after it.
func (n *Node) runAccount(ctx context.Context, st *Store) {
	for ctx.Err() == nil {
		if err := n.o.Account(ctx, st); err != nil && ctx.Err() == nil {
			n.o.Log.Error("cluster: account sources stopped; restarting", "err", err)
			sleep(ctx, time.Second)
		}
	}
	if err := st.Flush(); err != nil {
		n.o.Log.Warn("cluster: the account's sources' last records not stored; dropped (the next holder's sources publish their events again, which the stream drops as duplicates within 10 minutes)", "err", err)
	}
}

func (n *Node) setAccount(on bool) {
	n.mu.Lock()
	n.account = on
	n.mu.Unlock()
}

// Account reports whether this node runs the account's sources now.
func (n *Node) Account() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.account
}

// round renews this node's presence and leases, gives up partitions over
// its fair share and takes free ones up to it.
func (n *Node) round(ctx context.Context) {
	c := n.o.Conn
	pctx, cancel := context.WithTimeout(ctx, c.ttl/3)
	_, err := c.leases.Put(pctx, "node."+n.o.Name, []byte(time.Now().UTC().Format(time.RFC3339)))
	cancel()
	if err != nil {
		n.o.Log.Debug("cluster: presence not renewed", "err", err)
	}
	nodes, err1 := c.holders(ctx, "node.")
	owners, err2 := c.holders(ctx, "part.")
	if err := errors.Join(err1, err2); err != nil {
		return // NATS away: keep what we hold while the leases allow
	}
	n.mu.Lock()
	n.owners = owners
	n.mu.Unlock()
	alive := keysOf(nodes)
	if !slices.Contains(alive, n.o.Name) {
		alive = append(alive, n.o.Name)
	}
	fair := (len(n.o.Partitions) + len(alive) - 1) / len(alive)
	n.shed(fair, alive)
	n.take(ctx, fair, alive, owners)
}

// shed gives up the partitions over fair that prefer other nodes most.
func (n *Node) shed(fair int, alive []string) {
	mine := n.Owned()
	if len(mine) <= fair {
		return
	}
	slices.SortFunc(mine, func(a, b string) int {
		return slices.Index(rank(a, alive), n.o.Name) - slices.Index(rank(b, alive), n.o.Name)
	})
	for _, p := range mine[fair:] {
		n.o.Log.Info("cluster: handing a partition over", "partition", p)
		n.stop(p, true)
	}
}

// take acquires free partitions up to fair: first those that rank this
// node first, then any that stayed free for two rounds.
func (n *Node) take(ctx context.Context, fair int, alive []string, owners map[string]string) {
	for _, p := range n.o.Partitions {
		if len(n.Owned()) >= fair {
			return
		}
		if owners[p] != "" {
			n.seenFree[p] = 0
			continue
		}
		n.seenFree[p]++
		if rank(p, alive)[0] != n.o.Name && n.seenFree[p] < 2 {
			continue
		}
		l, ok := n.o.Conn.acquire(ctx, "part."+p, n.o.Name)
		if !ok {
			continue
		}
		n.seenFree[p] = 0
		// Claimed after the lease is ours: from this write on, a
		// former owner's commits are refused.
		st, err := n.o.Conn.Claim(ctx, n.life, p, n.o.Name)
		if err != nil {
			n.o.Log.Warn("cluster: partition not claimed; giving its lease back", "partition", p, "err", err)
			n.o.Conn.release(l)
			continue
		}
		n.start(ctx, p, l, st)
	}
}

// start runs partition p on its claimed store st under lease l, and keeps
// the lease.
func (n *Node) start(ctx context.Context, p string, l *lease, st *Store) {
	pctx, stop := context.WithCancel(ctx)
	o := &owned{lease: l, stop: stop, done: make(chan struct{})}
	n.mu.Lock()
	n.owned[p] = o
	n.owners[p] = n.o.Name
	n.mu.Unlock()
	n.o.Log.Info("cluster: partition taken", "partition", p)
	go n.keep(pctx, p, o)
	go func() {
		defer close(o.done)
		if err := n.runPartition(pctx, p, st); err != nil && pctx.Err() == nil {
			n.o.Log.Error("cluster: partition stopped; giving it up", "partition", p, "err", err)
			stop()
			go n.stopOwned(p, o, true)
		}
	}()
}

// keep renews o's lease every TTL/5 until ctx ends. When the lease is lost,
// or cannot be confirmed before 3/5 of the TTL has passed since its last
// renewal (renew gives up at that point), it stops the partition's engine
// at once, before another node can have taken the lease; commits still in
// flight are refused by the fence if a new owner claimed it meanwhile.
func (n *Node) keep(ctx context.Context, p string, o *owned) {
	tick := time.NewTicker(n.o.Conn.ttl / 5)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.o.Conn.renew(ctx, o.lease, n.o.Name) || ctx.Err() != nil {
			continue
		}
		n.o.Log.Warn("cluster: partition lease lost or unconfirmed; stopping the partition here", "partition", p)
		o.stop()
		n.stopOwned(p, o, false)
		return
	}
}

// stop ends partition p's engine and, when release is set, gives up its
// lease (the next owner need not wait for it to expire).
func (n *Node) stop(p string, release bool) {
	n.mu.Lock()
	o := n.owned[p]
	n.mu.Unlock()
	n.stopOwned(p, o, release)
}

// stopOwned is stop for the run o of p: it does nothing once o is no
// longer p's (stopped already, or p taken again since).
func (n *Node) stopOwned(p string, o *owned, release bool) {
	n.mu.Lock()
	if o == nil || n.owned[p] != o {
		n.mu.Unlock()
		return
	}
	delete(n.owned, p)
	n.mu.Unlock()
	o.stop()
	<-o.done
	if release {
		n.o.Conn.release(o.lease)
	}
}

func (n *Node) stopAll() {
	var wg sync.WaitGroup
	for _, p := range n.Owned() {
		wg.Go(func() { n.stop(p, true) })
	}
	wg.Wait()
}

// runPartition runs p's engine and feeds it p's events until ctx ends or
// the store reports a failed commit. A commit refused by the fence stops
// the engine at once: its rules start no further run here.
func (n *Node) runPartition(ctx context.Context, p string, st *Store) error {
	eng, err := n.o.NewEngine(p, st)
	if err != nil {
		return err
	}
	ectx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	go func() {
		select {
		case <-st.Fenced():
			stopEngine()
		case <-ectx.Done():
		}
	}()
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(ectx) }()
	err = n.consume(ectx, p, eng, st)
	stopEngine()
	err = errors.Join(err, <-engineDone)
	// Its last trigger states, before the next owner can claim it.
	if ferr := st.Flush(); ferr != nil && !errors.Is(ferr, ErrFenced) {
		n.o.Log.Warn("cluster: queued writes of a stopped partition not stored", "partition", p, "err", ferr)
	}
	select {
	case <-st.Fenced():
		return errors.Join(err, fmt.Errorf("partition %s: %w", p, ErrFenced))
	default:
		return err
	}
}

// consume fetches p's events and accepts each into eng; the message is
// acknowledged once the event is durable in p's inbox.
func (n *Node) consume(ctx context.Context, p string, eng *engine.Engine, st *Store) error {
	c := n.o.Conn
	var cons jetstream.Consumer
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		cons, err = c.js.CreateOrUpdateConsumer(cctx, EventStream, jetstream.ConsumerConfig{Durable: consumerName(p),
			FilterSubject: partitionFilter(p), AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.ttl,
			MaxAckPending: 1000, DeliverPolicy: jetstream.DeliverAllPolicy})
		cancel()
		if err == nil {
			break
		}
		n.o.Log.Warn("cluster: partition consumer", "partition", p, "err", err)
		if !sleep(ctx, time.Second) {
			return nil
		}
	}
	for ctx.Err() == nil {
		select {
		case err := <-st.Faults():
			return fmt.Errorf("partition %s: %w", p, err)
		default:
		}
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if !sleep(ctx, 250*time.Millisecond) {
				return nil
			}
			continue
		}
		for m := range batch.Messages() {
			n.accept(ctx, p, eng, m)
		}
	}
	return nil
}

// accept hands one message's event to eng and acknowledges it, or asks
// for it again later when the engine cannot take it now.
func (n *Node) accept(ctx context.Context, p string, eng *engine.Engine, m jetstream.Msg) {
	if ctx.Err() != nil {
		_ = m.Nak() // the next owner takes it
		return
	}
	var ev engine.Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil {
		n.o.Log.Error("cluster: event not decodable; dropped", "partition", p, "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	_, err := eng.Accept(ev)
	switch {
	case errors.Is(err, engine.ErrOverloaded), errors.Is(err, engine.ErrUnavailable):
		_ = m.NakWithDelay(time.Second)
	default:
		// Accepted, or refused for good (a rule chain too deep: logged).
		_ = m.Ack()
	}
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
