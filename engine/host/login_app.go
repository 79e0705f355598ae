package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/auth/signin"
	"github.com/alexarules/alexarules/engine/store"
)

// AppLoginOptions choose how the household login reaches the browser.
type AppLoginOptions struct {
	// URL prints the sign-in URL and reads the final /ap/maplanding URL
	// from In, for machines without a browser, instead of serving the
	// sign-in proxy.
	URL bool
	In  io.Reader
	// Out receives what the user must open (one line with the proxy's
	// URL) or paste.
	Out    io.Writer
	Logger *slog.Logger
}

// LoginRefusedError is a login Amazon (or the user) did not complete:
// the registration was refused, the pasted URL has no code. Nothing was
// stored.
type LoginRefusedError struct{ Err error }

func (e *LoginRefusedError) Error() string { return "login refused: " + e.Err.Error() }
func (e *LoginRefusedError) Unwrap() error { return e.Err }

// successPageGrace bounds how long a finished login waits for the browser
// to fetch its last page before it stops the proxy.
const successPageGrace = 10 * time.Second

// LoginApp signs in as the Alexa app does (households): it registers the
// data file's app device with the account the user signs in to, in their
// browser through the sign-in proxy or by pasting the final URL, and
// stores the session. A refused login leaves the stored session as it was.
func LoginApp(ctx context.Context, cfg Config, getenv func(string) string, o AppLoginOptions) error {
	cfg = cfg.WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	hosts, err := alexa.HostsFor(cfg.AlexaConfig(getenv).Region, cfg.Cloud)
	if err != nil {
		return &ConfigError{err}
	}
	app, err := auth.NewApp(hosts, auth.AppOptions{Logger: o.Logger})
	if err != nil {
		return &ConfigError{err}
	}
	st, err := openForLogin(cfg.Data, o.Logger)
	if err != nil {
		return err
	}
	defer st.Close()
	dev, err := appDevice(st)
	if err != nil {
		return err
	}
	pkce, err := auth.NewPKCE()
	if err != nil {
		return err
	}
	code, cookies, finish, err := signIn(ctx, auth.SignInURL(hosts, dev, pkce), cfg.Cloud, dev, o)
	if err != nil {
		return err
	}
	err = registerAndStore(ctx, app, st, dev, pkce, code, cookies)
	finish(err)
	return err
}

// openForLogin opens the data file; a running engine holding it is a
// clear failure, not a wait.
func openForLogin(path string, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(path, store.Options{Logger: log})
	if errors.Is(err, store.ErrInUse) {
		return nil, fmt.Errorf("the data file %s is in use by a running alexarules: stop it, log in, then start it again (%w)", path, store.ErrInUse)
	}
	return st, err
}

// signIn gets an authorization code from the user's sign-in at start:
// through the sign-in proxy, or (o.URL) from the pasted final URL. finish
// tells the browser how the login ended and stops the proxy.
func signIn(ctx context.Context, start, cloud string, dev auth.Device, o AppLoginOptions) (
	code string, cookies []*http.Cookie, finish func(error), err error) {
	if o.URL {
		code, err := signin.ReadCode(ctx, o.Out, o.In, start)
		if err != nil {
			return "", nil, nil, &LoginRefusedError{err}
		}
		return code, nil, func(error) {}, nil
	}
	p, err := signin.Start(signin.Options{StartURL: start, Cloud: cloud, DeviceCookies: dev.Cookies(), Logger: o.Logger})
	if err != nil {
		return "", nil, nil, err
	}
	fmt.Fprintf(o.Out, "open %s in your browser and sign in to Amazon\n", p.URL())
	res, err := p.Wait(ctx)
	if err != nil {
		p.Close()
		return "", nil, nil, err
	}
	finish = func(outcome error) {
		fctx, cancel := context.WithTimeout(ctx, successPageGrace)
		defer cancel()
		p.Finish(fctx, outcome)
	}
	return res.Code, res.Cookies, finish, nil
}

// registerAndStore registers the device with the code and stores the
// session, then the account: one Put each, nothing when Amazon refuses.
func registerAndStore(ctx context.Context, app *auth.App, st *store.Store, dev auth.Device, pkce auth.PKCE,
	code string, cookies []*http.Cookie) error {
	sess, err := app.Register(ctx, dev, pkce, code, cookies)
	if err != nil {
		return &LoginRefusedError{fmt.Errorf("registering the device: %w", err)}
	}
	if err := (SessionStore{st}).SaveSession(sess); err != nil {
		return err
	}
	return saveAccount(st, AccountApp)
}
