package cluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/nats-io/nats-server/v2/server"
)

// acceptNow accepts ev on st and returns the answer.
func acceptNow(st *cluster.Store, ev engine.Event) (fresh bool, err error) {
	done := make(chan struct{})
	st.Accept(ev, false, func(f bool, e error) { fresh, err = f, e; close(done) })
	<-done
	return fresh, err
}

func claim(t *testing.T, c *cluster.Conn, node string) *cluster.Store {
	t.Helper()
	st, err := c.Claim(t.Context(), t.Context(), "p", node)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func wantValue(t *testing.T, st *cluster.Store, bucket, key, want string) {
	t.Helper()
	got, err := st.Get(bucket, key)
	if err != nil || string(got) != want {
		t.Fatalf("%s/%s = %q, %v; want %q", bucket, key, got, err, want)
	}
}

// An event's records (engine.Event.Writes: the state a hold's expiry
// leaves) are written in the batch that accepts it: they are there once
// the accept is answered, after NATS restarts and for the node that takes
// the partition over, and an accept that is refused (not fresh, or
// fenced) writes none of them.
func TestAcceptWritesTheEventsRecordsWithIt(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t, dir, server.RANDOM_PORT)
	port := s.Addr().(*net.TCPAddr).Port
	c1 := dial(t, s.ClientURL(), "n1")
	old := claim(t, c1, "n1")
	state := func(key, v string) []engine.Write {
		return []engine.Write{{Bucket: "levels", Key: key, Value: []byte(v)}}
	}
	ev := engine.Event{ID: "hold:1", Kind: engine.KindCustom, Name: "tick", Time: time.Now(), Target: "r",
		Writes: state("r#0#lamp", `{"armed":false}`)}
	if fresh, err := acceptNow(old, ev); !fresh || err != nil {
		t.Fatalf("accept: fresh %v, %v", fresh, err)
	}
	wantValue(t, old, "levels", "r#0#lamp", `{"armed":false}`)
	ev.Writes = state("r#0#lamp", `{"armed":true}`)
	if fresh, err := acceptNow(old, ev); fresh || err != nil {
		t.Fatalf("second accept: fresh %v, %v; want not fresh", fresh, err)
	}
	wantValue(t, old, "levels", "r#0#lamp", `{"armed":false}`)

	s.Shutdown()
	natstest.Start(t, dir, port)
	cur := claim(t, dial(t, fmt.Sprintf("nats://127.0.0.1:%d", port), "n2"), "n2")
	wantValue(t, cur, "levels", "r#0#lamp", `{"armed":false}`)
	pending, err := cur.Inbox()
	if err != nil || len(pending) != 1 || pending[0].Event.ID != "hold:1" || pending[0].Event.Target != "r" {
		t.Fatalf("inbox after the takeover: %+v, %v; want hold:1", pending, err)
	}

	enginetest.WaitUntil(t, "n1 to reconnect", c1.Connected)
	fenced := engine.Event{ID: "hold:2", Kind: engine.KindCustom, Name: "tick", Time: time.Now(), Target: "r",
		Writes: state("r#1#lamp", `{"armed":false}`)}
	if fresh, err := acceptNow(old, fenced); fresh || !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("former owner's accept: fresh %v, %v; want ErrFenced", fresh, err)
	}
	wantValue(t, cur, "levels", "r#1#lamp", "")
}

// stored collects QueuePut's answers.
type stored chan error

func (s stored) then(err error) { s <- err }

// answered returns the answer QueuePut's callback has given already.
func (s stored) answered(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-s:
		return err
	default:
		t.Fatalf("%s: the queued put's callback has not fired", what)
		return nil
	}
}

// A queued put goes first in the batch of the store's next write, in the
// order of the calls: it is durable, and its callback has fired, once that
// write returns; a write refused by the fence refuses the puts queued
// ahead of it with it.
func TestQueuedPutsRideWithTheNextWrite(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	old := claim(t, dial(t, s.ClientURL(), "n1"), "n1")
	cluster.SetQueueDelay(old, time.Hour) // only a write can carry them
	q, ok := engine.Store(old).(engine.PutQueuer)
	if !ok {
		t.Fatal("the cluster's store is no engine.PutQueuer")
	}
	done := make(stored, 4)
	q.QueuePut("levels", "k", []byte("1"), done.then)
	q.QueuePut("levels", "k", []byte("2"), done.then)
	wantValue(t, old, "levels", "k", "") // nothing wrote them yet
	run := engine.Commit{Trace: engine.Trace{Rule: "r", EventID: "e1"}, Rule: "r", RuleState: []byte(`{"N":1}`)}
	if err := old.Commit(run); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := done.answered(t, "after the commit"); err != nil {
			t.Fatal(err)
		}
	}
	wantValue(t, old, "levels", "k", "2")

	cur := claim(t, dial(t, s.ClientURL(), "n2"), "n2")
	q.QueuePut("levels", "f", []byte("x"), done.then)
	run.Trace.EventID = "e2"
	if err := old.Commit(run); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("former owner's commit: %v, want ErrFenced", err)
	}
	if err := done.answered(t, "after the fenced commit"); !errors.Is(err, cluster.ErrFenced) {
		t.Fatalf("put queued ahead of a fenced commit: %v, want ErrFenced", err)
	}
	wantValue(t, cur, "levels", "f", "")
}

// A put queued ahead of an accept that is not fresh (refused whole by its
// own check) is written alone before the accept returns; a put no write
// follows is written alone after a short while.
func TestQueuedPutsAreWrittenWhenNoWriteCarriesThem(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	st := claim(t, dial(t, s.ClientURL(), "n1"), "n1")
	ev := engine.Event{ID: "e1", Kind: engine.KindCustom, Name: "tick", Time: time.Now()}
	if fresh, err := acceptNow(st, ev); !fresh || err != nil {
		t.Fatalf("accept: fresh %v, %v", fresh, err)
	}
	cluster.SetQueueDelay(st, time.Hour)
	done := make(stored, 2)
	st.QueuePut("levels", "k1", []byte("1"), done.then)
	if fresh, err := acceptNow(st, ev); fresh || err != nil {
		t.Fatalf("second accept: fresh %v, %v; want not fresh", fresh, err)
	}
	if err := done.answered(t, "after an accept that was not fresh"); err != nil {
		t.Fatal(err)
	}
	wantValue(t, st, "levels", "k1", "1")

	cluster.SetQueueDelay(st, 0) // the default
	st.QueuePut("levels", "k2", []byte("2"), done.then)
	waitLong(t, "the put alone", func() bool { return len(done) > 0 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantValue(t, st, "levels", "k2", "2")
}

// A queued put whose carrying write fails while NATS is away stays
// queued and is written once NATS is back.
func TestQueuedPutsWaitOutANATSOutage(t *testing.T) {
	st, down, up := storeWithOutage(t)
	down()
	done := make(stored, 1)
	cluster.SetQueueDelay(st, time.Hour) // the put below carries it
	st.QueuePut("levels", "k", []byte("1"), done.then)
	cluster.SetQueueDelay(st, 0)
	if err := st.Put("levels", "other", []byte("x")); err == nil {
		t.Fatal("a put while NATS is away succeeded")
	}
	if len(done) > 0 {
		t.Fatalf("the queued put was answered while NATS was away: %v", <-done)
	}
	up()
	waitLong(t, "the queued put", func() bool { return len(done) > 0 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantValue(t, st, "levels", "k", "1")
}

// The admin API's view refuses queued puts and deletes at once, as it
// refuses puts: its embedded store would write them to the account's
// key-value space, which the sources own.
func TestViewRefusesQueuedPuts(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	c := dial(t, s.ClientURL(), "n1")
	done := make(stored, 1)
	engine.QueuePut(c.View(), "shadow", "r", []byte("1"), done.then)
	if err := done.answered(t, "the view's queued put"); !errors.Is(err, cluster.ErrNotInCluster) {
		t.Fatalf("view's queued put: %v, want ErrNotInCluster", err)
	}
	account := c.AccountStore(t.Context())
	if err := account.Put("shadow", "r", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := c.View().Delete("shadow", "r"); !errors.Is(err, cluster.ErrNotInCluster) {
		t.Fatalf("view's delete: %v, want ErrNotInCluster", err)
	}
	wantValue(t, account, "shadow", "r", "1")
}

// More puts queued than one atomic batch holds (1000 keys) are written
// in batches the server takes, in the order of the calls, and the write
// that carries them goes through. Before, they went as one batch the
// server refused, which the store retried as if NATS were away for the
// rest of its life, every later write waiting behind it: the test fails
// as soon as the store logs such a retry.
func TestQueuedPutsOverTheBatchLimitAreWrittenInBatches(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	var logs enginetest.LogBuffer
	st := claim(t, dialLog(t, s.ClientURL(), "n1", logs.Logger(slog.LevelWarn)), "n1")
	cluster.SetQueueDelay(st, time.Hour) // only the commit carries them
	const n, keys = 2001, 1500           // k0…k500 twice: the later value wins
	done := make(stored, n)
	for i := range n {
		st.QueuePut("levels", fmt.Sprintf("k%d", i%keys), []byte(strconv.Itoa(i)), done.then)
	}
	committed := make(chan error, 1)
	go func() {
		committed <- st.Commit(engine.Commit{Trace: engine.Trace{Rule: "r", EventID: "e1"}, Rule: "r", RuleState: []byte(`{"N":1}`)})
	}()
	enginetest.WaitUntil(t, "the commit", func() bool {
		return len(committed) > 0 || strings.Contains(logs.String(), "retrying")
	})
	if len(committed) == 0 {
		t.Fatalf("the commit behind %d queued puts is being retried:\n%s", n, logs.String())
	}
	if err := <-committed; err != nil {
		t.Fatalf("commit behind %d queued puts: %v", n, err)
	}
	for range n {
		if err := done.answered(t, "after the commit"); err != nil {
			t.Fatalf("queued put: %v", err)
		}
	}
	wantValue(t, st, "levels", "k0", "1500")
	wantValue(t, st, "levels", "k500", "2000")
	wantValue(t, st, "levels", "k1499", "1499")
	if got, err := st.RuleState("r"); err != nil || string(got) != `{"N":1}` {
		t.Fatalf("rule state %s, %v", got, err)
	}

	// A run's own batch over the limit fails at once: retrying cannot help.
	big := engine.Commit{Trace: engine.Trace{Rule: "r", EventID: "e2"}, Rule: "r", GlobalSet: map[string]json.RawMessage{}}
	for i := range n {
		big.GlobalSet[fmt.Sprintf("g%d", i)] = json.RawMessage("1")
	}
	if err := st.Commit(big); !errors.Is(err, cluster.ErrBatchLimit) {
		t.Fatalf("a commit of %d keys: %v, want ErrBatchLimit", n, err)
	}
}

// A commit whose first attempt failed before reaching NATS and whose
// retry finds its done mark written counts as done; the puts queued ahead
// of it were in that first attempt only, so they are written alone
// before it returns. Before, they were reported durable and never
// written.
func TestQueuedPutsAreWrittenWhenARetryFindsTheDoneMark(t *testing.T) {
	var logs enginetest.LogBuffer
	st, down, up := storeWithOutageLog(t, logs.Logger(slog.LevelWarn))
	st.RecordTrace(engine.Trace{Rule: "r", EventID: "e1"}) // writes e1's done mark for r
	down()
	cluster.SetQueueDelay(st, time.Hour) // the commit carries it
	done := make(stored, 1)
	st.QueuePut("levels", "k", []byte("1"), done.then)
	committed := make(chan error, 1)
	go func() {
		committed <- st.Commit(engine.Commit{Trace: engine.Trace{Rule: "r", EventID: "e1"}, Rule: "r", RuleState: []byte(`{"N":1}`)})
	}()
	enginetest.WaitUntil(t, "the commit's first attempt to fail", func() bool {
		return strings.Contains(logs.String(), "write to NATS failed")
	})
	up()
	if err := <-committed; err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := done.answered(t, "after the commit"); err != nil {
		t.Fatal(err)
	}
	wantValue(t, st, "levels", "k", "1")
}

// A put with an empty bucket or key is refused at once, as engine/store
// refuses it; queued, it would have made a batch NATS refuses, retried
// as if NATS were away.
func TestQueuedPutsRefuseAnEmptyBucketOrKey(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	st := claim(t, dial(t, s.ClientURL(), "n1"), "n1")
	cluster.SetQueueDelay(st, time.Hour)
	done := make(stored, 2)
	st.QueuePut("", "k", []byte("1"), done.then)
	st.QueuePut("levels", "", []byte("1"), done.then)
	for _, what := range []string{"empty bucket", "empty key"} {
		if err := done.answered(t, what); err == nil || !strings.Contains(err.Error(), "must not be empty") {
			t.Fatalf("queued put with an %s: %v, want refused", what, err)
		}
	}
	if err := st.Put("levels", "", []byte("1")); err == nil {
		t.Fatal("put with an empty key: no error")
	}
	if err := st.Put("levels", "k", []byte("1")); err != nil {
		t.Fatalf("a put after the refused ones: %v", err)
	}
}
