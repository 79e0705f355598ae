package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// AccountStore is the key-value space of the account's sources (poll
// readings, fired rings, push dedup), shared by the nodes: whichever node
// runs the sources next finds it. Its writes retry while NATS is away
// until life ends. It is not fenced: the sources write through the store
// of their term of the account lease (ClaimAccount); this one reads.
func (c *Conn) AccountStore(life context.Context) *Store {
	s := c.NewStore(life, "_account")
	s.prefix = "a."
	return s
}

// View is the admin API's store in cluster mode: it reads rule state,
// timers, traces and events of every partition, whichever node owns it.
// Its key-value space is the account's.
type View struct {
	*Store
	partitions []string
	ruleOf     map[string]string
}

// View returns a View; Set gives it the partitions.
func (c *Conn) View() *View { return &View{Store: c.AccountStore(context.Background())} }

// Set names the partitions; ruleOf maps rule ids to their property (rules
// in none are the default partition's). Call it before the view is read.
func (v *View) Set(partitions []string, ruleOf map[string]string) {
	v.partitions, v.ruleOf = slices.Clone(partitions), ruleOf
}

// ErrNotInCluster refuses what cluster mode does not do: writes through
// the admin API's engine, such as a shadow toggle, which would not reach
// the partitions' engines.
var ErrNotInCluster = errors.New("not available in cluster mode")

// Put refuses: the admin API's engine writes nothing in cluster mode.
func (v *View) Put(bucket, key string, _ []byte) error {
	return fmt.Errorf("%s/%s: %w", bucket, key, ErrNotInCluster)
}

// QueuePut refuses like Put.
func (v *View) QueuePut(bucket, key string, value []byte, then func(error)) {
	then(v.Put(bucket, key, value))
}

// Delete refuses like Put: the account's key-value space is the sources'
// (written through their term's fenced store).
func (v *View) Delete(bucket, key string) error { return v.Put(bucket, key, nil) }

// RuleState reads the state of rule in its partition.
// While NATS is away it waits up to viewWait for it.
func (v *View) RuleState(rule string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), viewWait)
	defer cancel()
	return v.c.NewStore(ctx, PartitionOf(v.ruleOf, rule)).RuleState(rule)
}

// viewWait bounds how long the admin API's reads wait for NATS.
const viewWait = 5 * time.Second

// Timers lists the pending timers of every partition.
func (v *View) Timers() ([]engine.TimerRecord, error) {
	var out []engine.TimerRecord
	for _, p := range v.partitions {
		ts, err := v.c.NewStore(context.Background(), p).Timers()
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

// Runs returns the newest traces of every partition (or of one rule).
func (v *View) Runs(rule string, limit int) ([]engine.Trace, error) {
	if rule != "" {
		return v.log.traces([]string{PartitionOf(v.ruleOf, rule)}, rule, limit)
	}
	return v.log.traces(v.partitions, "", limit)
}

// RecentEvents returns the newest journal entries of every partition.
func (v *View) RecentEvents(limit int) ([]engine.EventRecord, error) {
	return v.log.events(v.partitions, limit)
}
