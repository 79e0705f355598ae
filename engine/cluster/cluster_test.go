package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/nats-io/nats-server/v2/server"
)

func dial(t *testing.T, url, node string) *cluster.Conn {
	t.Helper()
	return dialLog(t, url, node, slog.New(slog.DiscardHandler))
}

// dialLog is dial logging to log.
func dialLog(t *testing.T, url, node string, log *slog.Logger) *cluster.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := cluster.Dial(ctx, url, node, 2*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type counter struct{ N int }

func TestCommitIsOncePerEventAndRule(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	st := dial(t, s.ClientURL(), "n1").NewStore(t.Context(), "hotel-a")
	ev := engine.Event{ID: "e1", Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
	accept := func() bool {
		ch := make(chan bool, 1)
		st.Accept(ev, true, func(fresh bool, err error) {
			if err != nil {
				t.Error(err)
			}
			ch <- fresh
		})
		return <-ch
	}
	if !accept() {
		t.Fatal("first accept not fresh")
	}
	if accept() {
		t.Fatal("second accept of e1 fresh: a redelivery would run again")
	}
	commit := engine.Commit{Trace: engine.Trace{ID: "t1", Rule: "r", EventID: "e1"}, Rule: "r",
		RuleState: json.RawMessage(`{"N":1}`)}
	if err := st.Commit(commit); err != nil {
		t.Fatal(err)
	}
	commit.RuleState = json.RawMessage(`{"N":2}`)
	if err := st.Commit(commit); !errors.Is(err, cluster.ErrDone) {
		t.Fatalf("second commit of (e1, r): %v, want ErrDone", err)
	}
	if got, _ := st.RuleState("r"); string(got) != `{"N":1}` {
		t.Fatalf("state %s after a refused second commit", got)
	}
	pending, err := st.Inbox()
	if err != nil || len(pending) != 1 || len(pending[0].Done) != 1 || pending[0].Done[0] != "r" {
		t.Fatalf("inbox %+v, %v: want e1 done by r", pending, err)
	}
	st.Complete("e1")
	if pending, _ := st.Inbox(); len(pending) != 0 {
		t.Fatalf("inbox after complete: %+v", pending)
	}
	if accept() {
		t.Fatal("accept after complete fresh: a late redelivery would run again")
	}
}

// countingRule counts its runs in its state and records each event it ran.
func countingRule(id, name string, ran func(rule, ev string)) *engine.Rule {
	run := func(_ context.Context, inv *engine.Invocation) engine.Result {
		var c counter
		_ = json.Unmarshal(inv.State, &c)
		c.N++
		ran(id, inv.Event.ID)
		b, _ := json.Marshal(c)
		return engine.Result{State: b}
	}
	return &engine.Rule{ID: id, File: id + ".lua", Enabled: true, Mode: engine.ModeQueued, Max: 10_000, Timeout: time.Minute,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom, Keys: []string{name}}},
		NewInstance: func() (engine.Instance, error) { return funcInstance(run), nil }}
}

type funcInstance func(ctx context.Context, inv *engine.Invocation) engine.Result

func (f funcInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	return f(ctx, inv)
}
func (funcInstance) Close() {}

// runs records which (rule, event) pairs ran, across nodes.
type runs struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *runs) ran(rule, ev string) {
	r.mu.Lock()
	r.seen[rule+"/"+ev]++
	r.mu.Unlock()
}

func (r *runs) count() (distinct, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		distinct++
		total += n
	}
	return distinct, total
}

type node struct {
	n      *cluster.Node
	conn   *cluster.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, url, name string, rec *runs) *node {
	conn := dial(t, url, name)
	ruleOf := map[string]string{"a-count": "a", "b-count": "b"}
	newEngine := func(p string, st engine.Store) (*engine.Engine, error) {
		e := engine.New(engine.Config{Store: st})
		var rules []*engine.Rule
		for id, part := range ruleOf {
			if part == p {
				rules = append(rules, countingRule(id, "tick", rec.ran))
			}
		}
		return e, e.SetRules(rules)
	}
	return runNode(t, cluster.NodeOptions{Conn: conn, Name: name, Partitions: []string{"a", "b", "default"}, NewEngine: newEngine})
}

// runNode runs a node of o until the test ends.
func runNode(t *testing.T, o cluster.NodeOptions) *node {
	n := cluster.NewNode(o)
	ctx, cancel := context.WithCancel(context.Background())
	nd := &node{n: n, conn: o.Conn, cancel: cancel, done: make(chan struct{})}
	go func() { _ = n.Run(ctx); close(nd.done) }()
	t.Cleanup(func() { cancel(); <-nd.done })
	return nd
}

func TestFailoverRunsEveryEventOnce(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	rec := &runs{seen: map[string]int{}}
	n1 := startNode(t, s.ClientURL(), "n1", rec)
	n2 := startNode(t, s.ClientURL(), "n2", rec)
	enginetest.WaitUntil(t, "both nodes own partitions", func() bool {
		return len(n1.n.Owned()) > 0 && len(n2.n.Owned()) > 0 && len(n1.n.Owned())+len(n2.n.Owned()) == 3
	})
	pub := dial(t, s.ClientURL(), "publisher")
	const perPartition = 60
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			for _, p := range []string{"a", "b"} {
				ev := engine.Event{ID: fmt.Sprintf("%s-%d", p, i), Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
				if err := pub.Publish(t.Context(), p, ev, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	publish(0, perPartition/2)
	// n1 dies: its connection drops without giving up its leases.
	victim, survivor := n1, n2
	if len(n2.n.Owned()) > len(n1.n.Owned()) {
		victim, survivor = n2, n1
	}
	victim.conn.Close()
	victim.cancel()
	publish(perPartition/2, perPartition)
	// A takeover waits for the lease to expire and the unacknowledged
	// messages to come back: longer than WaitUntil's deadline on a loaded
	// machine.
	waitLong(t, "the survivor owns every partition", func() bool { return len(survivor.n.Owned()) == 3 })
	waitLong(t, "every event ran", func() bool {
		d, _ := rec.count()
		return d == 2*perPartition
	})
	check := survivor.conn.NewStore
	for _, p := range []string{"a", "b"} {
		waitLong(t, "state of "+p, func() bool {
			raw, err := check(t.Context(), p).RuleState(p + "-count")
			var c counter
			return err == nil && json.Unmarshal(raw, &c) == nil && c.N == perPartition
		})
	}
	if d, total := rec.count(); total != d {
		// A run interrupted by the kill may run again; a committed one
		// never does, which the state counters above prove.
		t.Logf("%d runs for %d (rule, event) pairs", total, d)
	}
}

// A timer's firing commits once: an owner that loaded the timer again
// (after a takeover) and fired it cannot apply its handler run a second
// time.
func TestTimerFiringCommitsOnce(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	st := dial(t, s.ClientURL(), "n1").NewStore(t.Context(), "p")
	rec := engine.TimerRecord{ID: "r/bye", Rule: "r", Handler: "bye", Due: time.Now(), Created: time.Now()}
	if err := st.Commit(engine.Commit{Rule: "r", PutTimers: []engine.TimerRecord{rec}}); err != nil {
		t.Fatal(err)
	}
	fired := engine.Commit{Trace: engine.Trace{Rule: "r", Handler: "bye", EventID: rec.FiringID()}, Rule: "r",
		RuleState: json.RawMessage(`{"N":1}`), DeleteTimers: []string{rec.ID}}
	if err := st.Commit(fired); err != nil {
		t.Fatal(err)
	}
	again := dial(t, s.ClientURL(), "n2").NewStore(t.Context(), "p")
	fired.RuleState = json.RawMessage(`{"N":2}`)
	if err := again.Commit(fired); !errors.Is(err, cluster.ErrDone) {
		t.Fatalf("second commit of the firing: %v, want ErrDone", err)
	}
	if got, _ := again.RuleState("r"); string(got) != `{"N":1}` {
		t.Fatalf("state %s", got)
	}
	if ts, _ := again.Timers(); len(ts) != 0 {
		t.Fatalf("timers %+v after the firing", ts)
	}
}

// While NATS is away a commit waits for it instead of failing (which would
// run the event again, sending its actions twice), and goes through once
// NATS is back.
func TestCommitWaitsOutANATSOutage(t *testing.T) {
	st, down, up := storeWithOutage(t)
	down()
	done := make(chan error, 1)
	go func() {
		done <- st.Commit(engine.Commit{Trace: engine.Trace{Rule: "r", EventID: "e1"}, Rule: "r", RuleState: json.RawMessage(`{"N":1}`)})
	}()
	select {
	case err := <-done:
		t.Fatalf("commit returned while NATS was down: %v", err)
	default:
	}
	up()
	if err := <-done; err != nil {
		t.Fatalf("commit after NATS came back: %v", err)
	}
	if got, _ := st.RuleState("r"); string(got) != `{"N":1}` {
		t.Fatalf("state %s", got)
	}
	pending, err := st.Inbox()
	if err != nil || len(pending) != 1 || len(pending[0].Done) != 1 {
		t.Fatalf("inbox %+v, %v: want e1 done by r once", pending, err)
	}
}

// waitLong polls cond for up to a minute.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// While NATS is away a run's read of its state waits for it too, instead of
// failing the run (a failed run is final: the event would never run).
func TestStateReadWaitsOutANATSOutage(t *testing.T) {
	st, down, up := storeWithOutage(t)
	if err := st.Commit(engine.Commit{Trace: engine.Trace{Rule: "r", EventID: "e1"}, Rule: "r", RuleState: json.RawMessage(`{"N":1}`)}); err != nil {
		t.Fatal(err)
	}
	down()
	type read struct {
		state json.RawMessage
		err   error
	}
	done := make(chan read, 1)
	go func() {
		v, err := st.RuleState("r")
		done <- read{v, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the state read returned while NATS was down: %s, %v", r.state, r.err)
	default:
	}
	up()
	if r := <-done; r.err != nil || string(r.state) != `{"N":1}` {
		t.Fatalf("the state read after NATS came back: %s, %v", r.state, r.err)
	}
}

// storeWithOutage returns partition p's store on a NATS server with event
// e1 accepted, and functions that stop the server (until the connection
// notices) and start it again with its streams.
func storeWithOutage(t *testing.T) (st *cluster.Store, down, up func()) {
	return storeWithOutageLog(t, slog.New(slog.DiscardHandler))
}

// storeWithOutageLog is storeWithOutage with the connection logging to
// log.
func storeWithOutageLog(t *testing.T, log *slog.Logger) (st *cluster.Store, down, up func()) {
	dir := t.TempDir()
	s := natstest.Start(t, dir, server.RANDOM_PORT)
	port := s.Addr().(*net.TCPAddr).Port
	conn := dialLog(t, s.ClientURL(), "n1", log)
	st = conn.NewStore(t.Context(), "p")
	ev := engine.Event{ID: "e1", Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
	accepted := make(chan error, 1)
	st.Accept(ev, false, func(_ bool, err error) { accepted <- err })
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	down = func() {
		s.Shutdown()
		enginetest.WaitUntil(t, "the connection to notice", func() bool { return !conn.Connected() })
	}
	return st, down, func() { natstest.Start(t, dir, port) }
}

// Once another node has claimed a partition, every write of its former
// owner is refused whole, the former owner's store reports it (its engine
// stops), and the new owner's state stands.
func TestClaimFencesTheFormerOwner(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	c1, c2 := dial(t, s.ClientURL(), "n1"), dial(t, s.ClientURL(), "n2")
	old, err := c1.Claim(t.Context(), t.Context(), "p", "n1")
	if err != nil {
		t.Fatal(err)
	}
	run := func(st *cluster.Store, ev string, n int) error {
		return st.Commit(engine.Commit{Trace: engine.Trace{Rule: "r", EventID: ev}, Rule: "r",
			RuleState: json.RawMessage(fmt.Sprintf(`{"N":%d}`, n))})
	}
	if err := run(old, "e1", 1); err != nil {
		t.Fatalf("owner's commit: %v", err)
	}
	// Concurrent commits of one owner do not fence each other.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := old.Put("holds", fmt.Sprint(i), []byte("x")); err != nil {
				t.Errorf("owner's put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	cur, err := c2.Claim(t.Context(), t.Context(), "p", "n2")
	if err != nil {
		t.Fatal(err)
	}
	if err := run(cur, "e2", 2); err != nil {
		t.Fatalf("new owner's commit: %v", err)
	}
	select {
	case <-old.Fenced():
		t.Fatal("fenced before any refused write")
	default:
	}
	if err := run(old, "e3", 7); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("former owner's commit: %v, want ErrFenced", err)
	}
	select {
	case <-old.Fenced():
	default:
		t.Fatal("a refused commit did not report the fence")
	}
	if err := old.Put("holds", "h", []byte("x")); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("former owner's put: %v, want ErrFenced", err)
	}
	ev := engine.Event{ID: "e4", Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
	old.Accept(ev, false, func(fresh bool, err error) {
		if fresh || !errors.Is(err, cluster.ErrFenced) {
			t.Errorf("former owner's accept: fresh %v, %v; want ErrFenced", fresh, err)
		}
	})
	if got, _ := cur.RuleState("r"); string(got) != `{"N":2}` {
		t.Fatalf("state %s: the former owner overwrote the new owner's", got)
	}
	if marks, _ := cur.Inbox(); len(marks) != 0 {
		t.Fatalf("inbox %+v: the former owner accepted an event", marks)
	}
}

// A node whose partition was claimed by someone else (as by a new owner
// while this node had not noticed the loss of its lease) has its writes
// refused, stops the partition's engine and gives the partition up; here,
// holding the lease, it takes it again with a new claim, and the event
// refused meanwhile runs once.
func TestFencedPartitionStopsAndIsTakenAgain(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	rec := &runs{seen: map[string]int{}}
	n1 := startNode(t, s.ClientURL(), "n1", rec)
	enginetest.WaitUntil(t, "n1 owns every partition", func() bool { return len(n1.n.Owned()) == 3 })
	intruder, err := dial(t, s.ClientURL(), "n2").Claim(t.Context(), t.Context(), "a", "n2")
	if err != nil {
		t.Fatal(err)
	}
	ev := engine.Event{ID: "a-1", Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
	if err := n1.conn.Publish(t.Context(), "a", ev, ""); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "a-1 ran", func() bool {
		d, _ := rec.count()
		return d == 1
	})
	waitLong(t, "n1 claimed a again", func() bool {
		return errors.Is(intruder.Put("holds", "h", []byte("x")), cluster.ErrFenced)
	})
	waitLong(t, "the state of a", func() bool {
		raw, err := n1.conn.NewStore(t.Context(), "a").RuleState("a-count")
		var c counter
		return err == nil && json.Unmarshal(raw, &c) == nil && c.N == 1
	})
	if d, total := rec.count(); d != 1 || total != 1 {
		t.Fatalf("%d runs of %d (rule, event) pairs, want 1 of 1", total, d)
	}
}

// replayAfterAccept is a partition's store whose Accept is answered only
// once the engine's replay has gone through the whole inbox (Run loads the
// timers right after it): the interleaving of a takeover where a message
// the former owner had journaled but not acknowledged comes again while
// the new owner replays the inbox.
type replayAfterAccept struct {
	*cluster.Store
	accepting chan struct{} // closed when Accept is called
	replayed  chan struct{} // closed when Timers is called
	once      sync.Once
}

func (s *replayAfterAccept) Accept(ev engine.Event, journal bool, then func(bool, error)) {
	close(s.accepting)
	<-s.replayed
	s.Store.Accept(ev, journal, then)
}

func (s *replayAfterAccept) Timers() ([]engine.TimerRecord, error) {
	s.once.Do(func() { close(s.replayed) })
	return s.Store.Timers()
}

// An event the former owner journaled in the inbox without running it,
// redelivered to the new owner while its engine replays the inbox, runs
// once: the replay finds the redelivery in hand and leaves the event to
// it, and the redelivery, finding the event journaled already, must not
// drop it.
func TestRedeliveryDuringReplayRuns(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	ev := engine.Event{ID: "a-1", Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
	old, err := dial(t, s.ClientURL(), "n1").Claim(t.Context(), t.Context(), "a", "n1")
	if err != nil {
		t.Fatal(err)
	}
	old.Accept(ev, true, func(fresh bool, err error) {
		if !fresh || err != nil {
			t.Fatalf("the former owner's accept: fresh %v, %v", fresh, err)
		}
	})
	cur, err := dial(t, s.ClientURL(), "n2").Claim(t.Context(), t.Context(), "a", "n2")
	if err != nil {
		t.Fatal(err)
	}
	st := &replayAfterAccept{Store: cur, accepting: make(chan struct{}), replayed: make(chan struct{})}
	rec := &runs{seen: map[string]int{}}
	eng := engine.New(engine.Config{Store: st})
	if err := eng.SetRules([]*engine.Rule{countingRule("a-count", "tick", rec.ran)}); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := eng.Accept(ev)
		accepted <- err
	}()
	<-st.accepting // the redelivery holds the event in hand
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	if err := <-accepted; err != nil {
		t.Fatalf("the redelivery's accept: %v", err)
	}
	enginetest.WaitUntil(t, "a-1 ran", func() bool {
		d, _ := rec.count()
		return d == 1
	})
	enginetest.WaitUntil(t, "the state of a", func() bool {
		raw, err := cur.RuleState("a-count")
		var c counter
		return err == nil && json.Unmarshal(raw, &c) == nil && c.N == 1
	})
	if d, total := rec.count(); d != 1 || total != 1 {
		t.Fatalf("%d runs of %d (rule, event) pairs, want 1 of 1", total, d)
	}
}

// A node that connects to streams another node made leaves them as they
// are: an update, even to the same settings, rewrites the stream on the
// server, which nats-server races against the consumers other nodes create
// meanwhile (the race detector caught it in TestFencedPartitionStopsAndIsTakenAgain).
func TestConnectingLeavesTheStreamsAlone(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	dial(t, s.ClientURL(), "n1")
	same, err := cluster.StreamsUnchanged(dial(t, s.ClientURL(), "n2"))
	if err != nil || !same {
		t.Fatalf("the streams' settings differ from what a connecting node gives them (err %v): every connect updates them", err)
	}
}
