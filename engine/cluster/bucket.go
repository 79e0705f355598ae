package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ErrDone means a commit's done mark exists already: the run of that
// event by that rule was committed before (by this node or a former
// owner), and this commit changed nothing.
var ErrDone = errors.New("cluster: the run was committed already")

// ErrFenced means a commit was refused because the partition's owner key
// has a newer revision than the one this store was claimed with: another
// node took the partition over. Nothing of the batch was applied, and the
// store must not write again (Store.Fenced).
var ErrFenced = errors.New("cluster: the partition has a newer owner; commit refused")

// errBusy means the server refused a fenced batch because another batch
// checking the same owner key was still being applied (a clustered
// stream checks one at a time): nothing was applied, try again at once.
var errBusy = errors.New("cluster: owner key in use by another commit")

// errWrongSeq and errInProcess are JetStream's refusals of an expected
// last sequence: it differs, or the subject is being written by another
// batch in flight.
var (
	errWrongSeq  = errors.New("cluster: wrong last sequence")
	errInProcess = errors.New("cluster: wrong last sequence (subject in process)")
)

// fence ties a batch to the partition's ownership: one message of it
// expects the owner key's last revision to be seq, so the whole batch is
// refused once another node has claimed the partition (written the key).
type fence struct {
	owner string // the owner key, p.<partition>.owner
	mark  string // a key written only to carry the check, when no other can
	seq   uint64
}

// maxBatch is the server's default limit of messages in one atomic batch.
const maxBatch = 1000

// ErrBatchLimit means a batch has more keys than one atomic batch may
// hold (maxBatch, the fence's extra key counted): nothing of it was sent,
// and sending it again cannot help.
var ErrBatchLimit = errors.New("cluster: batch over the server's limit of keys")

// bucket writes the state bucket in atomic batches.
type bucket struct {
	nc   *nats.Conn
	kv   jetstream.KeyValue
	name string
}

// write is one change of a key in a batch.
type write struct {
	key   string
	value []byte
	del   bool
	// fresh requires that the key has never been written (not even
	// deleted since): the done mark's exactly-once check.
	fresh bool
	// expires makes the key go away after markerTTL (a done mark that no
	// Complete deletes: a timer firing's).
	expires bool
}

// commit applies ws all or nothing. A fresh key that exists fails the
// whole batch with ErrDone; with f set, a batch whose fence does not hold
// fails with ErrFenced.
func (b *bucket) commit(ctx context.Context, ws []write, f *fence) error {
	if len(ws) == 0 {
		return nil
	}
	checked := -1 // the write carrying f's check
	if f != nil {
		checked = slices.IndexFunc(ws, func(w write) bool { return !w.fresh })
		if checked < 0 {
			ws = append(slices.Clip(ws), write{key: f.mark, value: []byte("1")})
			checked = len(ws) - 1
		}
	}
	if len(ws) > maxBatch {
		return fmt.Errorf("%w: %d keys, limit %d", ErrBatchLimit, len(ws), maxBatch)
	}
	id := nuid.Next()
	for i, w := range ws {
		m := nats.NewMsg("$KV." + b.name + "." + w.key)
		m.Data = w.value
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if w.fresh {
			m.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
		}
		if i == checked {
			m.Header.Set("Nats-Expected-Last-Subject-Sequence", strconv.FormatUint(f.seq, 10))
			m.Header.Set("Nats-Expected-Last-Subject-Sequence-Subject", "$KV."+b.name+"."+f.owner)
		}
		if w.expires {
			m.Header.Set("Nats-TTL", markerTTL.String())
		}
		if w.del {
			m.Data = nil
			m.Header.Set("KV-Operation", "DEL")
			m.Header.Set("Nats-TTL", markerTTL.String())
		}
		if i < len(ws)-1 {
			if err := b.nc.PublishMsg(m); err != nil {
				return fmt.Errorf("cluster: commit: %w", err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		return b.refused(ctx, b.request(ctx, m), f)
	}
	return nil
}

// refused tells what a refusal of an expected last sequence meant: with a
// fence, the owner key is read again; if it moved, the batch was fenced
// off, else its done mark existed (or the owner key was being checked by
// another batch in flight: errBusy). Without a fence it is the done mark.
func (b *bucket) refused(ctx context.Context, err error, f *fence) error {
	if !errors.Is(err, errWrongSeq) && !errors.Is(err, errInProcess) {
		return err
	}
	if f != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		e, gerr := b.kv.Get(ctx, f.owner)
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			return ErrFenced
		case gerr != nil:
			return fmt.Errorf("cluster: commit refused; owner key unreadable: %w", gerr)
		case e.Revision() != f.seq:
			return ErrFenced
		case errors.Is(err, errInProcess):
			return errBusy
		}
	}
	return ErrDone
}

// pubAck is JetStream's answer to a publish.
type pubAck struct {
	Seq   uint64 `json:"seq"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func (b *bucket) request(ctx context.Context, m *nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := b.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return fmt.Errorf("cluster: commit: %w", err)
	}
	var ack pubAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return fmt.Errorf("cluster: commit: answer %q: %w", reply.Data, err)
	}
	if ack.Error == nil {
		return nil
	}
	switch ack.Error.ErrCode {
	case int(jetstream.JSErrCodeStreamWrongLastSequence):
		return errWrongSeq
	case int(jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return errInProcess
	}
	return fmt.Errorf("cluster: commit: %s (code %d)", ack.Error.Description, ack.Error.ErrCode)
}

// list returns every live key under prefix (a key ending in ".") with its
// value and revision, in revision order: the order they were written.
func (b *bucket) list(ctx context.Context, prefix string) ([]jetstream.KeyValueEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := b.kv.Watch(ctx, prefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("cluster: list %s: %w", prefix, err)
	}
	defer w.Stop()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("cluster: list %s: watcher closed", prefix)
			}
			if e == nil {
				return out, nil // caught up
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: list %s: %w", prefix, ctx.Err())
		}
	}
}

// get returns a key's value, nil when it has none.
func (b *bucket) get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: get %s: %w", key, err)
	}
	return e.Value(), nil
}
