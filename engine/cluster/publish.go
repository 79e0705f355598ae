package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/nats-io/nats.go"
)

// Property is a named set of devices and rules: one partition.
type Property struct {
	Name string
	// Devices are endpoint or Echo names (any case) or ids.
	Devices []string
	// Rules are the ids of the property's rules.
	Rules []string
}

// Router finds the partitions an event goes to.
type Router struct {
	partitions []string
	byDevice   map[string]string   // lower-case name or id → partition
	byName     map[string][]string // custom event name → partitions whose rules take it
	anyName    []string            // partitions with a rule taking every custom event
	ruleOf     map[string]string   // rule id → property
}

// NewRouter indexes the properties and the rules (id → triggers) of every
// partition; rules in no property are the default partition's.
func NewRouter(props []Property, rules []*engine.Rule) *Router {
	ruleOf := map[string]string{}
	r := &Router{byDevice: map[string]string{}, byName: map[string][]string{}, ruleOf: ruleOf}
	for _, p := range props {
		r.partitions = append(r.partitions, p.Name)
		for _, d := range p.Devices {
			r.byDevice[strings.ToLower(d)] = p.Name
		}
		for _, id := range p.Rules {
			ruleOf[id] = p.Name
		}
	}
	if !slices.Contains(r.partitions, DefaultPartition) {
		r.partitions = append(r.partitions, DefaultPartition)
	}
	slices.Sort(r.partitions)
	for _, rule := range rules {
		p := PartitionOf(ruleOf, rule.ID)
		for _, t := range rule.Triggers {
			if t.Kind != engine.KindCustom {
				continue
			}
			if len(t.Keys) == 0 {
				r.anyName = appendNew(r.anyName, p)
			}
			for _, k := range t.Keys {
				r.byName[k] = appendNew(r.byName[k], p)
			}
		}
	}
	return r
}

// PartitionOf is the partition of rule given the property of each rule id.
func PartitionOf(ruleOf map[string]string, rule string) string {
	if p := ruleOf[rule]; p != "" {
		return p
	}
	return DefaultPartition
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// Partitions lists every partition, sorted.
func (r *Router) Partitions() []string { return slices.Clone(r.partitions) }

// Route returns the partitions ev goes to: a targeted event's (a schedule
// tick's) rule's; a device's property (default for a device in none); for
// a custom event, the partitions whose rules take its name (default when
// none does).
func (r *Router) Route(ev engine.Event) []string {
	if ev.Target != "" {
		return []string{PartitionOf(r.ruleOf, ev.Target)}
	}
	if ev.Device != nil {
		for _, k := range []string{ev.Device.ID, strings.ToLower(ev.Device.Name)} {
			if p := r.byDevice[k]; k != "" && p != "" {
				return []string{p}
			}
		}
		return []string{DefaultPartition}
	}
	if ev.Kind == engine.KindCustom {
		out := slices.Clone(r.anyName)
		for _, p := range r.byName[ev.Name] {
			out = appendNew(out, p)
		}
		if len(out) > 0 {
			slices.Sort(out)
			return out
		}
	}
	return []string{DefaultPartition}
}

// Publish writes ev to partition's subject of the event stream and waits
// for the stream to store it, trying again until ctx ends. msgID (default the event id) lets the stream
// drop a second publish of the same event, e.g. a schedule tick fired by
// two nodes.
func (c *Conn) Publish(ctx context.Context, partition string, ev engine.Event, msgID string) error {
	ev.Writes = nil
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("cluster: encode event %s: %w", ev.ID, err)
	}
	m := nats.NewMsg(EventSubject(partition, ev.Kind))
	m.Data = b
	if msgID == "" {
		msgID = ev.ID
	}
	m.Header.Set(nats.MsgIdHdr, partition+"/"+msgID)
	// A failed attempt may have been stored all the same (its answer was
	// lost): the attempts share the message id, so the stream keeps one.
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = c.js.PublishMsg(actx, m)
		cancel()
		if err == nil {
			return nil
		}
		if !sleep(ctx, wait) {
			return fmt.Errorf("cluster: publish event %s to %s: %w", ev.ID, partition, err)
		}
	}
}
