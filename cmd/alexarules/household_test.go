package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/alexa/sim"
)

// These tests drive a household account end to end, as a user would: the
// `alexarules login` sign-in proxy through a scripted browser, then
// `alexarules run` against the simulator, which expires tokens and cookies
// and deregisters the device through its control API.

// householdRules: a push rule (volume), a web API rule (a list item), and
// a schedule rule that needs no Amazon.
const householdRules = `
return {
  rule "loud" {
    when = alexa.volume { device = "Kitchen Echo", above = 30 },
    run = function(ctx, ev) ctx.log.info("%s %d", ev.device.name, ev.value) end,
  },
  rule "add" {
    when = event "add",
    run = function(ctx, ev)
      local item, err = alexa.list("Shopping"):add(ev.data.text)
      if not item then error(tostring(err)) end
      ctx.log.info("added %s", ev.data.text)
    end,
  },
  rule "beat" { when = cron "@every 1s", run = function(ctx) ctx.state.n = (ctx.state.n or 0) + 1 end },
}`

// signIn logs the simulator's account in with `alexarules login` and a
// scripted browser, and returns what the command printed.
func signIn(t *testing.T, simURL, data string) string {
	t.Helper()
	// At debug level: the secret checks read what it logged.
	out, page, code := appLogin(t, simURL, data, "--config", writeConfig(t, `{"log_level": "debug"}`))
	if code != exitOK {
		t.Fatalf("login: exit %d, browser page:\n%s\noutput:\n%s", code, page, out)
	}
	return out
}

// countCalls counts the requests to path (a prefix) with a status in
// [lo, hi], from index from of the request log on.
func countCalls(s *sim.Server, from int, path string, lo, hi int) int {
	return len(requestsSince(s, from, func(r sim.Request) bool {
		return strings.HasPrefix(r.Path, path) && r.Status >= lo && r.Status <= hi
	}))
}

// reconnectPush closes the engine's push stream at the simulator, so that
// it opens a new one with the token it has now.
func reconnectPush(t *testing.T, simURL string) {
	t.Helper()
	simPost(t, simURL, "/_sim/faults", `{"push":"drop"}`)
	simCall(t, simURL, http.MethodDelete, "/_sim/faults", "")
}

// refreshedPush waits for the sequence that shows the HTTP/2 downchannel
// bears the registration's access token: a stream refused (403) for the
// expired token, a POST /auth/token, a stream opened (200).
func refreshedPush(d *daemon, s *sim.Server, from int) {
	d.t.Helper()
	d.waitFor(func() bool {
		stage := 0
		reqs := s.Requests()
		for _, r := range reqs[min(from, len(reqs)):] {
			switch {
			case stage == 0 && r.Path == "/v20160207/directives" && r.Status == http.StatusForbidden:
				stage = 1
			case stage == 1 && r.Path == "/auth/token" && r.Status == http.StatusOK:
				stage = 2
			case stage == 2 && r.Path == "/v20160207/directives" && r.Status == http.StatusOK:
				return true
			}
		}
		return false
	}, "the downchannel: 403 with the expired token, POST /auth/token, 200")
}

// volumePush pushes a volume change of the Kitchen Echo.
func volumePush(t *testing.T, simURL string, v int) {
	t.Helper()
	simPost(t, simURL, "/_sim/push", fmt.Sprintf(`{"command":"PUSH_VOLUME_CHANGE","payload":{"dopplerId":{"deviceSerialNumber":"G6G0XW0412650C3M","deviceType":"A4ZP7ZC4PI6TO"},"isMuted":false,"volumeSetting":%d}}`, v))
}

// addItem runs the "add" rule and waits for its outcome.
func addItem(d *daemon, text string) {
	d.t.Helper()
	n := len(d.runs("add"))
	if code := d.post("/api/events", `{"name":"add","data":{"text":"`+text+`"}}`); code != http.StatusAccepted {
		d.t.Fatalf("POST /api/events: %d", code)
	}
	d.waitFor(func() bool { return len(d.runs("add")) > n }, "the list rule")
	if run := d.runs("add")[0]; run["outcome"] != "ok" {
		d.dump()
		d.t.Fatalf("adding %q: %v", text, run)
	}
}

func TestAHouseholdSessionStaysAliveWithoutTheUser(t *testing.T) {
	s, simURL := startSimH2(t)
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "h.db")
	write(t, dir, "r.lua", householdRules)
	logs := signIn(t, simURL, data)
	if regs := signintest.Registrations(t, simURL); len(regs) != 1 {
		t.Fatalf("registrations after the login: %+v", regs)
	}
	// devices lists the Echos through the session: with its cookies
	// expired, it exchanges new ones first.
	from := len(s.Requests())
	simPost(t, simURL, "/_sim/auth/expire", `{"cookies":true}`)
	out, errOut, code := runCLI(t, "devices", "--cloud", simURL, "--data", data)
	if code != exitOK || !strings.Contains(out, "Kitchen Echo") || countCalls(s, from, "/ap/exchangetoken/cookies", 200, 200) == 0 {
		t.Fatalf("devices: exit %d, %d cookie exchanges:\n%s%s", code, countCalls(s, from, "/ap/exchangetoken/cookies", 200, 200), out, errOut)
	}
	logs += errOut
	d := startRun(t, dir, data, "--cloud", simURL, "--push", "http2", "--log-level", "debug")
	waitPushClient(d, simURL)
	volumePush(t, simURL, 45)
	d.waitFor(func() bool { return len(d.runs("loud")) == 1 }, "the volume rule")
	addItem(d, "flour")

	// The access token expires: the push stream is refused, refreshed and
	// reopened; the web API does not use it.
	from = len(s.Requests())
	simPost(t, simURL, "/_sim/auth/expire", `{"access_token":true}`)
	reconnectPush(t, simURL)
	refreshedPush(d, s, from)
	// The trigger fires on entering "above 30": leave it, then enter again.
	volumePush(t, simURL, 10)
	volumePush(t, simURL, 50)
	d.waitFor(func() bool { return len(d.runs("loud")) == 2 }, "the volume rule after the token refresh")
	addItem(d, "sugar")

	// The cookies expire: the next web call is refused, the cookies are
	// exchanged again and the call goes through.
	from = len(s.Requests())
	simPost(t, simURL, "/_sim/auth/expire", `{"cookies":true}`)
	addItem(d, "butter")
	if n := countCalls(s, from, "/ap/exchangetoken/cookies", 200, 200); n == 0 {
		t.Fatalf("no cookie exchange after the cookies expired")
	}
	if n := countCalls(s, 0, "/auth/register", 0, 999); n != 1 {
		t.Fatalf("/auth/register called %d times, want once (the login)", n)
	}
	if regs := signintest.Registrations(t, simURL); len(regs) != 1 {
		t.Fatalf("registrations: %+v", regs)
	}
	items := listTexts(s, "amzn1.alexa.list.sim-shopping")
	for _, want := range []string{"flour", "sugar", "butter"} {
		if !items[want] {
			t.Errorf("the shopping list lacks %q: %v", want, items)
		}
	}
	logs += stopDaemon(d)
	checkNoSecrets(t, data, logs)
	for _, sec := range registrationSecrets(t, s) {
		if strings.Contains(logs, sec) {
			t.Errorf("the authorization code or PKCE verifier (%.6s…) shows in the output or logs", sec)
		}
	}
}

// registrationSecrets are the authorization code and PKCE verifier the
// login sent to /auth/register, from the simulator's request log.
func registrationSecrets(t *testing.T, s *sim.Server) []string {
	t.Helper()
	for _, r := range s.Requests() {
		if r.Path != "/auth/register" {
			continue
		}
		var body struct {
			AuthData struct {
				Code     string `json:"authorization_code"`
				Verifier string `json:"code_verifier"`
			} `json:"auth_data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.AuthData.Code == "" || body.AuthData.Verifier == "" {
			t.Fatalf("/auth/register body without code and verifier: %v", err)
		}
		return []string{body.AuthData.Code, body.AuthData.Verifier}
	}
	t.Fatal("no /auth/register in the request log")
	return nil
}

// listTexts is the set of item texts on a list of the simulated household.
func listTexts(s *sim.Server, id string) map[string]bool {
	out := map[string]bool{}
	for _, l := range s.Household().Lists {
		if l.ID == id {
			for _, it := range l.Items {
				out[it.Text] = true
			}
		}
	}
	return out
}

// stopDaemon stops d with SIGTERM and returns every line it logged.
func stopDaemon(d *daemon) string {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	if code := d.wait(); code != 0 {
		d.t.Fatalf("run exited %d:\n%s", code, d.log())
	}
	return d.log()
}

// checkNoSecrets: the data file is 0600 and no secret of the stored
// session nor the password is in logs.
func checkNoSecrets(t *testing.T, data, logs string) {
	t.Helper()
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data file: %v, %v; want mode 0600", fi, err)
	}
	loginHasNoSecret(t, data, logs)
}

// gate holds the simulator's answers to requests under a path while it is
// closed, and tells who is held.
type gate struct {
	mu     sync.Mutex
	path   string
	open   chan struct{}
	held   chan string
	closed bool
}

func newGate(path string) *gate {
	return &gate{path: path, open: make(chan struct{}), held: make(chan string, 100)}
}

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		closed, open := g.closed, g.open
		g.mu.Unlock()
		if closed && strings.HasPrefix(r.URL.Path, g.path) {
			g.held <- r.URL.Path
			select {
			case <-open:
			case <-r.Context().Done():
				return // the client went away (killed)
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed, g.open = true, make(chan struct{})
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = false
	close(g.open)
}

// startGatedSim serves the simulator (HTTP/1.1 and unencrypted HTTP/2)
// behind g.
func startGatedSim(t *testing.T, g *gate) (*sim.Server, string) {
	t.Helper()
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	srv := httptest.NewUnstartedServer(g.wrap(s.Handler()))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return s, srv.URL
}

func TestKill9DuringATokenRefreshLeavesAWorkingSession(t *testing.T) {
	g := newGate("/auth/token")
	s, simURL := startGatedSim(t, g)
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "k.db")
	write(t, dir, "r.lua", householdRules)
	logs := signIn(t, simURL, data)
	d := startRun(t, dir, data, "--cloud", simURL, "--push", "http2", "--log-level", "debug")
	waitPushClient(d, simURL)

	// The access token expires and the push stream is refused: the engine
	// asks for a new token, and dies while the simulator holds the answer.
	g.close()
	simPost(t, simURL, "/_sim/auth/expire", `{"access_token":true}`)
	reconnectPush(t, simURL)
	select {
	case <-g.held:
	case <-time.After(60 * time.Second):
		d.dump()
		t.Fatal("no token refresh within 60 s of the refused push stream")
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.wait()
	logs += d.log()
	g.release()
	checkBolt(t, data)

	from := len(s.Requests())
	d = startRun(t, dir, data, "--cloud", simURL, "--push", "http2", "--log-level", "debug")
	refreshedPush(d, s, from)
	addItem(d, "eggs")
	if n := countCalls(s, 0, "/auth/register", 0, 999); n != 1 {
		t.Fatalf("/auth/register called %d times, want once (the login)", n)
	}
	if health := d.get("/healthz"); health != "{\n  \"status\": \"ok\"\n}\n" {
		t.Fatalf("healthz after the restart: %s", health)
	}
	logs += stopDaemon(d)
	checkNoSecrets(t, data, logs)
}

func TestADeadSessionSaysLogInAgainAndSchedulesGoOn(t *testing.T) {
	_, simURL := startSimH2(t)
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "d.db")
	write(t, dir, "r.lua", householdRules)
	signIn(t, simURL, data)
	regs := signintest.Registrations(t, simURL)
	if len(regs) != 1 {
		t.Fatalf("registrations: %+v", regs)
	}
	d := startRun(t, dir, data, "--cloud", simURL, "--push", "http2")
	waitPushClient(d, simURL)
	if m := d.get("/metrics"); !strings.Contains(m, "\nalexarules_alexa_login_required 0\n") {
		t.Fatalf("metrics with a live session lack alexarules_alexa_login_required 0")
	}
	// The user removes the app device from their Amazon account: its
	// refresh token dies, which the engine learns at its next refresh.
	simCall(t, simURL, http.MethodDelete, "/_sim/auth/registrations/"+url.PathEscape(fmt.Sprint(regs[0]["device_serial"])), "")
	simPost(t, simURL, "/_sim/auth/expire", `{"access_token":true,"cookies":true}`)
	reconnectPush(t, simURL)
	var health struct {
		Status string
		Alexa  struct {
			LoginRequired bool `json:"login_required"`
			Reason        string
		}
	}
	d.waitFor(func() bool {
		return jsonUnmarshal(d.get("/healthz"), &health) == nil && health.Alexa.LoginRequired
	}, "healthz to say log in again")
	if health.Status != "degraded" || health.Alexa.Reason == "" {
		t.Fatalf("healthz: %+v", health)
	}
	if m := d.get("/metrics"); !strings.Contains(m, "\nalexarules_alexa_login_required 1\n") {
		t.Fatalf("metrics lack alexarules_alexa_login_required 1")
	}
	beats := len(d.runs("beat"))
	d.waitFor(func() bool { return len(d.runs("beat")) >= beats+2 }, "the schedule rule to go on")
	// A web call fails with the reason, not a hang or a crash.
	if code := d.post("/api/events", `{"name":"add","data":{"text":"milk"}}`); code != http.StatusAccepted {
		t.Fatalf("POST /api/events: %d", code)
	}
	d.waitFor(func() bool { runs := d.runs("add"); return len(runs) == 1 && runs[0]["outcome"] == "failed" }, "the list rule to fail")
	if errText := fmt.Sprint(d.runs("add")[0]["error"]); !strings.Contains(errText, "login") {
		t.Fatalf("the failed web call does not say to log in again: %s", errText)
	}
	// One clear line says what to do, however many calls fail.
	if n := strings.Count(grepLines(stopDaemon(d), "level=ERROR"), "alexarules login` again"); n != 1 {
		t.Fatalf("%d error lines say to log in again, want 1", n)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestAHouseholdSignsTheLegacyWebsocketWithItsDeviceKey(t *testing.T) {
	s, simURL := startSimH2(t)
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "w.db")
	write(t, dir, "r.lua", householdRules)
	signIn(t, simURL, data)
	d := startRun(t, dir, data, "--cloud", simURL, "--push", "websocket")
	waitPushClient(d, simURL)
	volumePush(t, simURL, 45)
	d.waitFor(func() bool { return len(d.runs("loud")) == 1 }, "the volume rule over the websocket")
	// The simulator checks the x-adp signature against the registered
	// device's key: once the device is gone, the reconnect is refused.
	regs := signintest.Registrations(t, simURL)
	if len(regs) != 1 {
		t.Fatalf("registrations: %+v", regs)
	}
	from := len(s.Requests())
	simCall(t, simURL, http.MethodDelete, "/_sim/auth/registrations/"+url.PathEscape(fmt.Sprint(regs[0]["device_serial"])), "")
	reconnectPush(t, simURL)
	d.waitFor(func() bool {
		return countCalls(s, from, "/tcomm/", http.StatusUnauthorized, http.StatusUnauthorized) > 0
	},
		"the websocket's signed connect to be refused for the deregistered device")
}
