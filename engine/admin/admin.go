// Package admin serves the admin API of INTERFACES.md: health, rules,
// events (read and publish), run traces and Prometheus metrics.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/alexarules/alexarules/engine"
)

// Server is the admin API of one engine.
type Server struct {
	Engine *engine.Engine
	Store  engine.Store
	Log    *slog.Logger
	// Ready reports whether rules are loaded and the engine runs.
	Ready func() bool
	// Gauges adds component metrics (store, scheduler, poller) to /metrics.
	Gauges func() []engine.Gauge
	// Reload loads the rule files again (POST /api/reload): the number of
	// rules now running, or the errors that kept the old ones running.
	Reload func() (int, []error)
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /api/rules", s.rules)
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("POST /api/events", s.publish)
	mux.HandleFunc("GET /api/runs", s.runs)
	mux.HandleFunc("GET /metrics", s.metrics)
	if s.Reload != nil {
		mux.HandleFunc("POST /api/reload", s.reload)
	}
	return mux
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil && !s.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Engine.Rules())
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	evs, err := s.Store.RecentEvents(limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if evs == nil {
		evs = []engine.EventRecord{}
	}
	writeJSON(w, http.StatusOK, evs)
}

// maxEventBody bounds a POST /api/events body.
const maxEventBody = 1 << 20

type publishRequest struct {
	Name string         `json:"name"`
	Data map[string]any `json:"data"`
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEventBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		// A second value after the event would be answered 202 and lost.
		if _, terr := dec.Token(); terr != io.EOF {
			err = fmt.Errorf("offset %d: unexpected data after the event object", dec.InputOffset())
		}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, errors.New("POST /api/events: the body is larger than 1 MiB"))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("POST /api/events: body must be {\"name\": \"...\", \"data\": {...}}: %w", err))
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		writeError(w, http.StatusBadRequest, errors.New("POST /api/events: field \"name\" is required"))
		return
	}
	now := s.Engine.Clock().Now()
	ev := engine.Event{ID: s.Engine.NewID(now), Kind: engine.KindCustom, Time: now, Name: req.Name, Data: req.Data}
	s.Engine.Publish(ev)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": ev.ID})
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, 50)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	traces, err := s.Store.Runs(r.URL.Query().Get("rule"), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if traces == nil {
		traces = []engine.Trace{}
	}
	writeJSON(w, http.StatusOK, traces)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var extra []engine.Gauge
	if s.Gauges != nil {
		extra = s.Gauges()
	}
	s.Engine.Metrics().WritePrometheus(w, extra...)
}

// reload answers 200 {"rules": n}, or 422 {"errors": [...]} when a rule
// file has an error (the running rules then stay).
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	n, errs := s.Reload()
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, err := range errs {
			msgs[i] = err.Error()
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string][]string{"errors": msgs})
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"rules": n})
}

func limitParam(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return 0, fmt.Errorf("limit: a whole number from 1 to 10000 expected, got %q", v)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
