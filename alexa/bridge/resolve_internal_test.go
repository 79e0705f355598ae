package bridge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/web"
)

// Resolving a known Echo searches the list in place: no copy of it, no
// list of names (every reminder resolves one).
func TestResolveEchoKnownAllocations(t *testing.T) {
	b := &Bridge{echos: []web.Echo{{Name: "Kitchen", Serial: "S1"}, {Name: "Bench Echo", Serial: "S2"}}, echosLoaded: time.Now()}
	b.o.EchoRefresh = time.Hour
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if e, err := b.ResolveEcho(ctx, "bench echo"); err != nil || e.Serial != "S2" {
			t.Fatalf("%+v, %v", e, err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations; want 0", n)
	}
	_, err := b.ResolveEcho(ctx, "attic")
	if nf, ok := errors.AsType[*NotFoundError](err); !ok || len(nf.Known) != 2 || nf.Known[1] != "Bench Echo" {
		t.Fatalf("unknown Echo: %v; want a NotFoundError naming both known ones", err)
	}
}
