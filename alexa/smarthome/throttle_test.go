package smarthome_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/smarthome"
)

const graphqlThrottle = `{"errors":[{"message":"Too many requests","path":["listEndpoints"],"extensions":{"errorCode":"UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS","isRetryable":false,"classification":"DataFetchingException"}}],"data":null,"extensions":{"requestID":"0KMMF1D1SSVECYKXM3ZC","duration":12}}`

const phoenixThrottle = `{"message":"Too many requests. Try again in some time."}`

// Every throttle answer of research §7.1 pauses the whole account: the
// call fails once, without tight retries; every call during the cool-down
// fails at once without a request and says until when (those without a
// deadline to wait for its end); afterwards calls go through again. The
// pause is the Retry-After Amazon named, shorter or longer than
// FirstCooldown, else FirstCooldown.
func TestThrottleCoolsDownTheAccount(t *testing.T) {
	for _, tt := range []struct {
		name    string
		route   string // the request that is throttled
		status  int
		header  http.Header
		body    string
		call    func(c *smarthome.Client) error
		cool    time.Duration
		status0 bool // CallError.Status is 0 (a 200 answer is not an error status)
	}{
		{name: "phoenix state 400", route: "POST /api/phoenix/state", status: 400, body: phoenixThrottle,
			call: getPower, cool: smarthome.FirstCooldown},
		{name: "phoenix 429 with a longer Retry-After", route: "POST /api/phoenix/state", status: 429,
			header: http.Header{"Retry-After": {"600"}}, body: phoenixThrottle, call: getPower, cool: 10 * time.Minute},
		{name: "phoenix 429 with a shorter Retry-After", route: "PUT /api/phoenix/state", status: 429,
			header: http.Header{"Retry-After": {"2"}}, body: phoenixThrottle, call: turnOn, cool: 2 * time.Second},
		{name: "phoenix control 200", route: "PUT /api/phoenix/state", status: 200, body: phoenixThrottle,
			call: turnOn, cool: smarthome.FirstCooldown, status0: true},
		{name: "ThrottlingException", route: "PUT /api/phoenix/state", status: 400,
			header: http.Header{"X-Amzn-Errortype": {"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"}},
			body:   `{"message":"Rate exceeded"}`, call: turnOn, cool: smarthome.FirstCooldown},
		{name: "Rate exceeded 503", route: "POST /api/phoenix/state", status: 503, body: `Rate exceeded`,
			call: getPower, cool: smarthome.FirstCooldown},
		{name: "GraphQL discovery", route: "POST /nexus/v1/graphql", status: 200, body: graphqlThrottle,
			call: discover, cool: smarthome.FirstCooldown, status0: true},
		{name: "GraphQL setEndpointFeatures", route: "POST /nexus/v1/graphql", status: 200, body: graphqlThrottle,
			call: exactKelvin, cool: smarthome.FirstCooldown, status0: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, smarthome.Options{})
			ctx := context.Background()
			if _, err := r.c.Devices(ctx); err != nil {
				t.Fatal(err)
			}
			r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
				return tt.status, tt.header, tt.body, rq.route() == tt.route
			})
			n := len(r.f.requests())
			err := tt.call(r.c)
			ce := callError(t, err, "THROTTLED")
			if !errors.Is(err, smarthome.ErrThrottled) || (ce.Status == 0) != tt.status0 {
				t.Errorf("throttle answer: %v (status %d)", err, ce.Status)
			}
			if got := len(r.f.since(n)); got != 1 {
				t.Errorf("%d requests for the throttled call, want 1 (no tight retries)", got)
			}
			until := t0.Add(tt.cool)
			if u, ok := r.c.CoolingDown(); !ok || !u.Equal(until) {
				t.Fatalf("CoolingDown = %v %v, want until %v", u, ok, until)
			}
			r.f.setAnswer(nil)
			r.clock.Advance(tt.cool - time.Second)
			assertPaused(t, r, until)
			r.clock.Advance(time.Second)
			if _, ok := r.c.CoolingDown(); ok {
				t.Error("still cooling down after the cool-down")
			}
			if err := tt.call(r.c); err != nil {
				t.Errorf("after the cool-down: %v", err)
			}
		})
	}
}

func getPower(c *smarthome.Client) error {
	_, err := c.Get(context.Background(), deskLamp, "power")
	return err
}

func turnOn(c *smarthome.Client) error { return c.Update(context.Background(), deskLamp, "turnOn") }

func discover(c *smarthome.Client) error {
	_, err := c.Devices(context.Background())
	return err
}

func exactKelvin(c *smarthome.Client) error {
	return c.Update(context.Background(), deskLamp, "setColorTemperature", 3300)
}

// assertPaused checks that every kind of call fails at once during the
// cool-down, without a request, in the form the poller and rules read.
func assertPaused(t *testing.T, r *rig, until time.Time) {
	t.Helper()
	ctx := context.Background()
	n := len(r.f.requests())
	_, errStates := r.c.States(ctx, []string{deskLamp, kitchenPlug})
	var sent []smarthome.Sent
	errUpdate := r.c.Update(smarthome.WithSent(ctx, func(s smarthome.Sent) { sent = append(sent, s) }), deskLamp, "setColor", 0, 1, 1)
	if len(sent) != 0 {
		t.Errorf("reported as sent during the cool-down: %+v", sent)
	}
	if err := r.c.Update(ctx, kitchenPlug, "setVolume", 10); !errors.Is(err, smarthome.ErrUnsupported) {
		t.Errorf("an operation the API lacks during the cool-down: %v", err)
	}
	for name, err := range map[string]error{
		"Get":     getPower(r.c),
		"Update":  errUpdate,
		"Devices": discover(r.c),
		"States":  errStates,
	} {
		ce := callError(t, err, "THROTTLED")
		if !errors.Is(err, smarthome.ErrThrottled) || !strings.Contains(ce.Message, "paused until "+until.Format("15:04:05 UTC")) ||
			!strings.Contains(err.Error(), "paused until "+until.Format(time.RFC3339)) {
			t.Errorf("%s during the cool-down: %v / %q", name, err, ce.Message)
		}
		if !hasTrue(err, func(e interface{ Retryable() bool }) bool { return e.Retryable() }) {
			t.Errorf("%s: not retryable for the poller", name)
		}
		var ra interface{ RetryAfterDuration() time.Duration }
		if !errors.As(err, &ra) || ra.RetryAfterDuration() != until.Sub(r.clock.Now()) {
			t.Errorf("%s: RetryAfterDuration, want %v", name, until.Sub(r.clock.Now()))
		}
		if hasTrue(err, func(e interface{ NotFound() bool }) bool { return e.NotFound() }) ||
			hasTrue(err, func(e interface{ Unreachable() bool }) bool { return e.Unreachable() }) {
			t.Errorf("%s: a throttle is neither not-found nor unreachable", name)
		}
	}
	if reqs := r.f.since(n); len(reqs) != 0 {
		t.Errorf("requests during the cool-down: %+v", reqs)
	}
}

// A device named like a throttle message does not throttle anyone: only
// the answer's message and GraphQL errors count.
func TestThrottleMarkersOnlyInTheirFields(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	r.f.discovery = []byte(`{"data":{"endpoints":{"items":[{"legacyAppliance":{"entityId":"e1","applianceId":"a1",` +
		`"friendlyName":"Too many requests","capabilities":[{"interfaceName":"Alexa.PowerController"}]}}]}}}`)
	got, err := r.c.Devices(context.Background())
	if err != nil || len(got) != 3 || got[0].FriendlyName != "Too many requests" {
		t.Fatalf("Devices = %v, %v", got, err)
	}
	if _, ok := r.c.CoolingDown(); ok {
		t.Error("cooling down")
	}
}

// A 5xx is repeated once after a second of the client's clock.
func TestServerErrorRetriedOnce(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
		return 500, nil, `{"message":"Internal failure"}`, rq.route() == "PUT /api/phoenix/state"
	})
	n := len(r.f.requests())
	done := make(chan error, 1)
	go func() { done <- turnOn(r.c) }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.clock.WaitPending(wctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	err := <-done
	ce := callError(t, err, "HTTP_500")
	if ce.Status != 500 || ce.Message != "Internal failure" || len(r.f.since(n)) != 2 {
		t.Errorf("%+v after %d requests", ce, len(r.f.since(n)))
	}
	if _, ok := r.c.CoolingDown(); ok {
		t.Error("a 500 is no throttle")
	}
}

// No error text or log line carries the session's cookie or csrf.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	r.f.unreachable[deskLamp] = true
	collect(getPower(r.c))
	collect(r.c.Update(ctx, kitchenPlug, "setVolume", 10))
	r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) { return 401, nil, "", true })
	collect(turnOn(r.c))
	r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) { return 429, nil, phoenixThrottle, true })
	collect(turnOn(r.c))
	collect(turnOn(r.c))
	if len(errs) != 5 {
		t.Fatalf("%d errors: %v", len(errs), errs)
	}
	texts := []string{r.logs.String()}
	for _, err := range errs {
		texts = append(texts, err.Error(), callError(t, err, callErrorType(err)).Message)
	}
	for _, s := range texts {
		for _, secret := range []string{"cookie-secret", testCSRF, "000-1234567"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaks %q", s, secret)
			}
		}
	}
	if !strings.Contains(r.logs.String(), "throttled") {
		t.Errorf("the throttle is not logged: %s", r.logs.String())
	}
}

func callErrorType(err error) string {
	var ce interface{ Failure() (string, int, string) }
	if errors.As(err, &ce) {
		typ, _, _ := ce.Failure()
		return typ
	}
	return ""
}
