// Package observe times each request the Alexa clients send, for the
// engine's API call latency histogram. Every client takes the same
// Observe option; this package is the one place that measures.
package observe

import (
	"net/http"
	"strconv"
	"time"
)

// Func records one request: api is its family, result its class (Result),
// d the time until the response headers or the failure.
type Func = func(api, result string, d time.Duration)

// Client returns a copy of hc whose requests are timed under api; with a
// nil fn it returns hc itself.
func Client(hc *http.Client, api string, fn Func) *http.Client {
	if fn == nil {
		return hc
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *hc
	c.Transport = transport{next: next, api: api, fn: fn}
	return &c
}

type transport struct {
	next http.RoundTripper
	api  string
	fn   Func
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.fn(t.api, Result(resp), time.Since(start))
	return resp, err
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on, so a
// client that closes its pool on the way out still does.
func (t transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// classes are the results of the statuses 100..599 by hundreds, three
// bytes each: Result slices one instead of building it per request.
const classes = "1xx2xx3xx4xx5xx"

// Result classes a response by its status: "2xx", "4xx", ..., "429" on
// its own because it means throttling, and "error" when there was none.
func Result(resp *http.Response) string {
	switch {
	case resp == nil:
		return "error"
	case resp.StatusCode == http.StatusTooManyRequests:
		return "429"
	case resp.StatusCode >= 100 && resp.StatusCode < 600:
		i := 3 * (resp.StatusCode/100 - 1)
		return classes[i : i+3]
	default:
		return strconv.Itoa(resp.StatusCode/100) + "xx"
	}
}
