package engine

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// Metrics counts what the engine does, for /metrics.
type Metrics struct {
	mu         sync.Mutex
	events     map[string]uint64
	runs       map[[2]string]uint64 // rule, outcome
	runSeconds map[string]float64
	drops      atomic.Uint64
	depthDrops atomic.Uint64
	refused    atomic.Uint64 // events Accept refused with ErrOverloaded
}

func newMetrics() *Metrics {
	return &Metrics{events: map[string]uint64{}, runs: map[[2]string]uint64{}, runSeconds: map[string]float64{}}
}

func (m *Metrics) countEvent(kind string) {
	m.mu.Lock()
	m.events[kind]++
	m.mu.Unlock()
}

func (m *Metrics) observeRun(rule, outcome string, ms float64) {
	m.mu.Lock()
	m.runs[[2]string{rule, outcome}]++
	m.runSeconds[rule] += ms / 1000
	m.mu.Unlock()
}

// Gauge is one extra metric a component reports through the engine's
// /metrics page.
type Gauge struct {
	Name, Help, Type string // Type: "gauge" or "counter"
	Value            float64
}

// WritePrometheus writes the counters in the Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer, extra ...Gauge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP alexarules_events_total Events published, by kind.")
	fmt.Fprintln(w, "# TYPE alexarules_events_total counter")
	for _, k := range sortedKeys(m.events) {
		fmt.Fprintf(w, "alexarules_events_total{kind=%q} %d\n", k, m.events[k])
	}
	fmt.Fprintln(w, "# HELP alexarules_rule_runs_total Rule runs, by rule and outcome.")
	fmt.Fprintln(w, "# TYPE alexarules_rule_runs_total counter")
	keys := make([][2]string, 0, len(m.runs))
	for k := range m.runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "alexarules_rule_runs_total{rule=%q,outcome=%q} %d\n", k[0], k[1], m.runs[k])
	}
	fmt.Fprintln(w, "# HELP alexarules_rule_run_seconds_total Time spent in rule runs, by rule.")
	fmt.Fprintln(w, "# TYPE alexarules_rule_run_seconds_total counter")
	for _, k := range sortedKeys(m.runSeconds) {
		fmt.Fprintf(w, "alexarules_rule_run_seconds_total{rule=%q} %g\n", k, m.runSeconds[k])
	}
	fmt.Fprintln(w, "# HELP alexarules_events_dropped_total Jobs dropped because a reload removed their rule.")
	fmt.Fprintln(w, "# TYPE alexarules_events_dropped_total counter")
	fmt.Fprintf(w, "alexarules_events_dropped_total %d\n", m.drops.Load())
	fmt.Fprintln(w, "# HELP alexarules_chain_depth_drops_total Events dropped because a chain of rules went too deep.")
	fmt.Fprintln(w, "# TYPE alexarules_chain_depth_drops_total counter")
	fmt.Fprintf(w, "alexarules_chain_depth_drops_total %d\n", m.depthDrops.Load())
	fmt.Fprintln(w, "# HELP alexarules_events_refused_total Events refused (429) because the engine's backlog or a queued rule's queue was full.")
	fmt.Fprintln(w, "# TYPE alexarules_events_refused_total counter")
	fmt.Fprintf(w, "alexarules_events_refused_total %d\n", m.refused.Load())
	for _, g := range extra {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", g.Name, g.Help, g.Name, g.Type, g.Name, g.Value)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
