package engine

import (
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
			Name: "alexarules_events_dropped_total", Help: "Events dropped because a rule's inbox was full.",
		}),
		depthDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alexarules_chain_depth_drops_total", Help: "Events dropped because a chain of rules went too deep.",
		}),
	}
	m.reg.MustRegister(m.events, m.runs, m.runSeconds, m.runDuration, m.runLatency, m.apiLatency,
		m.drops, m.depthDrops,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry holds the engine's metrics, the Go runtime's and the
// process's; components may register their own collectors in it, and
// /metrics gathers from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) countEvent(kind string) {
	m.events.WithLabelValues(kind).Inc()
}

// observeRun records a run that took place: its outcome, its wall-clock
// duration and how long after its event it started (by the engine clock).
func (m *Metrics) observeRun(tr Trace, ev *Event) {
	seconds := tr.DurationMS / 1000
	m.runs.WithLabelValues(tr.Rule, tr.Outcome).Inc()
	m.runSeconds.WithLabelValues(tr.Rule).Add(seconds)
	m.runDuration.WithLabelValues(tr.Outcome).Observe(seconds)
	if ev != nil {
		// Sources may stamp events with a remote clock a little ahead.
		m.runLatency.WithLabelValues(ev.Kind).Observe(max(0, tr.Started.Sub(ev.Time).Seconds()))
	}
}

// observeSkip counts a run the rule's mode or throttle skipped before it
// began: it has neither a duration nor a start.
func (m *Metrics) observeSkip(rule string) {
	m.runs.WithLabelValues(rule, OutcomeSkipped).Inc()
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
