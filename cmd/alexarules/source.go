package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/spf13/cobra"
)

// source is where the inspecting commands (trace, state, timers, events)
// read: a running engine's admin API, or a data file no engine holds.
type source interface {
	runs(ctx context.Context, rule string, n int) ([]engine.Trace, error)
	state(ctx context.Context, rule string) (admin.StateReport, error)
	timers(ctx context.Context, rule string) ([]engine.TimerRecord, error)
	events(ctx context.Context, n int) ([]engine.EventRecord, error)
	close()
}

// sourceFlags are the flags that pick a source.
type sourceFlags struct {
	admin, data string
	json        bool
}

func (f *sourceFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.admin, "admin", "", "ask the running engine's admin API at URL (e.g. http://127.0.0.1:8080)")
	c.Flags().StringVar(&f.data, "data", "", "read this data file when no engine runs (default "+host.DefaultData+")")
	c.Flags().BoolVar(&f.json, "json", false, "print JSON (the admin API's) instead of text")
}

// open returns the admin API with --admin, else the data file read-only.
func (f *sourceFlags) open() (source, error) {
	if f.admin != "" {
		if f.data != "" {
			return nil, usagef("--admin and --data exclude each other")
		}
		return newAPISource(f.admin, apiTimeout)
	}
	st, err := host.OpenData(f.data)
	if err != nil {
		return nil, err
	}
	return fileSource{st}, nil
}

// adminBase turns --admin (a URL, or HOST:PORT as `run --admin` takes
// it) into the API's base URL.
func adminBase(v string) (string, error) {
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--admin: an http:// URL or HOST:PORT expected, got %q", v)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// apiTimeout bounds a request of the inspecting commands to the admin API.
const apiTimeout = 30 * time.Second

// newAPISource asks the admin API at --admin v; timeout 0 is none (a
// stream).
func newAPISource(v string, timeout time.Duration) (apiSource, error) {
	base, err := adminBase(v)
	if err != nil {
		return apiSource{}, err
	}
	return apiSource{base: base, client: &http.Client{Timeout: timeout}}, nil
}

// fileSource reads a data file opened read-only.
type fileSource struct{ st *store.Store }

func (f fileSource) runs(_ context.Context, rule string, n int) ([]engine.Trace, error) {
	return f.st.Runs(rule, n)
}

func (f fileSource) state(_ context.Context, rule string) (admin.StateReport, error) {
	st, err := f.st.RuleState(rule)
	return admin.StateReport{Rule: rule, State: st}, err
}

func (f fileSource) timers(_ context.Context, rule string) ([]engine.TimerRecord, error) {
	all, err := f.st.Timers()
	if err != nil || rule == "" {
		return all, err
	}
	var out []engine.TimerRecord
	for _, t := range all {
		if t.Rule == rule {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f fileSource) events(_ context.Context, n int) ([]engine.EventRecord, error) {
	return f.st.RecentEvents(n)
}

func (f fileSource) close() { _ = f.st.Close() }

// apiSource asks a running engine's admin API.
type apiSource struct {
	base   string
	client *http.Client
}

func (a apiSource) runs(ctx context.Context, rule string, n int) (out []engine.Trace, err error) {
	return out, a.get(ctx, "/api/runs", url.Values{"rule": {rule}, "limit": {fmt.Sprint(n)}}, &out)
}

func (a apiSource) state(ctx context.Context, rule string) (out admin.StateReport, err error) {
	return out, a.get(ctx, "/api/rules/"+url.PathEscape(rule)+"/state", nil, &out)
}

func (a apiSource) timers(ctx context.Context, rule string) (out []engine.TimerRecord, err error) {
	q := url.Values{}
	if rule != "" {
		q.Set("rule", rule)
	}
	return out, a.get(ctx, "/api/timers", q, &out)
}

func (a apiSource) events(ctx context.Context, n int) (out []engine.EventRecord, err error) {
	return out, a.get(ctx, "/api/events", url.Values{"limit": {fmt.Sprint(n)}}, &out)
}

func (a apiSource) close() {}

// get decodes the JSON answer of GET path?q into out; an error answer
// becomes an error with the API's message.
func (a apiSource) get(ctx context.Context, path string, q url.Values, out any) error {
	resp, err := a.do(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", resp.Request.URL, err)
	}
	return nil
}

// do sends GET path?q and returns a 2xx response.
func (a apiSource) do(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, usagef("--admin: %w", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no engine answers at %s (is `alexarules run` serving its admin API there?): %w", a.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct{ Error string }
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	return nil, fmt.Errorf("GET %s: %s (HTTP %d)", u, e.Error, resp.StatusCode)
}
