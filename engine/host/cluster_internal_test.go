package host

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/nats-io/nats-server/v2/server"
)

// The stream drops a message whose id it saw: a source firing the same
// records again is one event, but successive snapshots of one list (one
// key, new values) are different events.
func TestWritesIDNamesTheRecordsByKeyAndValue(t *testing.T) {
	w := func(v string) []engine.Write { return []engine.Write{{Bucket: "lists", Key: "L1", Value: []byte(v)}} }
	if writesID(w(`{"a":1}`)) != writesID(w(`{"a":1}`)) {
		t.Fatal("the same records got two ids")
	}
	if writesID(w(`{"a":1}`)) == writesID(w(`{"a":2}`)) {
		t.Fatal("two snapshots of one list got one id: the stream would drop the second event")
	}
}

// The sources write the account's key-value space through the store of
// this node's term of the account lease: between terms their writes are
// refused (a former holder's sources must not write over the next
// holder's records), while every node reads it.
func TestClusterAccountStoreWritesOnlyDuringATerm(t *testing.T) {
	ns := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	conn, err := cluster.Dial(t.Context(), ns.ClientURL(), "n1", 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acct := &accountStore{Store: conn.AccountStore(t.Context())}
	done := make(chan error, 1)
	acct.QueuePut("notify", "list", []byte("S0"), func(err error) { done <- err })
	if err := <-done; !errors.Is(err, errNoAccountTerm) {
		t.Fatalf("queued put before a term: %v, want errNoAccountTerm", err)
	}
	term, err := conn.ClaimAccount(t.Context(), t.Context(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	acct.setTerm(term)
	if err := acct.Put("notify", "list", []byte("S1")); err != nil {
		t.Fatal(err)
	}
	acct.setTerm(nil)
	if err := acct.Delete("notify", "list"); !errors.Is(err, errNoAccountTerm) {
		t.Fatalf("delete after the term: %v, want errNoAccountTerm", err)
	}
	if v, err := acct.Get("notify", "list"); err != nil || string(v) != "S1" {
		t.Fatalf("read after the term: %q, %v; want S1", v, err)
	}
}
