package auth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/engine/enginetest"
)

func newKeeper(t *testing.T, r *rig, o auth.KeeperOptions) (*auth.Keeper, *memStore, *auth.Session) {
	t.Helper()
	s := r.register(t)
	st := r.store()
	return auth.NewKeeper(r.app, st, s, o), st, s
}

func webClient(k *auth.Keeper) *request.Client {
	return request.New(request.Family{Name: "web"}, request.Options{Auth: k.WebAuth()})
}

func (r *rig) customerStatus(k *auth.Keeper) error {
	_, err := webClient(k).Do(context.Background(), request.Request{Method: http.MethodGet, URL: r.ts.URL + "/api/customer-status"})
	return err
}

// putCapabilities is a call with the keeper's bearer token that the
// simulator refuses with 403 when the token expired.
func (r *rig) putCapabilities(k *auth.Keeper) error {
	c := request.New(request.Family{Name: "auth", RefusedStatus: []int{401, 403}}, request.Options{Auth: k.BearerAuth()})
	_, err := c.Do(context.Background(), request.Request{Method: http.MethodPut, URL: r.ts.URL + "/v1/devices/@self/capabilities",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"envelopeVersion":"20160207","capabilities":[]}`)})
	return err
}

func TestKeeperRenewsTheAccessTokenBeforeExpiry(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.clock.Advance(54 * time.Minute)
	if got, _ := k.AccessToken(context.Background(), false); got != s.AccessToken || r.count("POST /auth/token") != 0 {
		t.Fatal("renewed more than 5 minutes before the expiry")
	}
	r.armed(t)
	r.clock.Advance(time.Minute)
	want := epoch.Add(55*time.Minute + time.Hour)
	enginetest.WaitUntil(t, "the renewal", func() bool { return k.State().AccessExpiry.Equal(want) })
	token, err := k.AccessToken(context.Background(), false)
	if err != nil || token == s.AccessToken || st.last().AccessToken != token || !st.last().AccessExpiry.Equal(want) {
		t.Fatalf("token renewed %v, saved %v (err %v)", token != s.AccessToken, st.last().AccessToken == token, err)
	}
	if err := r.putCapabilities(k); err != nil {
		t.Fatalf("the renewed token: %v", err)
	}
	r.armed(t)
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the second renewal", func() bool { return r.count("POST /auth/token") == 2 })
	r.assertRegisteredOnce(t)
}

func TestKeeperRenewsCookiesDaily(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.clock.Advance(24 * time.Hour)
	enginetest.WaitUntil(t, "the cookie renewal", func() bool { return k.State().CookiesRefreshed.Equal(epoch.Add(24 * time.Hour)) })
	got := k.Session()
	if got.WebCookie() == s.WebCookie() || got.CSRF == "" || st.last().WebCookie() != got.WebCookie() {
		t.Fatal("the web cookies were not renewed and saved")
	}
	if n := r.count("POST /ap/exchangetoken/cookies"); n != 2 {
		t.Errorf("%d exchanges, want 2", n)
	}
	if n := r.count("GET /api/language"); n != 2 {
		t.Errorf("%d csrf requests, want 2", n)
	}
	if err := r.customerStatus(k); err != nil {
		t.Fatalf("the renewed cookies: %v", err)
	}
	r.assertRegisteredOnce(t)
}

func TestWebAuthRenewsRefusedCookiesOnce(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, _ := newKeeper(t, r, auth.KeeperOptions{})
	if err := r.customerStatus(k); err != nil {
		t.Fatal(err)
	}
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"cookies":true}`)
	if err := r.customerStatus(k); err != nil {
		t.Fatalf("after a 401: %v", err)
	}
	if n := r.count("POST /ap/exchangetoken/cookies"); n != 2 || st.saves() != 1 {
		t.Fatalf("%d exchanges and %d saves, want 2 and 1", n, st.saves())
	}
	// New cookies the web host refuses too (every csrf path answers 401):
	// one exchange, then the 401 is final, and the session stays alive:
	// only the identity service's refusal kills it.
	r.control(t, http.MethodPost, "/_sim/faults", `[{"path_prefix":"/api/customer-status","status":401,"times":1},
		{"path_prefix":"/api/language","status":401,"times":1},{"path_prefix":"/spa/","status":401,"times":1},
		{"path_prefix":"/api/devices-v2/","status":401,"times":1},{"path_prefix":"/templates/","status":401,"times":1},
		{"path_prefix":"/api/strings","status":401,"times":1}]`)
	err := r.customerStatus(k)
	var e *request.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want the final 401", err)
	}
	if n := r.count("POST /ap/exchangetoken/cookies"); n != 3 {
		t.Fatalf("%d exchanges, want 3 (one per refused call)", n)
	}
	if k.State().LoginRequired || st.saves() != 1 {
		t.Fatalf("state %+v, %d saves: a web host's 401 must not kill or change the session", k.State(), st.saves())
	}
	r.assertNoSecrets(t, err.Error(), "the error")
	r.assertRegisteredOnce(t)
}

func TestKeeperSavesBeforeUse(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	var mu sync.Mutex
	var unsaved []string
	r.setHook(func(req *http.Request) {
		saved := st.last()
		token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		cookie := req.Header.Get("Cookie")
		mu.Lock()
		defer mu.Unlock()
		if token != "" && token != s.AccessToken && (saved == nil || saved.AccessToken != token) {
			unsaved = append(unsaved, req.URL.Path+" bearer")
		}
		if req.URL.Path == "/api/customer-status" && cookie != s.WebCookie() && (saved == nil || saved.WebCookie() != cookie) {
			unsaved = append(unsaved, req.URL.Path+" cookie")
		}
	})
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"access_token":true}`)
	if err := r.putCapabilities(k); err != nil {
		t.Fatal(err)
	}
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"cookies":true}`)
	if err := r.customerStatus(k); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	bad := unsaved
	mu.Unlock()
	if len(bad) > 0 || st.saves() != 2 {
		t.Fatalf("used before saved: %q (%d saves)", bad, st.saves())
	}
	// A failed save keeps the old session and fails the call.
	st.setErr(errors.New("disk full"))
	before := k.Session()
	_, err := k.AccessToken(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "save session: disk full") {
		t.Fatalf("err = %v", err)
	}
	if k.Session().AccessToken != before.AccessToken {
		t.Fatal("an unsaved token was published")
	}
}

func TestKeeperDeadRefreshToken(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.control(t, http.MethodDelete, "/_sim/auth/registrations/"+s.Device.Serial, "")
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the dead session", func() bool { return k.State().LoginRequired })
	state := k.State()
	if !strings.Contains(state.Reason, "POST /auth/token: 400 Bad Request: invalid_grant") {
		t.Errorf("reason %q: want the request and Amazon's code", state.Reason)
	}
	tokens, checks := r.count("POST /auth/token"), r.count("GET /api/customer-status")
	_, err := k.AccessToken(context.Background(), true)
	if !errors.Is(err, auth.ErrSessionDead) || !strings.Contains(err.Error(), "alexarules login") {
		t.Fatalf("AccessToken err = %v, want ErrSessionDead", err)
	}
	werr := r.customerStatus(k)
	if !errors.Is(werr, auth.ErrSessionDead) {
		t.Fatalf("web call err = %v, want ErrSessionDead", werr)
	}
	if r.count("POST /auth/token") != tokens || r.count("GET /api/customer-status") != checks {
		t.Fatal("a dead session still sends requests")
	}
	if n := strings.Count(r.logs.String(), "Amazon refused the stored session: run `alexarules login` again"); n != 1 {
		t.Errorf("%d dead-session log lines, want 1", n)
	}
	if st.saves() != 0 {
		t.Error("a dead session was saved over the stored one")
	}
	r.assertNoSecrets(t, err.Error()+werr.Error()+state.Reason, "the errors")
	r.assertRegisteredOnce(t)
}

func TestKeeperDeadOnTheExchange(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, _, s := newKeeper(t, r, auth.KeeperOptions{})
	r.control(t, http.MethodDelete, "/_sim/auth/registrations/"+s.Device.Serial, "")
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"cookies":true}`)
	err := r.customerStatus(k)
	if err == nil || !k.State().LoginRequired || !strings.Contains(k.State().Reason, "/ap/exchangetoken/cookies") {
		t.Fatalf("err %v, state %+v", err, k.State())
	}
	if _, err := k.AccessToken(context.Background(), false); !errors.Is(err, auth.ErrSessionDead) {
		t.Fatalf("AccessToken err = %v", err)
	}
	if !strings.Contains(r.logs.String(), "new ones could not be made\" method=GET path=/api/customer-status") {
		t.Errorf("the warning does not name the refused request:\n%s", r.logs.String())
	}
}

func TestKeeperRetriesTransientFailures(t *testing.T) {
	r := newRig(t, auth.AppOptions{MaxAttempts: 1})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.control(t, http.MethodPost, "/_sim/faults", `{"path_prefix":"/auth/token","status":503,"times":2}`)
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the first attempt", func() bool { return r.count("POST /auth/token") == 1 })
	r.armed(t)
	if k.Session().AccessToken != s.AccessToken || st.saves() != 0 || k.State().LoginRequired {
		t.Fatal("a 503 changed the session")
	}
	r.clock.Advance(30 * time.Second)
	enginetest.WaitUntil(t, "the second attempt", func() bool { return r.count("POST /auth/token") == 2 })
	r.armed(t)
	r.clock.Advance(59 * time.Second)
	if r.count("POST /auth/token") != 2 {
		t.Fatal("retried before the back-off")
	}
	r.clock.Advance(time.Second)
	enginetest.WaitUntil(t, "the renewal", func() bool { return st.saves() == 1 })
	if !strings.Contains(r.logs.String(), "POST /auth/token: 503") {
		t.Error("the failure was not logged with its request")
	}
	r.assertRegisteredOnce(t)
}

func TestAccessTokenRetriesOnTheClock(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, _, s := newKeeper(t, r, auth.KeeperOptions{})
	r.control(t, http.MethodPost, "/_sim/faults", `{"path_prefix":"/auth/token","status":503,"times":1}`)
	got := make(chan string, 1)
	go func() {
		token, err := k.AccessToken(context.Background(), true)
		if err != nil {
			token = err.Error()
		}
		got <- token
	}()
	r.armed(t) // the request path's back-off waits on the engine clock
	r.clock.Advance(time.Second)
	if token := <-got; token == s.AccessToken || !strings.HasPrefix(token, "Atna|") {
		t.Fatalf("AccessToken = %.30q", token)
	}
	if n := r.count("POST /auth/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestAccessTokenRenewsOnceForConcurrentCallers(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, _, _ := newKeeper(t, r, auth.KeeperOptions{})
	r.clock.Advance(time.Hour)
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	for i := range tokens {
		wg.Go(func() { tokens[i], _ = k.AccessToken(context.Background(), false) })
	}
	wg.Wait()
	for _, tok := range tokens {
		if tok != tokens[0] || tok == "" {
			t.Fatalf("callers got different tokens")
		}
	}
	if n := r.count("POST /auth/token"); n != 1 {
		t.Fatalf("%d renewals, want 1", n)
	}
}

func TestKeeperStartedLateRenewsAtOnce(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	s := r.register(t)
	// The engine was stopped for two days: both renewals are overdue.
	r.clock.Advance(48 * time.Hour)
	st := r.store()
	k := auth.NewKeeper(r.app, st, s, auth.KeeperOptions{})
	go k.Run(t.Context())
	enginetest.WaitUntil(t, "both renewals", func() bool {
		last := st.last()
		return last != nil && last.AccessToken != s.AccessToken && last.CookiesRefreshed.Equal(epoch.Add(48*time.Hour))
	})
	// What was saved is a working session for the next start.
	next := auth.NewKeeper(r.app, st, st.last(), auth.KeeperOptions{})
	if err := r.customerStatus(next); err != nil {
		t.Fatal(err)
	}
	if err := r.putCapabilities(next); err != nil {
		t.Fatal(err)
	}
	r.assertRegisteredOnce(t)
}

func TestKeeperOfAnUnusableSession(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k := auth.NewKeeper(r.app, r.store(), &auth.Session{}, auth.KeeperOptions{})
	if st := k.State(); !st.LoginRequired || !strings.Contains(st.Reason, "device serial") {
		t.Fatalf("state %+v", st)
	}
	if _, err := k.AccessToken(context.Background(), false); !errors.Is(err, auth.ErrSessionDead) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// statusChecks records the Cookie header of every session check the
// simulator receives (faulted ones included).
func statusChecks(r *rig) func() []string {
	var mu sync.Mutex
	var cookies []string
	r.setHook(func(req *http.Request) {
		if req.URL.Path == "/api/customer-status" {
			mu.Lock()
			defer mu.Unlock()
			cookies = append(cookies, req.Header.Get("Cookie"))
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cookies...)
	}
}

func TestKeeperChecksTheSessionAtStartAndAfterEachCookieRenewal(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, _, s := newKeeper(t, r, auth.KeeperOptions{})
	checks := statusChecks(r)
	stop := r.running(t, k)
	defer stop()
	if got := checks(); len(got) != 1 || got[0] != s.WebCookie() {
		t.Fatalf("%d session checks at start, want 1 with the stored cookies", len(got))
	}
	r.clock.Advance(23 * time.Hour)
	if n := len(checks()); n != 1 {
		t.Fatalf("%d session checks before the cookie renewal, want 1", n)
	}
	r.clock.Advance(time.Hour)
	enginetest.WaitUntil(t, "the check after the renewal", func() bool { return len(checks()) == 2 })
	r.armed(t)
	renewed := k.Session().WebCookie()
	if got := checks(); renewed == s.WebCookie() || got[1] != renewed {
		t.Fatal("the check after the renewal did not send the renewed cookies")
	}
	if n := r.count("POST /ap/exchangetoken/cookies"); n != 2 {
		t.Errorf("%d exchanges, want 2 (login and the daily renewal)", n)
	}
	r.assertRegisteredOnce(t)
}

// A session check answered 401 makes new cookies and csrf once, as a web
// call does, and the check passes with them.
func TestKeeperSessionCheckRenewsRefusedCookies(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	checks := statusChecks(r)
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"cookies":true}`)
	stop := r.running(t, k)
	defer stop()
	got := checks()
	if len(got) != 2 || got[0] != s.WebCookie() || got[1] == s.WebCookie() || got[1] != k.Session().WebCookie() {
		t.Fatalf("%d session checks, want 2: the refused cookies, then the new ones", len(got))
	}
	if n := r.count("POST /ap/exchangetoken/cookies"); n != 2 || r.count("GET /api/language") != 2 || st.saves() != 1 {
		t.Fatalf("%d exchanges, %d saves: want one renewal", n, st.saves())
	}
	if k.State().LoginRequired {
		t.Fatal("a web host's 401 killed the session")
	}
	r.assertRegisteredOnce(t)
}

// New cookies the session check refuses too leave the session alive (only
// the identity service's refusal kills it): the check is tried again
// after the back-off.
func TestKeeperSessionCheckRefusedTwiceKeepsTheSession(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, _ := newKeeper(t, r, auth.KeeperOptions{})
	checks := statusChecks(r)
	r.control(t, http.MethodPost, "/_sim/faults", `{"path_prefix":"/api/customer-status","status":401,"times":2}`)
	stop := r.running(t, k)
	defer stop()
	if n := len(checks()); n != 2 || r.count("POST /ap/exchangetoken/cookies") != 2 {
		t.Fatalf("%d checks, %d exchanges: want 2 and 2", n, r.count("POST /ap/exchangetoken/cookies"))
	}
	if k.State().LoginRequired || st.saves() != 1 {
		t.Fatalf("state %+v: a web host's 401 must not kill the session", k.State())
	}
	if !strings.Contains(r.logs.String(), "auth: session check: alexa web: GET /api/customer-status: 401") {
		t.Errorf("the failed check was not logged with its request:\n%s", r.logs.String())
	}
	r.clock.Advance(30 * time.Second)
	enginetest.WaitUntil(t, "the check again", func() bool { return len(checks()) == 3 })
	r.armed(t)
	if n := r.count("POST /ap/exchangetoken/cookies"); n != 2 {
		t.Errorf("%d exchanges, want 2: the third check passed with the cookies it had", n)
	}
}

// The identity service refusing the refresh token in the exchange a
// refused session check asked for kills the session.
func TestKeeperSessionCheckOfADeregisteredDevice(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, _, s := newKeeper(t, r, auth.KeeperOptions{})
	r.control(t, http.MethodDelete, "/_sim/auth/registrations/"+s.Device.Serial, "")
	go k.Run(t.Context()) // a dead session arms no timer
	enginetest.WaitUntil(t, "the dead session", func() bool { return k.State().LoginRequired })
	if reason := k.State().Reason; !strings.Contains(reason, "/ap/exchangetoken/cookies") {
		t.Fatalf("reason %q: want the exchange", reason)
	}
}

func TestKeeperRunsOnceAtATime(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, _, _ := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	second := make(chan error, 1)
	go func() { second <- k.Run(t.Context()) }()
	enginetest.WaitUntil(t, "the second Run to return", func() bool { return len(second) == 1 })
	if err := <-second; err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run = %v, want an error", err)
	}
	stop()
	// Once the first has returned, the keeper can run again.
	stop = r.running(t, k)
	stop()
}
