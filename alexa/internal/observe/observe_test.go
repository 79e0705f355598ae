package observe_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/observe"
)

// fakeTransport answers with a status (0: fails) and counts pool closes.
type fakeTransport struct {
	status int
	closed int
}

func (f *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.status == 0 {
		return nil, errors.New("connection refused")
	}
	return &http.Response{StatusCode: f.status, Body: http.NoBody, Request: req}, nil
}

func (f *fakeTransport) CloseIdleConnections() { f.closed++ }

func TestClientTimesEachRequestAndClassesItsResult(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{{200, "2xx"}, {204, "2xx"}, {301, "3xx"}, {404, "4xx"}, {429, "429"}, {503, "5xx"}, {0, "error"}} {
		var got []string
		tr := &fakeTransport{status: tc.status}
		hc := observe.Client(&http.Client{Transport: tr}, "web", func(api, result string, d time.Duration) {
			got = append(got, api+" "+result)
		})
		req, err := http.NewRequest("GET", "http://alexa.example/api/devices", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if len(got) != 1 || got[0] != "web "+tc.want {
			t.Errorf("status %d: observed %v, want [web %s]", tc.status, got, tc.want)
		}
		hc.CloseIdleConnections()
		if tr.closed != 1 {
			t.Errorf("status %d: CloseIdleConnections reached the transport %d times, want 1", tc.status, tr.closed)
		}
	}
}

func TestClientWithoutObserverIsTheSameClient(t *testing.T) {
	hc := &http.Client{}
	if observe.Client(hc, "web", nil) != hc {
		t.Error("a nil observer must leave the client as it is")
	}
}

func TestResultClassesEveryStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{{100, "1xx"}, {199, "1xx"}, {200, "2xx"}, {299, "2xx"}, {308, "3xx"}, {428, "4xx"}, {429, "429"},
		{430, "4xx"}, {500, "5xx"}, {599, "5xx"}, {600, "6xx"}, {99, "0xx"}} {
		if got := observe.Result(&http.Response{StatusCode: tc.status}); got != tc.want {
			t.Errorf("Result(%d) = %q, want %q", tc.status, got, tc.want)
		}
	}
	// A request is timed on every call to an Amazon API: its class is
	// one of a few constant strings, not built per call.
	resp := &http.Response{StatusCode: http.StatusOK}
	if n := testing.AllocsPerRun(100, func() { observe.Result(resp) }); n != 0 {
		t.Errorf("Result allocates %v times per call, want 0", n)
	}
}
