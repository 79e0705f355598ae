package host_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/store"
)

// running is a host started in-process.
type running struct {
	t      *testing.T
	base   string
	stop   context.CancelFunc
	done   chan error
	logs   *logRecorder
	client *http.Client
}

// startHost runs a host on the rules in dir with the admin API on a free
// port; the test's end stops it.
func startHost(t *testing.T, o host.Options) *running {
	t.Helper()
	if o.Config.Admin == "" {
		o.Config.Admin = "127.0.0.1:0"
	}
	if o.Config.Data == "" {
		o.Config.Data = filepath.Join(t.TempDir(), "h.db")
	}
	r := &running{t: t, done: make(chan error, 1), logs: &logRecorder{},
		client: &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}}
	o.Log = slog.New(r.logs)
	ready := make(chan string, 1)
	o.AdminReady = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- host.Run(ctx, o) }()
	t.Cleanup(func() { r.shutdown() })
	select {
	case addr := <-ready:
		r.base = "http://" + addr
	case err := <-r.done:
		t.Fatalf("host.Run: %v", err)
	}
	r.waitFor("the engine to run", func() bool { s, _ := r.do("GET", "/healthz", ""); return s == http.StatusOK })
	return r
}

// shutdown stops the host and returns what Run returned.
func (r *running) shutdown() error {
	r.stop()
	r.client.CloseIdleConnections()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		r.t.Fatal("the host did not stop")
		return nil
	}
}

func (r *running) do(method, path, body string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (r *running) getJSON(path string, v any) {
	r.t.Helper()
	status, body := r.do("GET", path, "")
	if status != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		r.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func (r *running) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logRecorder keeps every log record and tells waiters about messages.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	waiters map[string]chan struct{}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	for prefix, ch := range l.waiters {
		if strings.HasPrefix(r.Message, prefix) {
			close(ch)
			delete(l.waiters, prefix)
		}
	}
	return nil
}

// logged is closed once a record whose message starts with prefix is
// logged from now on.
func (l *logRecorder) logged(prefix string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiters == nil {
		l.waiters = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	l.waiters[prefix] = ch
	return ch
}

// errorsLogged lists the err attribute of every ERROR record.
func (l *logRecorder) errorsLogged() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level < slog.LevelError {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

func write(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailuresAreConfigOrRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "r" { when = event "x", run = function() end }`)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	inUse, err := store.Open(filepath.Join(t.TempDir(), "busy.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()
	for _, tc := range []struct {
		name   string
		cfg    host.Config
		config bool
		want   string
	}{
		{"no rules", host.Config{}, true, "--rules"},
		{"missing rules dir", host.Config{Rules: filepath.Join(dir, "nope")}, true, "nope"},
		{"missing rules dir, admin address taken", host.Config{Rules: filepath.Join(dir, "nope"), Admin: taken.Addr().String()}, true, "nope"},
		{"bad push", host.Config{Rules: dir, Push: "pigeon"}, true, "--push"},
		{"admin address taken", host.Config{Rules: dir, Admin: taken.Addr().String()}, false, "admin API"},
		{"data file in use", host.Config{Rules: dir, Admin: "off", Data: inUse.Path()}, false, "in use"},
	} {
		if tc.cfg.Data == "" {
			// Never the default data file in the package directory.
			tc.cfg.Data = filepath.Join(t.TempDir(), "alexarules.db")
		}
		if tc.cfg.Admin == "" {
			// Nor the default admin address: a demo running on the same
			// machine holds 127.0.0.1:8080.
			tc.cfg.Admin = "off"
		}
		err := host.Run(context.Background(), host.Options{Config: tc.cfg})
		if err == nil || host.IsConfigError(err) != tc.config || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (config error: %t), want config error %t mentioning %q", tc.name, err, host.IsConfigError(err), tc.config, tc.want)
		}
	}
}
