package host

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/store"
)

// householdSession returns the stored household session when the data
// file holds a household account (`alexarules login`), and nil otherwise:
// an LWA account, or none, and the configuration decides as before.
func householdSession(st *store.Store) (*auth.Session, error) {
	if st == nil {
		return nil, nil
	}
	acct, err := LoadAccount(st)
	if err != nil || acct.Auth != AccountApp {
		return nil, err
	}
	sess, err := SessionStore{st}.LoadSession()
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return nil, configErrorf("the data file %s names a household account but holds no session: run `alexarules login`", st.Path())
	}
	return sess, nil
}

// accountOf is the account st and the configuration name: the stored
// household session (nil: none) and what the account reaches devices
// with; hasCookie tells whether a web cookie is configured.
func accountOf(acfg alexa.Config, st *store.Store, hasCookie bool) (*auth.Session, accountKinds, error) {
	sess, err := householdSession(st)
	if err != nil {
		return nil, accountKinds{}, err
	}
	return sess, accountKinds{household: sess != nil, features: alexaConfigured(acfg) || hasStoredToken(st),
		web: sess != nil || hasCookie}, nil
}

// newKeeper builds the registration client for hosts (alexa.HostsFor of
// the configured region, or of --cloud) and the keeper of sess, which
// saves every refresh in st; with st nil (the data file is held by a
// running engine) refreshes are not kept.
func newKeeper(hosts alexa.Hosts, st *store.Store, sess *auth.Session, clock engine.Clock, log *slog.Logger,
	observe func(api, result string, d time.Duration)) (*auth.Keeper, error) {
	app, err := auth.NewApp(hosts, auth.AppOptions{Logger: log, Clock: clock, Observe: observe})
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("alexa sign-in: %w", err)}
	}
	var ss auth.SessionStore = discardSessions{}
	if st != nil {
		ss = SessionStore{st}
	}
	return auth.NewKeeper(app, ss, sess, auth.KeeperOptions{Logger: log}), nil
}

// discardSessions keeps no session: for a command that found the data
// file held by a running engine, which keeps its own.
type discardSessions struct{}

func (discardSessions) LoadSession() (*auth.Session, error) { return nil, nil }
func (discardSessions) SaveSession(*auth.Session) error     { return nil }

// keeperAccess is how the bridge reaches a household account, on the
// hosts of its marketplace and home region: cookies and csrf for the web
// API, the registration's access token for the HTTP/2 push, the cookie
// and the registration's ADP token and key for the websocket, which takes
// the current cookies at every (re)connect.
func keeperAccess(k *auth.Keeper) (webAccess, error) {
	acc := webAccess{hosts: k.Hosts(), token: k.AccessToken}
	acc.web = web.Options{Hosts: acc.hosts, Auth: k.WebAuth()}
	acc.ws.CookieFunc = k.WebCookie
	if adp, key := k.ADP(); adp != "" && key != "" {
		pk, err := auth.ParseDeviceKey(key)
		if err != nil {
			return acc, fmt.Errorf("stored session: %w", err)
		}
		acc.ws.ADPToken, acc.ws.PrivateKey = adp, pk
	}
	return acc, nil
}

// keepAlive runs the keeper as one of the runtime's parts and reports its
// state to /healthz and /metrics. A dead session does not end Run: the
// rules that need no Amazon go on.
func (rt *alexaRuntime) keepAlive(k *auth.Keeper) {
	rt.parts = append(rt.parts, k.Run)
	rt.account = func() admin.AccountReport {
		st := k.State()
		return admin.AccountReport{LoginRequired: st.LoginRequired, Reason: st.Reason}
	}
	rt.gauges = append(rt.gauges, func() []engine.Gauge {
		v := 0.0
		if k.State().LoginRequired {
			v = 1
		}
		return []engine.Gauge{{Name: "alexarules_alexa_login_required", Type: "gauge", Value: v,
			Help: "1 once Amazon refused the household sign-in's refresh token: run `alexarules login` again."}}
	})
}
