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
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// ErrBadEvent is what Server.Publish wraps when the event itself is wrong
// (e.g. it names no known partition): answered 400.
var ErrBadEvent = errors.New("bad event")

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
	// Loads reports the latest load of the rule files, shown in /healthz
	// (a failed reload degrades it) and /api/rules (each file's error).
	Loads func() LoadReport
	// Account reports the Alexa account's sign-in, shown in /healthz (a
	// session that needs a new login degrades it); nil: no account kept
	// alive by the engine.
	Account func() AccountReport
	// Next computes a rule's upcoming schedule and cron fires (GET
	// /api/rules/{id}/next, next_fire in /api/rules); an unknown rule is
	// ErrUnknownRule. nil: no such route.
	Next func(rule string, from time.Time, count int) (NextReport, error)
	// Feed streams the engine's events (GET /api/events/stream) and its
	// events and runs (the dashboard's GET /api/stream) live; the engine's
	// OnEvent and OnRun hand them to it. nil: no such routes.
	Feed *Feed
	// Publish, when set, takes POST /api/events instead of Engine.Accept:
	// in cluster mode it publishes the event to the cluster's stream, to
	// partition when the body names one ("" otherwise).
	Publish func(ev engine.Event, partition string) (engine.Event, error)
	// AcceptWait is how long POST /api/events waits for room while the
	// engine's backlog is full before it answers 429 (engine.AcceptWithin);
	// 0 answers at once. Clients that send as fast as they are answered
	// are slowed down this way instead of spending the engine's CPU on
	// refusals.
	AcceptWait time.Duration
	// Cluster, when set, answers GET /api/cluster (the node and the
	// partitions it owns).
	Cluster func() any
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// AccountReport is the state of the Alexa sign-in the engine keeps alive.
type AccountReport struct {
	// LoginRequired is true once Amazon refused the stored sign-in for
	// good (e.g. the device was deregistered): only `alexarules login`
	// helps. Reason says what Amazon answered, without secrets.
	LoginRequired bool
	Reason        string
}

// LoadReport is the outcome of the latest load of the rule files: at
// start-up, or the latest reload (SIGHUP, POST /api/reload).
type LoadReport struct {
	// Reloaded is false until a reload has been tried.
	Reloaded bool
	// OK is whether the latest reload took effect; Time is when it ran.
	OK   bool
	Time time.Time
	// Errors are the latest load's, in the order found.
	Errors []LoadError
}

// LoadError is one error of a load; File is empty when the error is not
// about one rule file.
type LoadError struct {
	File string
	Err  string // "file:line: message"
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /api/rules", s.rules)
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("POST /api/events", s.publish)
	mux.HandleFunc("GET /api/runs", s.runs)
	mux.HandleFunc("GET /api/rules/{id}/state", s.state)
	mux.HandleFunc("GET /api/timers", s.timers)
	if s.Next != nil {
		mux.HandleFunc("GET /api/rules/{id}/next", s.next)
	}
	if s.Feed != nil {
		mux.HandleFunc("GET /api/events/stream", s.stream)
	}
	mux.HandleFunc("POST /api/rules/{id}/shadow", s.shadow)
	if s.Cluster != nil {
		mux.HandleFunc("GET /api/cluster", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, s.Cluster())
		})
	}
	mux.Handle("GET /metrics", s.metricsHandler())
	if s.Reload != nil {
		mux.HandleFunc("POST /api/reload", s.reload)
	}
	s.dashboard(mux)
	return mux
}

// health answers {"status":"ok"} once the engine runs; after a reload it
// adds the reload's outcome, and a failed reload makes it "degraded" (the
// old rules keep running, so the answer stays 200). An Alexa sign-in that
// must be renewed adds "alexa" and degrades it the same way: the rules
// that need no Amazon keep running.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil && !s.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	type reload struct {
		OK     bool      `json:"ok"`
		Time   time.Time `json:"time"`
		Errors []string  `json:"errors"`
	}
	type account struct {
		LoginRequired bool   `json:"login_required"`
		Reason        string `json:"reason"`
	}
	var body struct {
		Status string   `json:"status"`
		Reload *reload  `json:"reload,omitempty"`
		Alexa  *account `json:"alexa,omitempty"`
	}
	body.Status = "ok"
	if s.Loads != nil {
		if rep := s.Loads(); rep.Reloaded {
			body.Reload = &reload{OK: rep.OK, Time: rep.Time, Errors: make([]string, len(rep.Errors))}
			for i, e := range rep.Errors {
				body.Reload.Errors[i] = e.Err
			}
			if !rep.OK {
				body.Status = "degraded"
			}
		}
	}
	if s.Account != nil {
		if rep := s.Account(); rep.LoginRequired {
			body.Alexa = &account{LoginRequired: true, Reason: rep.Reason}
			body.Status = "degraded"
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// ruleStatus is a rule in GET /api/rules: the engine's description, its
// status, and its file's error; a file that failed with no rule running
// is an entry with an empty id.
type ruleStatus struct {
	engine.RuleInfo
	Status string `json:"status"` // running, disabled or error
	Error  string `json:"error,omitempty"`
	// NextFire is the rule's next scheduled fire, when it has a schedule.
	NextFire *time.Time `json:"next_fire,omitempty"`
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ruleList())
}

// ruleList is GET /api/rules: every running rule, then the files that
// failed to load with no rule running.
func (s *Server) ruleList() []ruleStatus {
	var rep LoadReport
	if s.Loads != nil {
		rep = s.Loads()
	}
	fileErrs := map[string][]string{}
	var files []string
	for _, e := range rep.Errors {
		if e.File == "" {
			continue
		}
		if fileErrs[e.File] == nil {
			files = append(files, e.File)
		}
		fileErrs[e.File] = append(fileErrs[e.File], e.Err)
	}
	infos := s.Engine.Rules()
	out := make([]ruleStatus, 0, len(infos))
	running := map[string]bool{}
	for _, info := range infos {
		st := ruleStatus{RuleInfo: info, Status: "running"}
		if !info.Enabled {
			st.Status = "disabled"
		}
		if errs := fileErrs[info.File]; errs != nil {
			st.Status, st.Error = "error", strings.Join(errs, "; ")
		}
		running[info.File] = true
		if s.Next != nil {
			if rep, err := s.Next(info.ID, s.Engine.Clock().Now(), 1); err == nil && len(rep.Fires) > 0 {
				st.NextFire = &rep.Fires[0].Time
			}
		}
		out = append(out, st)
	}
	for _, f := range files {
		if !running[f] {
			out = append(out, ruleStatus{RuleInfo: engine.RuleInfo{File: f, Triggers: []string{}},
				Status: "error", Error: strings.Join(fileErrs[f], "; ")})
		}
	}
	return out
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
	// Partition names the cluster partition (property) of the event; a
	// single engine has one and ignores it.
	Partition string `json:"partition"`
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	err := decodeEvent(w, r, &req)
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
	ev := engine.Event{Kind: engine.KindCustom, Name: req.Name, Data: req.Data}
	if s.Publish != nil {
		ev, err = s.Publish(ev, req.Partition)
	} else {
		ev, err = s.Engine.AcceptWithin(r.Context(), ev, s.AcceptWait)
	}
	switch {
	case errors.Is(err, engine.ErrOverloaded):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("POST /api/events: %w; retry later", err))
	case errors.Is(err, ErrBadEvent):
		writeError(w, http.StatusBadRequest, fmt.Errorf("POST /api/events: %w", err))
	case errors.Is(err, engine.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("POST /api/events: %w; retry later", err))
	case err != nil:
		writeError(w, http.StatusInternalServerError, fmt.Errorf("POST /api/events: %w", err))
	default:
		// 202 only once the event is durable: it runs even after a crash.
		writeAccepted(w, ev.ID)
	}
}

// writeAccepted answers 202 {"id": id} as writeJSON does, byte for byte,
// without its encoder, map and reflection (13 allocations of the 350 an
// event cost end to end): an event id is made of characters JSON leaves
// as they are; any other id goes through writeJSON.
func writeAccepted(w http.ResponseWriter, id string) {
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == ':') {
			writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	// Three writes into the server's buffered writer: a byte slice passed
	// to Write would escape to the heap.
	for _, s := range [...]string{"{\n  \"id\": \"", id, "\"\n}\n"} {
		_, _ = io.WriteString(w, s)
	}
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

// shadow turns a rule's shadow runs on or off: {"shadow": true}. The
// toggle is stored and outlives restarts and reloads.
func (s *Server) shadow(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Shadow *bool `json:"shadow"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Shadow == nil {
		if err == nil {
			err = errors.New(`field "shadow" is required`)
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("POST /api/rules/%s/shadow: body must be {\"shadow\": true|false}: %w", id, err))
		return
	}
	if err := s.Engine.SetShadow(id, *req.Shadow); err != nil {
		writeRuleError(w, fmt.Errorf("POST /api/rules/%s/shadow: %w", id, err))
		return
	}
	s.log().Info("shadow toggled", "rule", id, "shadow", *req.Shadow)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "shadow": *req.Shadow})
}

func limitParam(r *http.Request, def int) (int, error) { return intParam(r, "limit", def, 10000) }

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
