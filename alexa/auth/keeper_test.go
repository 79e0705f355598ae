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

// running starts k.Run and waits until it has armed its timer; the
// returned stop ends it and checks that it returned nil.
func (r *rig) running(t *testing.T, k *auth.Keeper) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	r.armed(t)
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}
}

// armed waits until one clock timer is pending (Run waits on it).
func (r *rig) armed(t *testing.T) { enginetest.WaitPending(t, r.clock, 1) }

func (r *rig) assertRegisteredOnce(t *testing.T) {
	t.Helper()
	if n := r.fake.count("POST /auth/register"); n != 1 {
		t.Errorf("%d registrations, want exactly 1: a refresh must never re-register", n)
	}
}

func newKeeper(t *testing.T, r *rig, o auth.KeeperOptions) (*auth.Keeper, *memStore, *auth.Session) {
	t.Helper()
	s := r.register(t)
	st := &memStore{}
	return auth.NewKeeper(r.app, st, s, o), st, s
}

func TestKeeperRenewsTheAccessTokenBeforeExpiry(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.clock.Advance(54 * time.Minute)
	if got, _ := k.AccessToken(context.Background(), false); got != s.AccessToken || r.fake.count("POST /auth/token") != 0 {
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
	r.armed(t)
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the second renewal", func() bool { return r.fake.count("POST /auth/token") == 2 })
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
	if n := r.fake.count("POST /ap/exchangetoken/cookies"); n != 2 {
		t.Errorf("%d exchanges, want 2", n)
	}
	if n := r.fake.count("GET /api/language"); n != 2 {
		t.Errorf("%d csrf requests, want 2", n)
	}
	r.assertRegisteredOnce(t)
}

func webClient(k *auth.Keeper) *request.Client {
	return request.New(request.Family{Name: "web"}, request.Options{Auth: k.WebAuth()})
}

func TestWebAuthRenewsRefusedCookiesOnce(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, _ := newKeeper(t, r, auth.KeeperOptions{})
	c := webClient(k)
	get := func() error {
		_, err := c.Do(context.Background(), request.Request{Method: "GET", URL: r.fake.srv.URL + "/api/customer-status"})
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	r.fake.expireCookies()
	if err := get(); err != nil {
		t.Fatalf("after a 401: %v", err)
	}
	if n := r.fake.count("POST /ap/exchangetoken/cookies"); n != 2 || st.saves() != 1 {
		t.Fatalf("%d exchanges and %d saves, want 2 and 1", n, st.saves())
	}
	// Cookies Amazon refuses at once: one exchange, then the 401 is final.
	r.fake.set(func(f *fakeAmazon) { f.cookieTTL = 0 })
	r.fake.expireCookies()
	err := get()
	var e *request.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want the final 401", err)
	}
	if n := r.fake.count("POST /ap/exchangetoken/cookies"); n != 3 {
		t.Fatalf("%d exchanges, want 3 (one per refused call)", n)
	}
	r.assertNoSecrets(t, err.Error(), "the error")
	r.assertRegisteredOnce(t)
}

func TestKeeperSavesBeforeUse(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	var mu sync.Mutex
	var unsaved []string
	r.fake.set(func(f *fakeAmazon) {
		f.hook = func(req *http.Request) {
			saved := st.last()
			token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
			cookie := req.Header.Get("Cookie")
			mu.Lock()
			defer mu.Unlock()
			if token != "" && token != s.AccessToken && (saved == nil || saved.AccessToken != token) {
				unsaved = append(unsaved, req.URL.Path+" bearer")
			}
			if strings.HasPrefix(req.URL.Path, "/api/customer-status") && cookie != s.WebCookie() && (saved == nil || saved.WebCookie() != cookie) {
				unsaved = append(unsaved, req.URL.Path+" cookie")
			}
		}
	})
	bc := request.New(request.Family{Name: "auth", RefusedStatus: []int{401, 403}}, request.Options{Auth: k.BearerAuth()})
	r.fake.expireAccess()
	_, err := bc.Do(context.Background(), request.Request{Method: "PUT", URL: r.fake.srv.URL + "/v1/devices/@self/capabilities",
		Body: []byte(`{"envelopeVersion":"20160207"}`)})
	if err != nil {
		t.Fatal(err)
	}
	r.fake.expireCookies()
	if _, err := webClient(k).Do(context.Background(), request.Request{Method: "GET", URL: r.fake.srv.URL + "/api/customer-status"}); err != nil {
		t.Fatal(err)
	}
	if len(unsaved) > 0 || st.saves() != 2 {
		t.Fatalf("used before saved: %q (%d saves)", unsaved, st.saves())
	}
	// A failed save keeps the old session and fails the call.
	st.err = errors.New("disk full")
	before := k.Session()
	_, err = k.AccessToken(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "save session: disk full") {
		t.Fatalf("err = %v", err)
	}
	if k.Session().AccessToken != before.AccessToken {
		t.Fatal("an unsaved token was published")
	}
}

func TestKeeperDeadRefreshToken(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k, st, _ := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.fake.deregister()
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the dead session", func() bool { return k.State().LoginRequired })
	state := k.State()
	if !strings.Contains(state.Reason, "POST /auth/token: 400 Bad Request: invalid_grant") {
		t.Errorf("reason %q: want the request and Amazon's code", state.Reason)
	}
	tokens := r.fake.count("POST /auth/token")
	_, err := k.AccessToken(context.Background(), true)
	if !errors.Is(err, auth.ErrSessionDead) || !strings.Contains(err.Error(), "alexarules login") {
		t.Fatalf("AccessToken err = %v, want ErrSessionDead", err)
	}
	_, werr := webClient(k).Do(context.Background(), request.Request{Method: "GET", URL: r.fake.srv.URL + "/api/customer-status"})
	if !errors.Is(werr, auth.ErrSessionDead) {
		t.Fatalf("web call err = %v, want ErrSessionDead", werr)
	}
	if n := r.fake.count("POST /auth/token"); n != tokens || r.fake.count("GET /api/customer-status") != 0 {
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
	k, _, _ := newKeeper(t, r, auth.KeeperOptions{})
	r.fake.deregister()
	r.fake.expireCookies()
	_, err := webClient(k).Do(context.Background(), request.Request{Method: "GET", URL: r.fake.srv.URL + "/api/customer-status"})
	if err == nil || !k.State().LoginRequired || !strings.Contains(k.State().Reason, "/ap/exchangetoken/cookies") {
		t.Fatalf("err %v, state %+v", err, k.State())
	}
	if _, err := k.AccessToken(context.Background(), false); !errors.Is(err, auth.ErrSessionDead) {
		t.Fatalf("AccessToken err = %v", err)
	}
}

func TestKeeperRetriesTransientFailures(t *testing.T) {
	r := newRig(t, auth.AppOptions{MaxAttempts: 1})
	k, st, s := newKeeper(t, r, auth.KeeperOptions{})
	stop := r.running(t, k)
	defer stop()
	r.fake.set(func(f *fakeAmazon) { f.fail["POST /auth/token"] = 2 })
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the first attempt", func() bool { return r.fake.count("POST /auth/token") == 1 })
	r.armed(t)
	if k.Session().AccessToken != s.AccessToken || st.saves() != 0 || k.State().LoginRequired {
		t.Fatal("a 503 changed the session")
	}
	r.clock.Advance(30 * time.Second)
	enginetest.WaitUntil(t, "the second attempt", func() bool { return r.fake.count("POST /auth/token") == 2 })
	r.armed(t)
	r.clock.Advance(59 * time.Second)
	if r.fake.count("POST /auth/token") != 2 {
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
	r.fake.set(func(f *fakeAmazon) { f.fail["POST /auth/token"] = 1 })
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
	if n := r.fake.count("POST /auth/token"); n != 1 {
		t.Fatalf("%d renewals, want 1", n)
	}
}

func TestKeeperOfAnUnusableSession(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	k := auth.NewKeeper(r.app, &memStore{}, &auth.Session{}, auth.KeeperOptions{})
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

func TestKeeperStartedLateRenewsAtOnce(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	s := r.register(t)
	// The engine was stopped for two days: both renewals are overdue.
	r.clock.Advance(48 * time.Hour)
	st := &memStore{}
	k := auth.NewKeeper(r.app, st, s, auth.KeeperOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	enginetest.WaitUntil(t, "both renewals", func() bool {
		last := st.last()
		return last != nil && last.AccessToken != s.AccessToken && last.CookiesRefreshed.Equal(epoch.Add(48*time.Hour))
	})
	// What was saved is a working session for the next start.
	next := auth.NewKeeper(r.app, st, st.last(), auth.KeeperOptions{})
	if _, err := webClient(next).Do(ctx, request.Request{Method: "GET", URL: r.fake.srv.URL + "/api/customer-status"}); err != nil {
		t.Fatal(err)
	}
	r.assertRegisteredOnce(t)
}
