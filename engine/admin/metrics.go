package admin

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alexarules/alexarules/engine"
)

// metricsHandler serves the engine's registry and the component gauges.
// Gathering copies every value before the first byte is written, so a
// slow scraper holds no lock that Publish or a run needs.
func (s *Server) metricsHandler() http.Handler {
	gatherers := prometheus.Gatherers{s.Engine.Metrics().Registry()}
	if s.Gauges != nil {
		components := prometheus.NewRegistry()
		components.MustRegister(gaugeCollector(s.Gauges))
		gatherers = append(gatherers, components)
	}
	return promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog: errorLog{s.log()},
		// A component's bad gauge is logged; the rest of the page is served.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// gaugeCollector reports the components' gauges, read at each scrape. It
// describes nothing up front (an unchecked collector) because the set of
// gauges depends on what the host wired.
type gaugeCollector func() []engine.Gauge

func (gaugeCollector) Describe(chan<- *prometheus.Desc) {}

func (g gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range g() {
		desc := prometheus.NewDesc(m.Name, m.Help, nil, nil)
		typ := prometheus.GaugeValue
		switch m.Type {
		case "counter":
			typ = prometheus.CounterValue
		case "gauge":
		default:
			ch <- prometheus.NewInvalidMetric(desc, fmt.Errorf("component metric %s: type %q: want gauge or counter", m.Name, m.Type))
			continue
		}
		metric, err := prometheus.NewConstMetric(desc, typ, m.Value)
		if err != nil {
			metric = prometheus.NewInvalidMetric(desc, fmt.Errorf("component metric %s: %w", m.Name, err))
		}
		ch <- metric
	}
}

// errorLog passes promhttp's errors to the server's logger.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.log.Error("metrics", "err", fmt.Sprint(v...))
}
