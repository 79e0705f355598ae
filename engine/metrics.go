package engine

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics counts what the engine does, for /metrics. Its counters and
// histograms live in one registry per engine (never the global default
// one); recording takes no lock a scrape holds while it writes.
type Metrics struct {
	reg *prometheus.Registry

	events      *prometheus.CounterVec
	runs        *prometheus.CounterVec
	runSeconds  *prometheus.CounterVec
	runDuration *prometheus.HistogramVec
	runLatency  *prometheus.HistogramVec
	apiLatency  *prometheus.HistogramVec
	drops       prometheus.Counter
	depthDrops  prometheus.Counter
	refused     prometheus.Counter // events Accept refused with ErrOverloaded

	// The vectors' children by label value, looked up once: a run then
	// costs map loads and atomic adds instead of hashing its labels under
	// each vector's lock.
	eventsOf   seriesCache[prometheus.Counter]  // kind
	rulesOf    seriesCache[*ruleSeries]         // rule
	durationOf seriesCache[prometheus.Observer] // outcome
	latencyOf  seriesCache[prometheus.Observer] // event kind
}

// ruleSeries are one rule's counters.
type ruleSeries struct {
	seconds prometheus.Counter
	runsOf  seriesCache[prometheus.Counter] // outcome
}

// seriesCache maps a label value to its series, made by get on first use.
type seriesCache[T any] struct {
	m   sync.Map
	get func(label string) T
}

func (c *seriesCache[T]) of(label string) T {
	if v, ok := c.m.Load(label); ok {
		return v.(T)
	}
	v, _ := c.m.LoadOrStore(label, c.get(label))
	return v.(T)
}

// newMetrics registers the engine's metrics. Histogram buckets are in
// seconds: a run's default timeout is 5 s and rules may raise it; events
// normally reach their runs in milliseconds, but a queue behind a slow rule
// can take minutes; Amazon's APIs answer in tens to hundreds of
// milliseconds, and the clients give up after 30 s.
func newMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alexarules_events_total", Help: "Events published, by kind.",
		}, []string{"kind"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alexarules_rule_runs_total", Help: "Rule runs, by rule and outcome.",
		}, []string{"rule", "outcome"}),
		runSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alexarules_rule_run_seconds_total", Help: "Time spent in rule runs, by rule.",
		}, []string{"rule"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "alexarules_rule_run_duration_seconds", Help: "Duration of rule runs, by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"outcome"}),
		runLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alexarules_event_to_run_seconds",
			Help:    "Time from an event to the start of a run it triggered, by event kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"kind"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alexarules_api_call_duration_seconds",
			Help:    "Duration of Amazon API requests (each attempt) until the response headers, by API family and result.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api", "result"}),
		drops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alexarules_events_dropped_total", Help: "Queued events dropped because a reload removed or disabled their rule.",
		}),
		depthDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alexarules_chain_depth_drops_total", Help: "Events dropped because a chain of rules went too deep.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alexarules_events_refused_total",
			Help: "Events refused (429) because the engine's backlog or a queued rule's queue was full.",
		}),
	}
	m.eventsOf.get = func(kind string) prometheus.Counter { return m.events.WithLabelValues(kind) }
	m.durationOf.get = func(outcome string) prometheus.Observer { return m.runDuration.WithLabelValues(outcome) }
	m.latencyOf.get = func(kind string) prometheus.Observer { return m.runLatency.WithLabelValues(kind) }
	m.rulesOf.get = func(rule string) *ruleSeries {
		rs := &ruleSeries{seconds: m.runSeconds.WithLabelValues(rule)}
		rs.runsOf.get = func(outcome string) prometheus.Counter { return m.runs.WithLabelValues(rule, outcome) }
		return rs
	}
	m.reg.MustRegister(m.events, m.runs, m.runSeconds, m.runDuration, m.runLatency, m.apiLatency,
		m.drops, m.depthDrops, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// backlog registers the gauges of the engine's backlog, read by of at
// each scrape.
func (m *Metrics) backlog(of func() Backlog) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "alexarules_backlog_events",
			Help: "Accepted events whose runs have not all finished (max_backlog bounds them).",
		}, func() float64 { return float64(of().Events) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "alexarules_accepts_waiting",
			Help: "POST /api/events requests held while the backlog is full, waiting for room (accept_wait).",
		}, func() float64 { return float64(of().Waiting) }))
}

// cpuLimit registers the gauges of the parallel rules' CPU cap (l has a
// Bound).
func (m *Metrics) cpuLimit(l CPULimit) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "alexarules_cpu_bound",
			Help: "1 while the process has more work ready than CPUs to run it: parallel rules then run at most alexarules_parallel_cap_runs at once.",
		}, func() float64 {
			if l.Bound() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "alexarules_parallel_cap_runs",
			Help: "Runs of one parallel rule at once while alexarules_cpu_bound is 1 (procs.parallel_per_cpu per P).",
		}, func() float64 { return float64(l.Runs) }))
}

// Registry holds the engine's metrics, the Go runtime's and the
// process's; components may register their own collectors in it, and
// /metrics gathers from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) countEvent(kind string) {
	m.eventsOf.of(kind).Inc()
}

// observeRun records a run that took place: its outcome, its wall-clock
// duration and how long after its event it started (by the engine clock).
func (m *Metrics) observeRun(tr Trace, ev *Event) {
	seconds := tr.DurationMS / 1000
	rs := m.rulesOf.of(tr.Rule)
	rs.runsOf.of(tr.Outcome).Inc()
	rs.seconds.Add(seconds)
	m.durationOf.of(tr.Outcome).Observe(seconds)
	if ev != nil {
		// Sources may stamp events with a remote clock a little ahead.
		m.latencyOf.of(ev.Kind).Observe(max(0, tr.Started.Sub(ev.Time).Seconds()))
	}
}

// observeSkip counts a run the rule's mode or throttle skipped before it
// began: it has neither a duration nor a start.
func (m *Metrics) observeSkip(rule string) {
	m.rulesOf.of(rule).runsOf.of(OutcomeSkipped).Inc()
}

// ObserveAPICall records one request to an Amazon API: api is its family
// (features, auth, web, push), result its class
// (2xx, 3xx, 4xx, 429, 5xx, or error when no response came), d the time
// until the response headers or the failure. The Alexa clients take it as
// their Observe option.
func (m *Metrics) ObserveAPICall(api, result string, d time.Duration) {
	m.apiLatency.WithLabelValues(api, result).Observe(d.Seconds())
}

// Gauge is one extra metric a component reports through the engine's
// /metrics page, read at each scrape.
type Gauge struct {
	Name, Help, Type string // Type: "gauge" or "counter"
	Value            float64
}
