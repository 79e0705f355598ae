package admin

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
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
	mux.HandleFunc("GET /api/rules/{id}/holds", s.holds)
	mux.HandleFunc("GET /api/gauges", s.gauges)
	if s.Feed != nil {
		mux.HandleFunc("GET /api/stream", s.live)
	}
}

func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", dashboardCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// holds answers GET /api/rules/{id}/holds: the running holds of the
// rule's stateful triggers, earliest first.
func (s *Server) holds(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.known(id) {
		writeRuleError(w, fmt.Errorf("%w %q", ErrUnknownRule, id))
		return
	}
	writeJSON(w, http.StatusOK, s.Engine.Holds(id))
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

// live upgrades GET /api/stream to a websocket and sends the Feed's
// events and runs as JSON text frames until the client goes away or the
// Feed closes (the server stops). Gorilla's default origin check refuses
// pages of other sites.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	// Subscribed before the handshake's answer: whatever is published
	// once the client has its connection reaches it.
	sub, cancel := s.Feed.subscribe(true)
	defer cancel()
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

// pump writes sub's messages to conn, and a "dropped" report when some
// were lost, until gone or the Feed closes or a write fails.
func (s *Server) pump(conn *websocket.Conn, sub *subscriber, gone <-chan struct{}) error {
	for {
		select {
		case <-gone:
			return nil
		case <-s.Feed.Done():
			msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server stopping")
			return conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		case m := <-sub.messages:
			if err := write(conn, m); err != nil {
				return err
			}
			if n := sub.unreported(); n > 0 {
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
