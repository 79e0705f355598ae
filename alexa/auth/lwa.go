// Package auth signs alexarules in to Amazon and keeps the credentials
// fresh: Login with Amazon (LWA, files lwa*.go) for Alexa Smart
// Properties accounts, and the Alexa app's device registration for
// households.
package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/request"
)

// TokenStore persists the LWA token, so that a refresh token Amazon
// rotates survives a restart. The engine backs it with bbolt.
type TokenStore interface {
	// LoadToken returns the stored token, or nil and no error if none.
	LoadToken() (*oauth2.Token, error)
	SaveToken(*oauth2.Token) error
}

// OAuth2Config is the x/oauth2 configuration of Login with Amazon for cfg's
// client and scopes and the given hosts. LWA takes the client credentials
// in the form body.
func OAuth2Config(cfg alexa.Config, h alexa.Hosts) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Scopes:       cfg.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:       h.AuthURL,
			TokenURL:      h.TokenURL,
			DeviceAuthURL: h.DeviceAuthURL,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
	}
}

// TokenSourceOptions tune NewTokenSource; the zero value is usable.
type TokenSourceOptions struct {
	HTTPClient *http.Client // for token requests; default: the request path's pooled keep-alive client
	Logger     *slog.Logger // default: discard; tokens are never logged
	Store      TokenStore   // nil: rotated tokens are not persisted
	// Observe, when set, is told every token request's result class and
	// latency under the API family "auth".
	Observe func(api, result string, d time.Duration)
}

// TokenSource is an oauth2.TokenSource for LWA's refresh-token grant that
// persists every new token through a TokenStore and can be told that an
// access token was rejected (Invalidate). Errors are *AuthError values
// that never contain a token; invalid_grant wraps ErrLoginRequired.
type TokenSource struct {
	ctx    context.Context // long-lived: x/oauth2 reuses it for every refresh
	conf   *oauth2.Config
	store  TokenStore
	logger *slog.Logger

	mu       sync.Mutex
	src      oauth2.TokenSource
	last     *oauth2.Token
	fallback string // the configured refresh token, tried once if the stored one is rejected
}

// NewTokenSource starts from the stored token if there is one, else from
// cfg.RefreshToken (after cfg.WithDefaults, so --cloud without credentials
// uses SimCredentials). ctx must live as long as the TokenSource: every
// refresh runs under it.
func NewTokenSource(ctx context.Context, cfg alexa.Config, opts TokenSourceOptions) (*TokenSource, error) {
	cfg = cfg.WithDefaults()
	hosts, err := alexa.HostsFor(cfg.Region, cfg.Cloud)
	if err != nil {
		return nil, err
	}
	s := &TokenSource{
		ctx:    withHTTPClient(ctx, opts.HTTPClient, opts.Observe),
		conf:   OAuth2Config(cfg, hosts),
		store:  opts.Store,
		logger: opts.Logger,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	var start *oauth2.Token
	if s.store != nil {
		stored, err := s.store.LoadToken()
		if err != nil {
			return nil, fmt.Errorf("alexa: load token: %w", err)
		}
		if stored != nil && stored.RefreshToken != "" {
			start = stored
			if cfg.RefreshToken != stored.RefreshToken {
				s.fallback = cfg.RefreshToken
			}
		}
	}
	if start == nil {
		if cfg.RefreshToken == "" {
			return nil, fmt.Errorf("alexa: no refresh token configured or stored: %w", ErrLoginRequired)
		}
		start = &oauth2.Token{RefreshToken: cfg.RefreshToken}
	}
	s.last = start
	s.src = s.conf.TokenSource(s.ctx, start)
	return s, nil
}

// withHTTPClient puts hc, else the client ctx already carries, else a
// default with a timeout, where x/oauth2 looks for it, timed by fn.
func withHTTPClient(ctx context.Context, hc *http.Client, fn observe.Func) context.Context {
	if hc == nil {
		hc, _ = ctx.Value(oauth2.HTTPClient).(*http.Client)
	}
	if hc == nil {
		hc = request.NewHTTPClient()
	}
	return context.WithValue(ctx, oauth2.HTTPClient, observe.Client(hc, "auth", fn))
}

// Token returns a valid access token, refreshing it when it expires or
// after Invalidate, and saves every new token to the store.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.src.Token()
	if err != nil && s.fallback != "" && isInvalidGrant(err) {
		// The stored token may predate a new one in the configuration.
		s.logger.Warn("alexa: stored refresh token rejected; trying the configured one")
		s.src = s.conf.TokenSource(s.ctx, &oauth2.Token{RefreshToken: s.fallback})
		s.fallback = ""
		t, err = s.src.Token()
	}
	if err != nil {
		return nil, s.authError(err)
	}
	if t.AccessToken != s.last.AccessToken {
		s.logger.Debug("alexa: access token refreshed", "expiry", t.Expiry,
			"refresh_token_rotated", t.RefreshToken != s.last.RefreshToken)
		if s.store != nil {
			if err := s.store.SaveToken(t); err != nil {
				// The token works now; only a restart would miss it.
				s.logger.Warn("alexa: could not persist the refreshed token", "err", err)
			}
		}
	}
	s.last = t
	return t, nil
}

// Invalidate makes the next Token call refresh, if accessToken is still
// the current one; concurrent 401s thus cause one refresh, not many.
func (s *TokenSource) Invalidate(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.AccessToken != accessToken {
		return
	}
	s.src = s.conf.TokenSource(s.ctx, &oauth2.Token{RefreshToken: s.last.RefreshToken})
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// authError turns x/oauth2 errors into AuthError, whose text leaves out
// the raw body; a description echoing a token is redacted.
func (s *TokenSource) authError(err error) error {
	return toAuthError(err, s.last.AccessToken, s.last.RefreshToken, s.fallback)
}

func toAuthError(err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("alexa: login with amazon: %w", err)
	}
	e := &AuthError{Code: re.ErrorCode, Description: re.ErrorDescription}
	if re.Response != nil {
		e.Status = re.Response.StatusCode
	}
	for _, sec := range secrets {
		if sec != "" {
			e.Description = strings.ReplaceAll(e.Description, sec, "[redacted]")
		}
	}
	return e
}

// LoginAuthCode runs the authorization-code flow with PKCE: it listens on
// cfg.RedirectAddr (a loopback address; its /callback URL must be an
// allowed return URL of the LWA security profile), prints the login URL to
// out and passes it to open (may be nil), checks the state of the redirect
// and exchanges the code. The HTTP client for the exchange is taken from
// ctx (oauth2.HTTPClient), as x/oauth2 does.
func LoginAuthCode(ctx context.Context, cfg alexa.Config, open func(url string), out io.Writer) (*oauth2.Token, error) {
	cfg = cfg.WithDefaults()
	hosts, err := alexa.HostsFor(cfg.Region, cfg.Cloud)
	if err != nil {
		return nil, err
	}
	ln, err := loopbackListener(ctx, cfg.RedirectAddr)
	if err != nil {
		return nil, err
	}
	conf := OAuth2Config(cfg, hosts)
	conf.RedirectURL = "http://" + ln.Addr().String() + "/callback"
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier() // 32 random bytes, URL-safe
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	done := make(chan callbackResult, 1)
	mux := http.NewServeMux()
	mux.Handle("GET /callback", callbackHandler(state, done))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed at Shutdown
	// Shutdown, not Close: the handler reports before its answer reaches
	// the browser, and the browser must still get the page.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	fmt.Fprintf(out, "Open this URL in a browser to log in with Amazon:\n\n  %s\n\n", authURL)
	if open != nil {
		open(authURL)
	}
	var res callbackResult
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("alexa: login: %w", ctx.Err())
	case res = <-done:
	}
	if res.err != nil {
		return nil, res.err
	}
	tok, err := conf.Exchange(withHTTPClient(ctx, nil, nil), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, toAuthError(err)
	}
	return checkLoginToken(tok)
}

// loopbackListener listens on addr, which must be a loopback address:
// the authorization code must not reach another machine.
func loopbackListener(ctx context.Context, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("alexa: redirect address: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("alexa: redirect address %q is not a loopback address", addr)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("alexa: login listener: %w", err)
	}
	return ln, nil
}

// callbackResult is what the redirect to /callback brought: a code or
// why there is none.
type callbackResult struct {
	code string
	err  error
}

// callbackHandler serves the redirect of the authorization-code flow: it
// checks state and reports the first result on done (buffered, size 1);
// later requests change nothing.
func callbackHandler(state string, done chan<- callbackResult) http.HandlerFunc {
	report := func(r callbackResult) {
		select {
		case done <- r:
		default:
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("state") != state:
			http.Error(w, "state mismatch: start the login again", http.StatusBadRequest)
			report(callbackResult{err: errors.New("alexa: login: state mismatch in the redirect")})
		case q.Get("error") != "":
			http.Error(w, "login failed: "+q.Get("error"), http.StatusBadRequest)
			report(callbackResult{err: &AuthError{Code: q.Get("error"), Description: q.Get("error_description")}})
		case q.Get("code") == "":
			http.Error(w, "no authorization code", http.StatusBadRequest)
			report(callbackResult{err: errors.New("alexa: login: the redirect has no code")})
		default:
			fmt.Fprintln(w, "Logged in to Amazon. You can close this window.")
			report(callbackResult{code: q.Get("code")})
		}
	}
}

// LoginDevice runs LWA code-based linking, which is RFC 8628 with three
// differences x/oauth2 is told about: the code-pair request carries
// response_type=device_code, the token request grant_type=device_code and
// the user_code. It prints the verification URL and code to out and polls
// until the user approves, the code expires or ctx ends. The HTTP client is
// taken from ctx (oauth2.HTTPClient).
func LoginDevice(ctx context.Context, cfg alexa.Config, out io.Writer) (*oauth2.Token, error) {
	cfg = cfg.WithDefaults()
	hosts, err := alexa.HostsFor(cfg.Region, cfg.Cloud)
	if err != nil {
		return nil, err
	}
	conf := OAuth2Config(cfg, hosts)
	ctx = withHTTPClient(ctx, nil, nil)
	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("response_type", "device_code"))
	if err != nil {
		return nil, toAuthError(err)
	}
	fmt.Fprintf(out, "To log in with Amazon, visit %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	tok, err := conf.DeviceAccessToken(ctx, da,
		oauth2.SetAuthURLParam("grant_type", "device_code"),
		oauth2.SetAuthURLParam("user_code", da.UserCode))
	if err != nil {
		return nil, toAuthError(err)
	}
	return checkLoginToken(tok)
}

func checkLoginToken(tok *oauth2.Token) (*oauth2.Token, error) {
	if tok.RefreshToken == "" {
		// LWA only returns a refresh token when the client secret was sent.
		return nil, errors.New("alexa: login: no refresh token in the answer (is the client secret configured?)")
	}
	return tok, nil
}
