package host

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/poll"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// binder installs the bound API into rule states.
type binder = func(*lua.LState, scripting.RunContext)

// alexaRuntime is everything that talks to one Alexa account: the bound
// API for rules and the long-lived parts (push, notification tracker).
type alexaRuntime struct {
	bind   binder
	parts  []func(context.Context) error
	gauges []func() []engine.Gauge
	// rulesLoaded is told the loaded rules before the parts start (the
	// poller polls what they refer to).
	rulesLoaded func([]*rules.Loaded) error
	// account reports the household sign-in's state (nil: no session
	// kept alive by the engine).
	account func() admin.AccountReport
	// room is Engine.WaitRoom, set by the host before the parts run: the
	// pollers and the push connection wait for it while the engine is at
	// capacity (waitRoom).
	room func(context.Context) error
}

// waitRoom returns once the engine has room for more events (rt.room),
// or ctx's error; without an engine it returns at once.
func (rt *alexaRuntime) waitRoom(ctx context.Context) error {
	if rt.room == nil {
		return nil
	}
	return rt.room(ctx)
}

// alexaSetup is what the host needs to connect to Alexa: the open store
// (tokens, snapshots) and the engine's clock and publish.
type alexaSetup struct {
	// store keeps the account's secrets (tokens, cookies): the local file
	// also in cluster mode.
	store *store.Store
	// shared keeps what the sources share with the rest of the cluster
	// (readings, fired rings, push dedup): store, or the cluster's
	// account scope.
	shared engine.Store
	// readShared makes device():last() read the shared readings too: in
	// cluster mode, one node polls and every node's rules read.
	readShared bool
	clock      engine.Clock
	publish    func(engine.Event)
	// observe times every Amazon request for the API latency histogram.
	observe func(api, result string, d time.Duration)
	// downResync is the bridge's re-sync interval while push is down
	// (0: its default).
	downResync time.Duration
}

// newBinder binds device() and alexa.* to an account; nil parts mean none
// is configured (the functions then say so when used).
func newBinder(eps scripting.Endpoints, readings scripting.Readings, hh scripting.Household, clock engine.Clock) binder {
	return func(L *lua.LState, run scripting.RunContext) {
		scripting.OpenDevice(L, run, eps, readings)
		scripting.OpenAlexa(L, run, hh, clock)
	}
}

// WebCookie is the Alexa web API's cookie (Echos, alarms, lists): from
// the file, the environment, or the simulator's with --cloud; ok is false
// when there is none.
func (c Config) WebCookie(getenv func(string) string) (cookie string, ok bool) {
	cookie = c.Alexa.Cookie
	if getenv != nil {
		if v := getenv("ALEXARULES_COOKIE"); v != "" {
			cookie = v
		}
	}
	if cookie == "" && c.Cloud != "" {
		cookie = web.SimCookie
	}
	return cookie, cookie != ""
}

// startAlexa connects to the account the data file or the configuration
// names: a household session stored by `alexarules login`, else the
// configured LWA client and web cookie (--cloud: the simulator's). Without
// one, rules that need no Alexa still run. device() goes to the backend
// deviceBackend picks.
func startAlexa(ctx context.Context, cfg Config, getenv func(string) string, s alexaSetup, log *slog.Logger) (*alexaRuntime, error) {
	acfg := cfg.AlexaConfig(getenv)
	cookie, hasCookie := cfg.WebCookie(getenv)
	sess, kinds, err := accountOf(acfg, s.store, hasCookie)
	if err != nil {
		return nil, err
	}
	rt := &alexaRuntime{bind: newBinder(nil, nil, nil, s.clock)}
	if !kinds.features && !kinds.web {
		log.Info("no Alexa account configured: device() and alexa.* are unavailable; schedule and event rules run")
		return rt, nil
	}
	backend, err := cfg.deviceBackend(kinds)
	if err != nil {
		return nil, err
	}
	hosts, err := alexa.HostsFor(acfg.Region, acfg.Cloud)
	if err != nil {
		return nil, &ConfigError{err}
	}
	var fc featuresAccess
	// The LWA token also bears the push of an account without a household
	// sign-in.
	if kinds.features && (backend == DevicesFeatures || sess == nil) {
		if fc.client, fc.tokens, err = newAlexaClient(ctx, acfg, s.store, log, s.observe); err != nil {
			return nil, err
		}
	}
	acc, hasWeb, err := rt.webAccess(sess, cookie, hasCookie, hosts, fc.tokens, s, log)
	if err != nil {
		return nil, err
	}
	eps, readings, err := rt.startDevices(backend, cfg, acfg, hosts, fc, acc, s, log)
	if err != nil {
		return nil, err
	}
	var hh scripting.Household
	if hasWeb {
		if hh, err = rt.startBridge(cfg, acc, s, log); err != nil {
			return nil, err
		}
	}
	if readings != nil && s.readShared {
		readings = sharedReadings{local: readings, st: s.shared}
	}
	rt.bind = newBinder(eps, readings, hh, s.clock)
	return rt, nil
}

// featuresAccess is the Endpoint Features client and its LWA tokens; both
// nil when the account has none.
type featuresAccess struct {
	client *features.Client
	tokens *auth.TokenSource
}

// startDevices connects device() to backend ("" leaves it unbound).
func (rt *alexaRuntime) startDevices(backend string, cfg Config, acfg alexa.Config, hosts alexa.Hosts, fc featuresAccess,
	acc webAccess, s alexaSetup, log *slog.Logger) (scripting.Endpoints, scripting.Readings, error) {
	switch backend {
	case DevicesFeatures:
		return rt.startFeatures(cfg, acfg, hosts, fc, s, log)
	case DevicesSmartHome:
		return rt.startSmartHome(cfg, acc, s, log)
	}
	return nil, nil, nil
}

// webAccess is how the bridge reaches an account's web API and push: the
// hosts, the web client's credentials (Auth or Cookie), the HTTP/2 bearer
// token (nil: none) and the websocket's cookie and signing key.
type webAccess struct {
	hosts alexa.Hosts
	web   web.Options
	token func(ctx context.Context, force bool) (string, error)
	ws    push.WebsocketOptions
}

// webAccess picks the web credentials: the household session's, kept
// alive by a keeper that becomes one of the parts, or the configured
// cookie with the LWA token for push. ok is false when there are none.
func (rt *alexaRuntime) webAccess(sess *auth.Session, cookie string, hasCookie bool, hosts alexa.Hosts,
	tokens *auth.TokenSource, s alexaSetup, log *slog.Logger) (acc webAccess, ok bool, err error) {
	if sess != nil {
		k, err := newKeeper(hosts, s.store, sess, s.clock, log, s.observe)
		if err != nil {
			return acc, false, err
		}
		if acc, err = keeperAccess(k); err != nil {
			return acc, false, &ConfigError{err}
		}
		rt.keepAlive(k)
		log.Info("household account: the session is renewed in the background", "session", k.Session())
		return acc, true, nil
	}
	if !hasCookie {
		return acc, false, nil
	}
	acc = webAccess{hosts: hosts, web: web.Options{Hosts: hosts, Cookie: cookie}, ws: push.WebsocketOptions{Cookie: cookie}}
	if tokens != nil {
		acc.token = lwaToken(tokens)
	}
	return acc, true, nil
}

// lwaToken is the HTTP/2 bearer of an LWA account; force drops the
// current token (Amazon refused it) for a new one.
func lwaToken(tokens *auth.TokenSource) func(context.Context, bool) (string, error) {
	return func(ctx context.Context, force bool) (string, error) {
		tok, err := tokens.Token()
		if err == nil && force {
			tokens.Invalidate(tok.AccessToken)
			tok, err = tokens.Token()
		}
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
}

// startFeatures connects device() to the Endpoint Features API and adds
// the poller of the readings rules refer to.
func (rt *alexaRuntime) startFeatures(cfg Config, acfg alexa.Config, hosts alexa.Hosts, fc featuresAccess, s alexaSetup,
	log *slog.Logger) (scripting.Endpoints, scripting.Readings, error) {
	dir := alexa.NewDirectory(features.Backend(fc.client), alexa.DirectoryOptions{})
	// The poller schedules its own retries within its budget: its reads
	// must not be retried inside the client as well.
	reader, err := features.NewClient(hosts.API, fc.tokens, features.ClientOptions{Logger: log, Scale: acfg.WithDefaults().Scale, MaxAttempts: 1, Observe: s.observe})
	if err != nil {
		return nil, nil, err
	}
	o := cfg.PollOptions(poll.Defaults{}, poll.Options{Clock: s.clock, Reader: reader, Store: s.shared, Publish: s.publish, Logger: log})
	poller := rt.addPoller(cfg, o, dir, resolvePolicy{retry: 30 * time.Second, tries: unmatchedRetries}, log)
	log.Info("device() uses the Endpoint Features API")
	return dir, poller, nil
}

// addPoller adds the poller of o as one of the parts: it polls what the
// loaded rules and the poll block ask for, resolved against dir as
// policy says.
func (rt *alexaRuntime) addPoller(cfg Config, o poll.Options, dir *alexa.Directory, policy resolvePolicy, log *slog.Logger) *poll.Poller {
	o.Room = rt.waitRoom
	poller := poll.New(o)
	var (
		wantsMu  sync.Mutex
		wants    []pollWant
		retarget = make(chan struct{}, 1)
	)
	rt.rulesLoaded = func(loaded []*rules.Loaded) error {
		w, err := pollWants(cfg.Poll, loaded)
		if err != nil {
			return &ConfigError{fmt.Errorf("config: %w", err)}
		}
		wantsMu.Lock()
		wants = w
		wantsMu.Unlock()
		select {
		case retarget <- struct{}{}:
		default:
		}
		return nil
	}
	rt.parts = append(rt.parts, func(ctx context.Context) error {
		return runPoller(ctx, poller, dir, func() []pollWant {
			wantsMu.Lock()
			defer wantsMu.Unlock()
			return wants
		}, retarget, policy, log)
	})
	rt.gauges = append(rt.gauges, poller.Gauges)
	return poller
}

// startBridge connects the web API and the push transport: Echos,
// alarms, reminders and lists.
func (rt *alexaRuntime) startBridge(cfg Config, acc webAccess, s alexaSetup, log *slog.Logger) (scripting.Household, error) {
	wo := acc.web
	wo.Lists, wo.Logger, wo.Observe, wo.AccessToken = cfg.Alexa.Lists, log, s.observe, acc.token
	voice, err := cfg.Voice.Options()
	if err != nil {
		return nil, &ConfigError{err}
	}
	if voice.History == web.HistoryRAH && acc.token == nil {
		return nil, &ConfigError{fmt.Errorf("voice.history rah needs an access token: sign in with `alexarules login`, or use rvh")}
	}
	wc, err := web.New(wo)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("alexa web API: %w", err)}
	}
	src, err := pushSource(cfg.Push, acc, s.observe, log)
	if err != nil {
		return nil, &ConfigError{err}
	}
	src = push.Paced(src, rt.waitRoom)
	b, err := bridge.New(bridge.Options{Web: wc, Push: src, Clock: s.clock, Store: s.shared,
		Publish: s.publish, Country: acc.hosts.Country, Logger: log, DownResync: s.downResync, Voice: voice})
	if err != nil {
		return nil, err
	}
	rt.parts = append(rt.parts, b.Run)
	if src != nil {
		rt.gauges = append(rt.gauges, func() []engine.Gauge { return pushGauges(src) })
	}
	return household{b: b, clock: s.clock}, nil
}

// pushSource builds the transport --push names (nil for off).
func pushSource(kind string, acc webAccess, observe func(api, result string, d time.Duration), log *slog.Logger) (push.Source, error) {
	switch kind {
	case "off":
		return nil, nil
	case "websocket":
		o := acc.ws
		o.URL, o.Logger, o.Observe = acc.hosts.PushGateway, log, observe
		return push.NewWebsocket(o), nil
	case "", "http2":
		if acc.token == nil {
			return nil, fmt.Errorf("--push http2 needs an access token: sign in with `alexarules login`, or use --push websocket")
		}
		return push.NewHTTP2(push.HTTP2Options{BaseURL: acc.hosts.Push, Logger: log, Observe: observe, Token: acc.token}), nil
	}
	return nil, fmt.Errorf("--push %q: http2, websocket or off", kind)
}

func pushGauges(src push.Source) []engine.Gauge {
	st := src.Stats()
	connected := 0.0
	if src.LastError() == nil {
		connected = 1
	}
	return []engine.Gauge{
		{Name: "alexarules_push_connected", Help: "1 while the push connection is up.", Type: "gauge", Value: connected},
		{Name: "alexarules_push_reconnects_total", Help: "Push reconnects.", Type: "counter", Value: float64(st.Reconnects)},
		{Name: "alexarules_push_unknown_total", Help: "Pushes with an unknown command, ignored.", Type: "counter", Value: float64(st.Unknown)},
		{Name: "alexarules_push_malformed_total", Help: "Malformed pushes, ignored.", Type: "counter", Value: float64(st.Malformed)},
		{Name: "alexarules_push_duplicates_total", Help: "Duplicate pushes dropped.", Type: "counter", Value: float64(st.Duplicates)},
	}
}

// household serves the rules' alexa.* calls from the bridge.
type household struct {
	b     *bridge.Bridge
	clock engine.Clock
}

func (h household) ResolveEcho(ctx context.Context, q string) (scripting.Echo, error) {
	e, err := h.b.ResolveEcho(ctx, q)
	return scripting.Echo{Serial: e.Serial, Name: e.Name}, err
}

func (h household) echo(ctx context.Context, e scripting.Echo) (web.Echo, error) {
	return h.b.ResolveEcho(ctx, e.Serial)
}

func (h household) SetNotificationVolume(ctx context.Context, e scripting.Echo, v int) error {
	we, err := h.echo(ctx, e)
	if err != nil {
		return err
	}
	return h.b.SetNotificationVolume(ctx, we, v)
}

func (h household) Alarms(e scripting.Echo) []scripting.Alarm {
	var out []scripting.Alarm
	for _, u := range h.b.Alarms(e.Serial) {
		out = append(out, scripting.Alarm{ID: u.Notification.ID, Label: u.Notification.Label, Next: u.Time, Recurring: u.Recurring})
	}
	return out
}

func (h household) Remind(ctx context.Context, r scripting.Reminder) (string, error) {
	we, err := h.echo(ctx, r.Echo)
	if err != nil {
		return "", err
	}
	at := r.At
	if r.Clock != "" {
		tod, err := scripting.ParseClock(r.Clock)
		if err != nil {
			return "", err
		}
		at = scripting.NextClock(h.clock.Now(), h.b.Location(we.Serial), tod)
	}
	return h.b.Remind(ctx, web.ReminderRequest{Echo: we, Text: r.Text, At: at, Recurrence: r.Repeat})
}

func toItems(items []web.Item) []scripting.ListItem {
	out := make([]scripting.ListItem, len(items))
	for i, it := range items {
		out[i] = scripting.ListItem{ID: it.ID, Text: it.Text, Completed: it.Completed}
	}
	return out
}

func (h household) ListItems(ctx context.Context, list string) ([]scripting.ListItem, error) {
	items, err := h.b.ListItems(ctx, list)
	return toItems(items), err
}

func (h household) AddListItem(ctx context.Context, list, text string) (scripting.ListItem, error) {
	it, err := h.b.AddListItem(ctx, list, text)
	return scripting.ListItem{ID: it.ID, Text: it.Text, Completed: it.Completed}, err
}

func (h household) CheckListItem(ctx context.Context, list, textOrID string) error {
	return h.b.CheckListItem(ctx, list, textOrID)
}

func (h household) RemoveListItem(ctx context.Context, list, textOrID string) error {
	return h.b.RemoveListItem(ctx, list, textOrID)
}

// sharedReadings answers device():last() from the readings the account's
// poller stores for the cluster, or from this node's poller when it has a
// newer one (it stores behind the reads).
type sharedReadings struct {
	local scripting.Readings
	st    engine.Store
}

func (r sharedReadings) Last(endpointID, attr string) (any, time.Time, bool) {
	v, since, ok := poll.Stored(r.st, endpointID, attr)
	if lv, lsince, lok := r.local.Last(endpointID, attr); lok && (!ok || lsince.After(since)) {
		return lv, lsince, true
	}
	return v, since, ok
}
