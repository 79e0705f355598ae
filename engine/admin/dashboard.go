package admin

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/engine"
)

// ui is the dashboard: plain HTML, CSS and JavaScript, no build step and
// nothing loaded from elsewhere, so it works offline.
//
//go:embed ui
var ui embed.FS

// dashboardCSP lets the page load only its own files and open only its
// own stream: rule data shown in it can never pull in a script.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// streamWriteTimeout bounds one write to a live stream: a reader that
// stops reading is dropped instead of holding its goroutine.
const streamWriteTimeout = 10 * time.Second

// nextFires is how many upcoming fires GET /api/rules/{id} lists.
const nextFires = 5

// dashboard adds the dashboard's page, files and JSON routes to mux.
func (s *Server) dashboard(mux *http.ServeMux) {
	files, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	static := http.FileServerFS(files)
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	if s.Reload != nil { // the page offers POST /api/reload only where it exists
		page = bytes.Replace(page, []byte("<body>"), []byte(`<body data-reload="on">`), 1)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	})
	mux.Handle("GET /ui/", http.StripPrefix("/ui", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		static.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /api/rules/{id}", s.rule)
	mux.HandleFunc("GET /api/gauges", s.gauges)
	mux.HandleFunc("GET /api/stream", s.stream)
}

func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", dashboardCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// ruleDetail is GET /api/rules/{id}: the rule as /api/rules lists it,
// its committed state, its pending durable timers, its running holds and
// its next scheduled fires.
type ruleDetail struct {
	ruleStatus
	State  json.RawMessage      `json:"state"`
	Timers []engine.TimerRecord `json:"timers"`
	Holds  []engine.Hold        `json:"holds"`
	Next   []time.Time          `json:"next"`
}

func (s *Server) rule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	list := s.ruleList()
	i := slices.IndexFunc(list, func(st ruleStatus) bool { return st.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, fmt.Errorf("GET /api/rules/%s: no rule with id %q", id, id))
		return
	}
	d := ruleDetail{ruleStatus: list[i], Timers: []engine.TimerRecord{}, Holds: s.Engine.Holds(id), Next: []time.Time{}}
	state, err := s.Store.RuleState(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("GET /api/rules/%s: state: %w", id, err))
		return
	}
	d.State = state
	timers, err := s.Store.Timers()
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("GET /api/rules/%s: timers: %w", id, err))
		return
	}
	for _, t := range timers {
		if t.Rule == id {
			d.Timers = append(d.Timers, t)
		}
	}
	slices.SortFunc(d.Timers, func(a, b engine.TimerRecord) int { return a.Due.Compare(b.Due) })
	if s.Next != nil {
		d.Next = append(d.Next, s.Next(id, nextFires)...)
	}
	writeJSON(w, http.StatusOK, d)
}

// gauge is one of GET /api/gauges: a /metrics value as JSON.
type gauge struct {
	Name  string  `json:"name"`
	Help  string  `json:"help"`
	Type  string  `json:"type"`
	Value float64 `json:"value"`
}

func (s *Server) gauges(w http.ResponseWriter, r *http.Request) {
	out := []gauge{}
	if s.Gauges != nil {
		for _, g := range s.Gauges() {
			out = append(out, gauge{Name: g.Name, Help: g.Help, Type: g.Type, Value: g.Value})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// stream upgrades to a websocket and sends the Feed's messages as JSON
// text frames until the client goes away or the server stops (Done).
// Gorilla's default origin check refuses pages of other sites.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.Feed == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("GET /api/stream: no live feed on this server"))
		return
	}
	// Subscribed before the handshake's answer: whatever is published
	// once the client has its connection reaches it.
	sub := s.Feed.subscribe()
	defer s.Feed.unsubscribe(sub)
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the request
	}
	// The reader notices the client closing; the stream sends only.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	err = s.pump(conn, sub, gone)
	conn.Close() // ends the reader if the pump stopped first
	<-gone
	if err != nil {
		s.log().Debug("live stream ended", "err", err)
	}
}

// pump writes sub's messages to conn, then a "dropped" report when some
// were lost, until gone or s.Done closes or a write fails.
func (s *Server) pump(conn *websocket.Conn, sub *subscription, gone <-chan struct{}) error {
	for {
		select {
		case <-gone:
			return nil
		case <-s.Done:
			msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server stopping")
			return conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		case m := <-sub.ch:
			if err := write(conn, m); err != nil {
				return err
			}
			if n := sub.dropped.Swap(0); n > 0 {
				if err := write(conn, FeedMessage{Type: "dropped", Dropped: n}); err != nil {
					return err
				}
			}
		}
	}
}

func write(conn *websocket.Conn, m FeedMessage) error {
	if err := conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
		return err
	}
	return conn.WriteJSON(m)
}
