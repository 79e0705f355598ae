package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// ErrUnknownRule is the error of a request about a rule that is not
// loaded (404): the engine's, so that its errors (SetShadow) match too.
var ErrUnknownRule = engine.ErrUnknownRule

// NextReport is the answer of GET /api/rules/{id}/next and what
// `alexarules next` prints: a rule's upcoming schedule and cron fires.
type NextReport struct {
	Rule    string     `json:"rule"`
	Enabled bool       `json:"enabled"` // a disabled rule's triggers do not fire
	From    time.Time  `json:"from"`
	Fires   []NextFire `json:"fires"`
}

// NextFire is one upcoming fire: its time in the trigger's time zone
// (Zone, an IANA name such as "Europe/Berlin"), the trigger as GET
// /api/rules shows it, and how daylight saving time shapes it ("" when it
// does not; see schedule.Fire).
type NextFire struct {
	Time    time.Time `json:"time"`
	Zone    string    `json:"zone"`
	Trigger string    `json:"trigger"`
	DST     string    `json:"dst,omitempty"`
}

// StateReport is the answer of GET /api/rules/{id}/state: the rule's
// persisted ctx.state (null when it has none yet).
type StateReport struct {
	Rule  string          `json:"rule"`
	State json.RawMessage `json:"state"`
}

// maxNextCount bounds ?count= of GET /api/rules/{id}/next.
const maxNextCount = 1000

// next answers GET /api/rules/{id}/next?count=N&from=RFC3339: the next
// count fires (default 10) at or after from (default now).
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	count, err := intParam(r, "count", 10, maxNextCount)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	from := s.Engine.Clock().Now()
	if v := r.URL.Query().Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("from: an RFC 3339 time expected (2026-03-29T00:00:00+01:00), got %q", v))
			return
		}
	}
	rep, err := s.Next(r.PathValue("id"), from, count)
	if err != nil {
		writeRuleError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// state answers GET /api/rules/{id}/state.
func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := s.Store.RuleState(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if st == nil && !s.known(id) {
		writeRuleError(w, fmt.Errorf("%w %q", ErrUnknownRule, id))
		return
	}
	writeJSON(w, http.StatusOK, StateReport{Rule: id, State: st})
}

// known reports whether the engine has rule id loaded.
func (s *Server) known(id string) bool {
	return slices.ContainsFunc(s.Engine.Rules(), func(info engine.RuleInfo) bool { return info.ID == id })
}

// timers answers GET /api/timers?rule=ID: the pending durable timers,
// earliest due first, of one rule or of all.
func (s *Server) timers(w http.ResponseWriter, r *http.Request) {
	all, err := s.Store.Timers()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := []engine.TimerRecord{}
	rule := r.URL.Query().Get("rule")
	for _, t := range all {
		if rule == "" || t.Rule == rule {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// stream answers GET /api/events/stream with Server-Sent Events: one
// `data: {event}` message per event the engine takes from now on, and a
// `event: dropped` message with `{"dropped": N}` when the client fell
// behind and lost N. It ends when the client goes or the server stops.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	flush := http.NewResponseController(w).Flush
	sub, cancel := s.Feed.subscribe(false)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.Feed.Done():
			return
		case m := <-sub.messages:
			if b, err := json.Marshal(m.Event); err == nil { // else not JSON-encodable (NaN): the journal has it
				fmt.Fprintf(w, "data: %s\n\n", b)
			}
			if n := sub.unreported(); n > 0 {
				fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", n)
			}
			if flush() != nil {
				return
			}
		}
	}
}

func writeRuleError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrUnknownRule) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeError(w, http.StatusInternalServerError, err)
}

// intParam reads the whole-number query parameter name, from 1 to max.
func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%s: a whole number from 1 to %d expected, got %q", name, max, v)
	}
	return n, nil
}
