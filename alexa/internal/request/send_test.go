package request

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A redirect is followed as http.Client follows it, whether the attempt
// went to the transport itself or through http.Client.Do: a 307 repeats
// the PUT with its body, a 303 turns it into a GET, a 302 without a
// Location is the answer.
func TestRedirectsFollowedAsHTTPClientDoes(t *testing.T) {
	var seen []string
	srv, _ := script(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(body)+" "+r.Header.Get("User-Agent"))
		switch r.URL.Path {
		case "/temporary":
			http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
		case "/see-other":
			http.Redirect(w, r, "/moved", http.StatusSeeOther)
		case "/nowhere":
			w.WriteHeader(http.StatusFound)
		default:
			w.Write([]byte(`{"ok":true}`))
		}
	})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, hc := range []*http.Client{nil, {Jar: jar}} {
		seen = nil
		c := New(Family{Name: "web"}, Options{HTTPClient: hc, Header: http.Header{"User-Agent": {"ua"}}})
		if (c.direct != nil) != (hc == nil) {
			t.Fatalf("jar %v: direct transport %v", hc != nil, c.direct)
		}
		ctx := context.Background()
		for _, path := range []string{"/temporary", "/see-other"} {
			resp, err := c.Do(ctx, Request{Method: "PUT", URL: srv.URL + path, JSON: appender(`{"a":1}`)})
			if err != nil || resp.Status != 200 || string(resp.Body) != `{"ok":true}` {
				t.Fatalf("PUT %s: %v, %+v", path, err, resp)
			}
		}
		_, err := c.Do(ctx, Request{Method: "GET", URL: srv.URL + "/nowhere"})
		if err == nil || !strings.Contains(err.Error(), "GET /nowhere") {
			t.Errorf("a 302 without a Location: err %v, want the answer as an error naming the request", err)
		}
		want := []string{`PUT /temporary {"a":1} ua`, `PUT /moved {"a":1} ua`, `PUT /see-other {"a":1} ua`,
			`GET /moved  ua`, `GET /nowhere  ua`}
		if strings.Join(seen, "|") != strings.Join(want, "|") {
			t.Errorf("jar %v: server saw\n%q, want\n%q", hc != nil, seen, want)
		}
	}
}

// Every answer's body is read whole and into one buffer of its length,
// at most maxBody bytes, whatever its framing.
func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		length int64
	}{{"sized", `{"id":"x"}`, 10}, {"empty", "", 0}, {"chunked", strings.Repeat("y", 3000), -1},
		{"short of its length", "abc", 10}} {
		got, err := readBody(strings.NewReader(tc.body), tc.length)
		if err != nil || string(got) != tc.body || got == nil {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
	big := bytes.Repeat([]byte("z"), maxBody+1)
	for _, length := range []int64{-1, maxBody + 1, 12} {
		if _, err := readBody(bytes.NewReader(big), length); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("length %d: err %v, want the body refused as too large", length, err)
		}
	}
	for _, length := range []int64{-1, maxBody} {
		if got, err := readBody(bytes.NewReader(big[:maxBody]), length); err != nil || len(got) != maxBody {
			t.Errorf("a body of maxBody bytes, length %d: %d bytes, %v", length, len(got), err)
		}
	}
	// A claimed length is not allocated up front beyond readAhead.
	if got, err := readBody(strings.NewReader("short"), maxBody); err != nil || string(got) != "short" || cap(got) > readAhead {
		t.Errorf("a short body claiming %d bytes: %q (cap %d), %v", maxBody, got, cap(got), err)
	}
	body := strings.Repeat("w", 700)
	n := testing.AllocsPerRun(50, func() {
		if b, err := readBody(strings.NewReader(body), int64(len(body))); err != nil || len(b) != 700 || cap(b) != 701 {
			t.Fatalf("%d bytes, cap %d, %v", len(b), cap(b), err)
		}
	})
	if n > 2 { // the buffer (the reader is the test's)
		t.Errorf("readBody allocates %v times for a body of known length, want at most 2", n)
	}
}

// fixedTransport answers every request with a 700-byte body of known length.
type fixedTransport struct{ body string }

func (f fixedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, ContentLength: int64(len(f.body)), Request: req,
		Header: http.Header{"Content-Length": {strconv.Itoa(len(f.body))}}, Body: io.NopCloser(strings.NewReader(f.body))}, nil
}

// A call with a session's header costs a bounded number of allocations
// above the transport: http.Client.Do cloned the header and the URL of
// every request, and io.ReadAll grew its buffer.
func TestCallAllocations(t *testing.T) {
	header := http.Header{"User-Agent": {"ua"}, "Referer": {"r"}, "Origin": {"o"}, "Accept-Language": {"l"}, "Accept": {"a"}}
	c := New(Family{Name: "web"}, Options{HTTPClient: &http.Client{Transport: fixedTransport{strings.Repeat("v", 700)}},
		Header: header, Observe: func(string, string, time.Duration) {}})
	ctx := context.Background()
	r := Request{Method: "PUT", URL: "http://alexa.example/api/notifications/createReminder", JSON: appender(`{"type":"Reminder"}`)}
	n := testing.AllocsPerRun(100, func() {
		if _, err := c.Do(ctx, r); err != nil {
			t.Fatal(err)
		}
	})
	if n > 18 {
		t.Errorf("a call allocates %v times above the transport, want at most 18 (26 before)", n)
	}
}

// nilBody is a hand-supplied transport that answers without a Body, which
// http.Client.Do mends and the direct path must too.
type nilBody struct{ length int64 }

func (n nilBody) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusNoContent, Request: req, Header: http.Header{}, ContentLength: n.length}, nil
}

func TestAnAnswerWithoutABodyIsEmpty(t *testing.T) {
	c := New(Family{Name: "web"}, Options{HTTPClient: &http.Client{Transport: nilBody{}}})
	resp, err := c.Do(context.Background(), Request{Method: "DELETE", URL: "http://alexa.example/x"})
	if err != nil || resp.Status != http.StatusNoContent || len(resp.Body) != 0 {
		t.Fatalf("got %v, %+v", err, resp)
	}
	c = New(Family{Name: "web"}, Options{HTTPClient: &http.Client{Transport: nilBody{length: 5}}})
	if _, err := c.Do(context.Background(), Request{Method: "GET", URL: "http://alexa.example/x", NoRetry: true}); err == nil || !strings.Contains(err.Error(), "nil *Response.Body") {
		t.Fatalf("a claimed length without a body: %v", err)
	}
}
