package cluster

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lease is one key of the lease bucket this node holds: renewed by
// revision-checked updates, so a node that lost it (its key expired and
// another node created it) cannot renew it.
type lease struct {
	key     string
	rev     uint64
	renewed time.Time // last successful renewal, by the local clock
}

// acquire creates key with the node's name; false when someone holds it.
func (c *Conn) acquire(ctx context.Context, key, node string) (*lease, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.ttl/2)
	defer cancel()
	rev, err := c.leases.Create(ctx, key, []byte(node))
	if err != nil {
		return nil, false
	}
	return &lease{key: key, rev: rev, renewed: time.Now()}, true
}

// renew extends l. It reports false once the lease is lost for sure
// (another revision) or could not be renewed for longer than the TTL
// allows: the holder must stop acting for it.
func (c *Conn) renew(ctx context.Context, l *lease, node string) bool {
	// Give up when the lease can no longer be confirmed in time: at 3/5
	// of the TTL after the last renewal, a margin for the servers' clock
	// and the time to stop before the key can expire.
	deadline := l.renewed.Add(c.ttl * 3 / 5)
	rctx, cancel := context.WithTimeout(ctx, c.ttl/3)
	defer cancel()
	rctx, cancelDeadline := context.WithDeadline(rctx, deadline)
	defer cancelDeadline()
	rev, err := c.leases.Update(rctx, l.key, []byte(node), l.rev)
	if err == nil {
		l.rev, l.renewed = rev, time.Now()
		return true
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	// NATS unreachable: hold on while the key cannot have expired yet.
	return time.Now().Before(deadline)
}

// release deletes l if it is still ours.
func (c *Conn) release(l *lease) {
	ctx, cancel := context.WithTimeout(context.Background(), c.ttl/2)
	defer cancel()
	_ = c.leases.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
}

// holders returns the value of every live key under prefix (e.g. who holds
// each partition, or the nodes present).
func (c *Conn) holders(ctx context.Context, prefix string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.ttl/2)
	defer cancel()
	w, err := c.leases.Watch(ctx, prefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string]string{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			out[strings.TrimPrefix(e.Key(), prefix)] = string(e.Value())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// rank orders nodes for a partition by rendezvous hashing: each partition
// prefers its own node, so ownership spreads evenly and stays put.
func rank(partition string, nodes []string) []string {
	out := slices.Clone(nodes)
	score := func(n string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(partition + "\x00" + n))
		return h.Sum64()
	}
	slices.SortFunc(out, func(a, b string) int {
		sa, sb := score(a), score(b)
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return strings.Compare(a, b)
	})
	return out
}
