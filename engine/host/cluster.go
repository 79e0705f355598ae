package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/rules"
)

// adminPublishWait bounds how long POST /api/events tries to publish
// before it answers 503.
const adminPublishWait = 7 * time.Second

// clusterHost is what a host adds in cluster mode (`run --cluster`): the
// connection, the node that owns partitions, and the router that sends
// each event to its partition.
type clusterHost struct {
	h      *host
	conn   *cluster.Conn
	node   *cluster.Node
	router *cluster.Router
	view   *cluster.View // the admin API's store
	// account is the account's key-value space: the sources' store, and
	// where their events' records are written.
	account *accountStore
	ruleOf  map[string]string // rule id → property
	ids     engine.IDs
	// ctx bounds the sources' publishing retries.
	ctx context.Context
}

// runCluster runs the host as one node of a cluster: the rules run in one
// engine per partition this node owns, fed from the cluster's stream;
// the sources publish to the stream.
func (h *host) runCluster(ctx context.Context, ln net.Listener) error {
	o, cfg := h.opts, h.cfg
	if cfg.Node == "" {
		return configErrorf("--node NAME is required with --cluster")
	}
	conn, err := cluster.Dial(ctx, cfg.Cluster, cfg.Node, 0, o.Log)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The node gives the sources' last records their last attempt when
	// its term of the account lease ends, before Run returns.
	cl := &clusterHost{h: h, conn: conn, ctx: ctx, account: &accountStore{Store: conn.AccountStore(ctx)}}
	h.cl = cl
	// The admin API's engine lists the rules; it never runs them.
	cl.view = conn.View()
	h.engine = h.newEngine(cl.view)
	h.publish = cl.publishSource
	if h.rt, err = startAlexa(ctx, cfg, o.Getenv, alexaSetup{store: h.store, shared: cl.account, readShared: true, clock: o.Clock,
		publish: h.publish, observe: h.engine.Metrics().ObserveAPICall, downResync: o.DownResync}, o.Log); err != nil {
		return err
	}
	if err := h.start(); err != nil {
		return err
	}
	cl.ruleOf = ruleProperties(cfg.Rules, cfg.Properties, h.current.Load())
	var props []cluster.Property
	for _, p := range cfg.Properties {
		props = append(props, cluster.Property{Name: p.Name, Devices: p.Devices})
	}
	for id, p := range cl.ruleOf {
		i := slices.IndexFunc(props, func(q cluster.Property) bool { return q.Name == p })
		props[i].Rules = append(props[i].Rules, id)
	}
	cl.router = cluster.NewRouter(props, h.rules)
	cl.view.Set(cl.router.Partitions(), cl.ruleOf)
	cl.node = cluster.NewNode(cluster.NodeOptions{Conn: conn, Name: cfg.Node, Partitions: cl.router.Partitions(),
		NewEngine: cl.partitionEngine, Account: cl.runAccount, Log: o.Log})
	o.Log.Info("cluster node started", "node", cfg.Node, "partitions", cl.router.Partitions())
	return h.run(ctx, ln, cl.node.Run, nil)
}

// ruleProperties maps each rule id to the property whose globs match its
// file (relative to the rules directory); rules in none are left out (the
// default partition's).
func ruleProperties(dir string, props []PropertyConfig, set *rules.Set) map[string]string {
	out := map[string]string{}
	for _, l := range set.Rules {
		rel, err := filepath.Rel(dir, l.Def.File)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = l.Def.File
		}
		rel = filepath.ToSlash(rel)
		for _, p := range props {
			if slices.ContainsFunc(p.Rules, func(g string) bool { ok, _ := path.Match(g, rel); return ok }) {
				out[l.Def.ID] = p.Name
				break
			}
		}
	}
	return out
}

// partitionEngine builds the engine of partition p with p's rules.
func (cl *clusterHost) partitionEngine(p string, st engine.Store) (*engine.Engine, error) {
	eng := cl.h.newEngine(st)
	var mine []*engine.Rule
	for _, r := range cl.h.rules {
		if cluster.PartitionOf(cl.ruleOf, r.ID) == p {
			mine = append(mine, r)
		}
	}
	if err := eng.SetRules(mine); err != nil {
		return nil, fmt.Errorf("partition %s: %w", p, err)
	}
	return eng, nil
}

// runAccount runs the account's sources (push, notification tracker,
// poller) while this node holds the account lease; they write through st,
// the store of this term of the lease.
func (cl *clusterHost) runAccount(ctx context.Context, st *cluster.Store) error {
	cl.account.setTerm(st)
	defer cl.account.setTerm(nil)
	errs := make(chan error, len(cl.h.rt.parts))
	for _, part := range cl.h.rt.parts {
		go func() { errs <- part(ctx) }()
	}
	var all []error
	for range cl.h.rt.parts {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// accountStore is the account's key-value space as the sources see it:
// they read it on any node (device():last() reads the readings), and
// write it through the store of this node's current term of the account
// lease (cluster.Conn.ClaimAccount), which is fenced: a former holder's
// writes, queued or retried, never land over the next holder's. Between
// terms writes are refused.
type accountStore struct {
	*cluster.Store // reads

	mu   sync.Mutex
	term *cluster.Store
}

// errNoAccountTerm refuses a write made while this node does not hold
// the account lease (a source's write after its term ended).
var errNoAccountTerm = errors.New("this node does not hold the account lease now")

func (a *accountStore) setTerm(st *cluster.Store) {
	a.mu.Lock()
	a.term = st
	a.mu.Unlock()
}

func (a *accountStore) writer(bucket, key string) (*cluster.Store, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.term == nil {
		return nil, fmt.Errorf("account store: write %s/%s: %w", bucket, key, errNoAccountTerm)
	}
	return a.term, nil
}

// Put writes through the term's store.
func (a *accountStore) Put(bucket, key string, value []byte) error {
	st, err := a.writer(bucket, key)
	if err != nil {
		return err
	}
	return st.Put(bucket, key, value)
}

// Delete deletes through the term's store.
func (a *accountStore) Delete(bucket, key string) error {
	st, err := a.writer(bucket, key)
	if err != nil {
		return err
	}
	return st.Delete(bucket, key)
}

// QueuePut queues on the term's store: its puts not written when the
// term ends are dropped, then told so.
func (a *accountStore) QueuePut(bucket, key string, value []byte, then func(error)) {
	st, err := a.writer(bucket, key)
	if err != nil {
		then(err)
		return
	}
	st.QueuePut(bucket, key, value, then)
}

var _ engine.PutQueuer = (*accountStore)(nil)

// publish sends ev to partition (its routed partitions when "") and then
// queues the source's own records of it (ev.Writes) on the account's
// store, in order with the sources' other writes there, retried until
// NATS takes them. The message id of an event with records is theirs, so
// a source that fires it again before its records were written (a crash
// between the two) publishes a duplicate the stream drops.
func (cl *clusterHost) publish(ctx context.Context, ev engine.Event, partition string) (engine.Event, error) {
	if ev.Time.IsZero() {
		ev.Time = cl.h.opts.Clock.Now()
	}
	if ev.ID == "" {
		ev.ID = cl.h.cfg.Node + "-" + cl.ids.Next(ev.Time)
	}
	parts := cl.router.Route(ev)
	if partition != "" {
		if !slices.Contains(cl.router.Partitions(), partition) {
			return ev, fmt.Errorf("%w: field \"partition\": %q is no partition (partitions: %s)", admin.ErrBadEvent, partition, strings.Join(cl.router.Partitions(), ", "))
		}
		parts = []string{partition}
	}
	msgID := ev.ID
	if len(ev.Writes) > 0 {
		msgID = writesID(ev.Writes)
	}
	for _, p := range parts {
		if err := cl.conn.Publish(ctx, p, ev, msgID); err != nil {
			return ev, fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
		}
	}
	for _, w := range ev.Writes {
		engine.QueuePut(cl.account, w.Bucket, w.Key, w.Value, func(err error) {
			if err != nil {
				cl.h.opts.Log.Error("store the record of an event", "event", ev.ID, "kind", ev.Kind, "err", err)
			}
		})
	}
	return ev, nil
}

// writesID names an event by its records: their keys and a digest of
// their values. The values count because one key may record successive
// events (a list's snapshot after each change).
func writesID(ws []engine.Write) string {
	h := sha256.New()
	keys := make([]string, 0, len(ws))
	for _, w := range ws {
		keys = append(keys, w.Bucket+"/"+w.Key)
		h.Write(w.Value)
		h.Write([]byte{0})
	}
	return "writes:" + strings.Join(keys, ",") + "#" + hex.EncodeToString(h.Sum(nil)[:12])
}

// publishSource publishes a source's event, retrying while NATS is away
// (Conn.Publish): the event waits in the source rather than being lost.
func (cl *clusterHost) publishSource(ev engine.Event) {
	if _, err := cl.publish(cl.ctx, ev, ""); err != nil {
		cl.h.opts.Log.Error("cluster: event not published before shutdown", "event", ev.ID, "kind", ev.Kind, "err", err)
	}
}

// Status is GET /api/cluster's answer.
type Status struct {
	Node       string            `json:"node"`
	Partitions []string          `json:"partitions"`
	Owners     map[string]string `json:"owners"`
	NATS       string            `json:"nats"`
	// Account is true on the node that runs the account's push connection
	// and polling.
	Account bool `json:"account"`
}

func (cl *clusterHost) status() any {
	st := Status{Node: cl.node.Name(), Partitions: cl.node.Owned(), Owners: cl.node.Owners(), NATS: "disconnected",
		Account: cl.node.Account()}
	if st.Partitions == nil {
		st.Partitions = []string{}
	}
	if cl.conn.Connected() {
		st.NATS = "connected"
	}
	return st
}

// adminServer turns srv into the cluster's admin API: events are published
// to the cluster, reads see every partition, reloads are not offered.
func (cl *clusterHost) adminServer(srv *admin.Server) {
	srv.Store = cl.view
	srv.Reload = nil
	srv.Cluster = cl.status
	srv.Publish = func(ev engine.Event, partition string) (engine.Event, error) {
		// Within a client's patience: a post answered 503 was not stored
		// (NATS gone for longer), one answered 202 was.
		ctx, cancel := context.WithTimeout(cl.ctx, adminPublishWait)
		defer cancel()
		return cl.publish(ctx, ev, partition)
	}
}
