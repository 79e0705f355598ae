package host

import (
	"testing"

	"github.com/alexarules/alexarules/engine"
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
