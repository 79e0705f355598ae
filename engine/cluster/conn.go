// Package cluster runs the engine as one node of a cluster on NATS
// JetStream: events travel through a stream, one subject per partition
// (a property), each partition is owned by one node at a time through a
// lease in a KV bucket, and everything a run commits lives in a KV bucket,
// written in one atomic batch with the run's done mark. docs/CLUSTER.md
// says how it works and how to deploy it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Options.
const (
	DefaultLeaseTTL = 5 * time.Second
	// markerTTL is how long a deleted key's marker stays: a redelivered
	// event whose inbox key is marked deleted is recognised as completed
	// for this long.
	markerTTL = 24 * time.Hour
	// dupWindow is how long the event stream recognises a republished
	// message id (schedule ticks fired by several nodes, a source retrying).
	dupWindow = 10 * time.Minute
)

// Conn is a node's connection to the cluster's JetStream.
type Conn struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	state  *bucket
	leases jetstream.KeyValue
	events jetstream.Stream
	logs   jetstream.Stream
	log    *slog.Logger
	ttl    time.Duration
	// replicas of the stream and buckets: 3 when the cluster names three
	// NATS servers or more (a server may die), else 1.
	replicas int
	// dropped counts traces and journal records never written.
	dropped atomic.Uint64
}

// Dropped counts the traces and journal records not written (NATS away).
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// Dial connects to the NATS servers urls (comma-separated nats://HOST:PORT)
// as node and makes sure the stream and buckets exist. The connection
// reconnects forever; while NATS is away, the node pauses.
func Dial(ctx context.Context, urls, node string, leaseTTL time.Duration, log *slog.Logger) (*Conn, error) {
	if leaseTTL <= 0 {
		leaseTTL = DefaultLeaseTTL
	}
	nc, err := nats.Connect(strings.TrimSpace(urls), nats.Name("alexarules "+node),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true),
		// No buffering while reconnecting: a publish either reaches NATS now
		// or fails, never lands later after its caller was told it failed.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("cluster: NATS disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("cluster: NATS reconnected", "url", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", urls, err)
	}
	c := &Conn{nc: nc, log: log, ttl: leaseTTL, replicas: 1}
	if len(strings.Split(urls, ",")) >= 3 {
		c.replicas = 3
	}
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := c.ensure(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Close ends the connection.
func (c *Conn) Close() { c.nc.Close() }

// Connected reports whether the connection is up now.
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// ensure creates the stream and buckets, retrying while the servers are
// not reachable yet (a node may start before NATS).
func (c *Conn) ensure(ctx context.Context) error {
	for {
		err := c.ensureOnce(ctx)
		if err == nil {
			return nil
		}
		c.log.Warn("cluster: set up the JetStream stream and buckets; retrying", "err", err)
		if !sleep(ctx, time.Second) {
			return fmt.Errorf("cluster: set up JetStream: %w", errors.Join(err, ctx.Err()))
		}
	}
}

func (c *Conn) ensureOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	events, logs := c.streamConfigs()
	var err error
	if c.events, err = c.ensureStream(ctx, events); err != nil {
		return fmt.Errorf("stream %s: %w", EventStream, err)
	}
	if c.logs, err = c.ensureStream(ctx, logs); err != nil {
		return fmt.Errorf("stream %s: %w", LogStream, err)
	}
	if c.leases, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LeaseBucket,
		TTL: c.ttl, Storage: jetstream.FileStorage, Replicas: c.replicas}); err != nil {
		return fmt.Errorf("bucket %s: %w", LeaseBucket, err)
	}
	kv, err := c.stateBucket(ctx)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", StateBucket, err)
	}
	c.state = &bucket{nc: c.nc, kv: kv, name: StateBucket}
	return nil
}

// streamConfigs are the configurations of the event and the log streams.
func (c *Conn) streamConfigs() (events, logs jetstream.StreamConfig) {
	events = jetstream.StreamConfig{Name: EventStream, Subjects: []string{eventSubjects}, Storage: jetstream.FileStorage,
		Duplicates: dupWindow, Replicas: c.replicas, MaxAge: 7 * 24 * time.Hour}
	logs = jetstream.StreamConfig{Name: LogStream, Subjects: []string{"alexarules.traces.>", "alexarules.journal.>"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1000, MaxMsgs: 200_000, MaxAge: 7 * 24 * time.Hour,
		Replicas: c.replicas}
	return events, logs
}

// ensureStream opens the stream of cfg, creating it, or updating it when
// one of the settings cfg makes differs. An update when nothing changed
// would still rewrite the stream's configuration on the server, and
// nats-server races that against consumers being created on the stream
// (every node connects, ensures, then consumes).
func (c *Conn) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := c.js.Stream(ctx, cfg.Name)
	if err == nil {
		var info *jetstream.StreamInfo
		if info, err = st.Info(ctx); err == nil && sameStream(info.Config, cfg) {
			return st, nil
		}
	}
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	return c.js.CreateOrUpdateStream(ctx, cfg)
}

// sameStream reports whether have already has the settings want makes
// (zero: the server's default, which have shows filled in).
func sameStream(have, want jetstream.StreamConfig) bool {
	orUnlimited := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	return slices.Equal(have.Subjects, want.Subjects) && have.Storage == want.Storage &&
		(want.Duplicates == 0 || have.Duplicates == want.Duplicates) &&
		max(have.Replicas, 1) == max(want.Replicas, 1) && have.MaxAge == want.MaxAge &&
		have.MaxMsgsPerSubject == orUnlimited(want.MaxMsgsPerSubject) && have.MaxMsgs == orUnlimited(want.MaxMsgs)
}

// stateBucket opens the state bucket, creating it with atomic batch
// publishing (one run's commit is one batch) and per-key TTLs (markers of
// deleted keys expire) when it does not exist.
func (c *Conn) stateBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, StateBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: StateBucket, History: 1,
			Storage: jetstream.FileStorage, LimitMarkerTTL: markerTTL, Replicas: c.replicas})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = c.js.KeyValue(ctx, StateBucket)
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := c.js.Stream(ctx, "KV_"+StateBucket)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if !info.Config.AllowAtomicPublish {
		cfg := info.Config
		cfg.AllowAtomicPublish = true
		if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("allow atomic batches: %w", err)
		}
	}
	return kv, nil
}
