package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// ErrSessionDead is wrapped by every Keeper error once Amazon refused the
// refresh token (invalid_grant, InvalidToken): only a new interactive
// login helps.
var ErrSessionDead = errors.New("the Amazon session is no longer valid: run `alexarules login` again")

// Defaults of KeeperOptions.
const (
	DefaultAccessMargin   = 5 * time.Minute
	DefaultCookieInterval = 24 * time.Hour
)

// KeeperOptions tune NewKeeper; the zero value is usable. The clock is
// the App's.
type KeeperOptions struct {
	Logger *slog.Logger // default: the App's logger
	// AccessMargin is how long before its expiry the access token is
	// renewed (DefaultAccessMargin; at most half the token's lifetime).
	AccessMargin time.Duration
	// CookieInterval is the longest the web cookies go without a new
	// exchange (DefaultCookieInterval).
	CookieInterval time.Duration
	// RetryBase and RetryMax shape Run's back-off after a refresh that
	// failed for a transient reason (defaults 30 s and 10 min).
	RetryBase, RetryMax time.Duration
}

// SessionState is what the health and metrics endpoints show.
type SessionState struct {
	LoginRequired    bool   // the refresh token is dead: log in again
	Reason           string // why, naming the request and Amazon's error code
	AccessExpiry     time.Time
	CookiesRefreshed time.Time
}

// Keeper keeps one Session alive from its refresh token: new access
// tokens before they expire, new web cookies at least every
// CookieInterval and when the web API refuses them. It never registers
// again. Every new session is saved through the SessionStore before it is
// used, so a crash at any point leaves the previous or the new session,
// both usable. It is safe for concurrent use.
type Keeper struct {
	app    *App
	store  SessionStore
	logger *slog.Logger
	opts   KeeperOptions
	hosts  alexa.Hosts

	mu       sync.Mutex
	sess     *Session // published: replaced, never changed
	dead     string   // why the session is dead; "" while alive
	failures int      // refreshes failed in a row (Run's back-off)

	accessMu sync.Mutex // one access-token refresh at a time
	cookieMu sync.Mutex // one cookie exchange at a time
	running  atomic.Bool
}

// NewKeeper returns a keeper of s (as Register returned it or the store
// loaded it). A session that fails Validate makes a keeper whose State
// says to log in again.
func NewKeeper(a *App, st SessionStore, s *Session, o KeeperOptions) *Keeper {
	if o.Logger == nil {
		o.Logger = a.logger
	}
	o.AccessMargin = orDefault(o.AccessMargin, DefaultAccessMargin)
	o.CookieInterval = orDefault(o.CookieInterval, DefaultCookieInterval)
	o.RetryBase = orDefault(o.RetryBase, 30*time.Second)
	o.RetryMax = orDefault(o.RetryMax, 10*time.Minute)
	k := &Keeper{app: a, store: st, logger: o.Logger, opts: o, hosts: a.hosts}
	if err := s.Validate(); err != nil {
		k.sess = &Session{}
		k.dead = err.Error()
		return k
	}
	k.sess = s.Clone()
	if h, err := a.hostsOf(s); err == nil {
		k.hosts = h
	} else {
		k.logger.Warn("auth: keeping the login hosts", "err", err)
	}
	return k
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Hosts are the hosts of the account: its marketplace's web, lists and
// identity hosts and the push host of its home region (all the --cloud
// base under --cloud).
func (k *Keeper) Hosts() alexa.Hosts { return k.hosts }

// State reports whether the session is alive.
func (k *Keeper) State() SessionState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return SessionState{LoginRequired: k.dead != "", Reason: k.dead,
		AccessExpiry: k.sess.AccessExpiry, CookiesRefreshed: k.sess.CookiesRefreshed}
}

// Session returns a copy of the current session.
func (k *Keeper) Session() *Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sess.Clone()
}

// WebCookie is the current Cookie header of the web API (csrf
// included), for push.WebsocketOptions.CookieFunc: it changes with every
// cookie renewal.
func (k *Keeper) WebCookie() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sess.WebCookie()
}

// ADP returns the registration's mac_dms adp_token and device private
// key (base64 PKCS#8, see ParseDeviceKey) for push.WebsocketOptions.
func (k *Keeper) ADP() (adpToken, privateKey string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sess.ADPToken, k.sess.DevicePrivateKey
}

// current is the live session, or the ErrSessionDead error.
func (k *Keeper) current() (*Session, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead != "" {
		return nil, fmt.Errorf("alexa auth: %w (%s)", ErrSessionDead, k.dead)
	}
	return k.sess, nil
}

// refreshAt is when s's access token is due for renewal: AccessMargin
// before its expiry, but no earlier than half its lifetime (a short-lived
// token must not make the keeper renew it in a loop).
func (k *Keeper) refreshAt(s *Session) time.Time {
	margin := k.opts.AccessMargin
	if !s.AccessRefreshed.IsZero() {
		margin = min(margin, s.AccessExpiry.Sub(s.AccessRefreshed)/2)
	}
	return s.AccessExpiry.Add(-margin)
}

// cookiesDue is when s's web cookies are due for a new exchange.
func (k *Keeper) cookiesDue(s *Session) time.Time {
	return s.CookiesRefreshed.Add(k.opts.CookieInterval)
}

// AccessToken returns a valid access token, renewing it when it is due or
// when force is set (the push was refused it). It has the signature of
// push.HTTP2Options.Token.
func (k *Keeper) AccessToken(ctx context.Context, force bool) (string, error) {
	s, err := k.current()
	if err != nil {
		return "", err
	}
	if !force && k.app.clock.Now().Before(k.refreshAt(s)) {
		return s.AccessToken, nil
	}
	return k.refreshAccess(ctx, s.AccessToken, force)
}

// refreshAccess renews the access token unless another caller already
// replaced seen with a token that is not due.
func (k *Keeper) refreshAccess(ctx context.Context, seen string, force bool) (string, error) {
	k.accessMu.Lock()
	defer k.accessMu.Unlock()
	s, err := k.current()
	if err != nil {
		return "", err
	}
	fresh := k.app.clock.Now().Before(k.refreshAt(s))
	if fresh && (!force || s.AccessToken != seen) {
		return s.AccessToken, nil
	}
	now := k.app.clock.Now()
	token, expiry, err := k.app.accessToken(ctx, s.RefreshToken)
	if err != nil {
		return "", k.failed(ctx, err)
	}
	err = k.update(func(n *Session) { n.AccessToken, n.AccessExpiry, n.AccessRefreshed = token, expiry, now })
	if err != nil {
		return "", err
	}
	k.logger.DebugContext(ctx, "auth: access token renewed", "expiry", expiry)
	return token, nil
}

// refreshCookies makes new web cookies and csrf, unless another caller
// already replaced the cookie header seen.
func (k *Keeper) refreshCookies(ctx context.Context, seen string) error {
	k.cookieMu.Lock()
	defer k.cookieMu.Unlock()
	s, err := k.current()
	if err != nil {
		return err
	}
	if s.WebCookie() != seen {
		return nil
	}
	n := s.Clone()
	if err := k.app.webSession(ctx, k.hosts, n); err != nil {
		return k.failed(ctx, err)
	}
	err = k.update(func(x *Session) { x.WebCookies, x.CSRF, x.CookiesRefreshed = n.WebCookies, n.CSRF, n.CookiesRefreshed })
	if err == nil {
		k.logger.DebugContext(ctx, "auth: web cookies renewed", "cookies", len(n.WebCookies))
	}
	return err
}

// update applies change to a copy of the session, saves the copy and
// only then publishes it: nothing uses a credential the store does not
// hold. A failed save keeps the old session.
func (k *Keeper) update(change func(*Session)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.sess.Clone()
	change(n)
	if err := k.store.SaveSession(n); err != nil {
		return fmt.Errorf("auth: save session: %w", err)
	}
	k.sess = n
	return nil
}

// failed turns a refresh error into ErrSessionDead when the identity
// service refused the refresh token itself (refusedError), logging that
// once; other errors (5xx after the retries, network, a web host's 401)
// leave the session as it was.
func (k *Keeper) failed(ctx context.Context, err error) error {
	var refused *refusedError
	if !errors.As(err, &refused) {
		return err
	}
	k.mu.Lock()
	first := k.dead == ""
	if first {
		k.dead = err.Error()
	}
	k.mu.Unlock()
	if first {
		k.logger.ErrorContext(ctx, "Amazon refused the stored session: run `alexarules login` again", "err", err)
	}
	return fmt.Errorf("%w: %w", err, ErrSessionDead)
}

// Run keeps the session alive until ctx ends, then returns nil: it renews
// the access token AccessMargin before it expires and the web cookies
// every CookieInterval, on the App's clock, and checks the web session
// (GET /api/customer-status, research §1.9) at the start and after every
// cookie renewal it makes; a 401 there makes new cookies and csrf once,
// as WebAuth does. A refresh or check that fails for a transient reason
// (a web host's 401 included) is tried again with back-off (RetryBase
// doubling to RetryMax) while the old session stays in use; only the
// identity service's refusal of the refresh token kills the session,
// which stops the renewals (State says to log in again) but not Run, so
// the engine keeps running what does not need Amazon. A Keeper runs once
// at a time: a second Run while one is running returns an error.
func (k *Keeper) Run(ctx context.Context) error {
	if !k.running.CompareAndSwap(false, true) {
		return errors.New("auth: keeper: Run is already running")
	}
	defer k.running.Store(false)
	clock := k.app.clock
	check := true // the session check is due
	var retryAt time.Time
	for {
		next, alive := k.next(retryAt)
		if check && retryAt.IsZero() {
			next = clock.Now()
		}
		if !alive {
			<-ctx.Done()
			return nil
		}
		// Work that is due already (a start after a long stop) runs now,
		// not at the clock's next tick, which a virtual clock may never give.
		if retry.ClockSleep(clock)(ctx, next.Sub(clock.Now())) != nil {
			return nil
		}
		retryAt = time.Time{}
		if err := k.tick(ctx, &check); err != nil && ctx.Err() == nil {
			if _, alive := k.next(time.Time{}); !alive {
				continue
			}
			k.mu.Lock()
			k.failures++
			delay := retry.Backoff(k.failures-1, k.opts.RetryBase, k.opts.RetryMax)
			k.mu.Unlock()
			retryAt = clock.Now().Add(delay)
			k.logger.WarnContext(ctx, "auth: session refresh or check failed; keeping the current session", "retry_in", delay, "err", err)
		}
	}
}

// next is when Run has work: the earlier of the two renewals, or retryAt
// after a failure; alive is false once the session is dead.
func (k *Keeper) next(retryAt time.Time) (time.Time, bool) {
	s, err := k.current()
	if err != nil {
		return time.Time{}, false
	}
	if !retryAt.IsZero() {
		return retryAt, true
	}
	due := k.refreshAt(s)
	if c := k.cookiesDue(s); c.Before(due) {
		due = c
	}
	return due, true
}

// tick renews what is due, then checks the web session when *check is
// set (the start) or the cookies were renewed; a check that passed
// clears *check.
func (k *Keeper) tick(ctx context.Context, check *bool) error {
	s, err := k.current()
	if err != nil {
		return err
	}
	now := k.app.clock.Now()
	if !now.Before(k.refreshAt(s)) {
		if _, err := k.refreshAccess(ctx, s.AccessToken, false); err != nil {
			return err
		}
	}
	if !now.Before(k.cookiesDue(s)) {
		if err := k.refreshCookies(ctx, s.WebCookie()); err != nil {
			return err
		}
		*check = true
	}
	if *check {
		if err := k.checkSession(ctx); err != nil {
			return err
		}
		*check = false
	}
	k.mu.Lock()
	k.failures = 0
	k.mu.Unlock()
	return nil
}

// customerStatus is the web API's session check since /api/bootstrap
// is gone (research §1.9, §11).
const customerStatus = "/api/customer-status"

// checkSession asks the web host whether the cookies are a signed-in
// session. Through WebAuth, a 401 makes new cookies and csrf once and
// asks again; a second 401 is returned and the session is kept. An
// identity service that refuses the refresh token during that exchange
// kills the session (failed).
func (k *Keeper) checkSession(ctx context.Context) error {
	_, err := k.app.web.Do(ctx, request.Request{Method: http.MethodGet, URL: k.hosts.Web + customerStatus,
		Header: http.Header{"Accept": {"application/json"}}, Auth: k.WebAuth()})
	if err != nil {
		return fmt.Errorf("auth: session check: %w", err)
	}
	return nil
}
