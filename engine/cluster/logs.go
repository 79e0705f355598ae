package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/nats-io/nats.go/jetstream"
)

// logs writes traces and the recent-events journal to the log stream
// behind the hot path, and reads the newest of them back.
type logs struct{ c *Conn }

func (l *logs) publish(subject string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		l.c.log.Warn("cluster: encode a log record", "subject", subject, "err", err)
		return
	}
	if _, err := l.c.js.PublishAsync(subject, b); err != nil {
		// Counted (Conn.Dropped) rather than logged one by one: while NATS
		// is away every trace would log.
		l.c.dropped.Add(1)
		l.c.log.Debug("cluster: log record not written", "subject", subject, "err", err)
	}
}

func (l *logs) trace(partition string, t engine.Trace) {
	l.publish(traceSubject(partition, t.Rule), t)
}

func (l *logs) event(partition string, ev engine.EventRecord) {
	l.publish(journalSubject(partition), ev)
}

// traces returns up to limit traces of rule ("" all) in partitions,
// newest first.
func (l *logs) traces(partitions []string, rule string, limit int) ([]engine.Trace, error) {
	var filters []string
	for _, p := range partitions {
		if rule == "" {
			filters = append(filters, "alexarules.traces."+p+".>")
		} else {
			filters = append(filters, traceSubject(p, rule))
		}
	}
	return newest[engine.Trace](l.c, filters, limit)
}

// events returns up to limit journal entries of partitions, newest first.
func (l *logs) events(partitions []string, limit int) ([]engine.EventRecord, error) {
	var filters []string
	for _, p := range partitions {
		filters = append(filters, journalSubject(p))
	}
	return newest[engine.EventRecord](l.c, filters, limit)
}

// newest reads the last limit messages on filters, newest first: it reads
// from a window before the stream's end and widens it until it holds
// limit matches or reaches the start.
func newest[T any](c *Conn, filters []string, limit int) ([]T, error) {
	if limit <= 0 || len(filters) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := c.logs.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: log stream: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if last == 0 || info.State.Msgs == 0 {
		return nil, nil
	}
	for window := uint64(limit) * 8; ; window *= 4 {
		start := first
		if last > window && last-window > first {
			start = last - window
		}
		out, err := readFrom[T](ctx, c, filters, start, last)
		if err != nil {
			return nil, err
		}
		if len(out) >= limit || start == first {
			slices.Reverse(out)
			return out[:min(limit, len(out))], nil
		}
	}
}

// readFrom reads the messages on filters from sequence start to last.
func readFrom[T any](ctx context.Context, c *Conn, filters []string, start, last uint64) ([]T, error) {
	cons, err := c.logs.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return nil, fmt.Errorf("cluster: read the log: %w", err)
	}
	var out []T
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return nil, fmt.Errorf("cluster: read the log: %w", err)
		}
		n := 0
		var seq uint64
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err == nil {
				seq = md.Sequence.Stream
			}
			var v T
			if json.Unmarshal(m.Data(), &v) == nil {
				out = append(out, v)
			}
			if err == nil && md.NumPending == 0 {
				return out, nil
			}
		}
		if batch.Error() != nil {
			return nil, fmt.Errorf("cluster: read the log: %w", batch.Error())
		}
		if n == 0 || seq >= last {
			return out, nil
		}
	}
}
