// Package sim is the simulated Alexa cloud: faithful fakes of the Amazon
// APIs alexarules uses (Login with Amazon, Endpoints, Endpoint Features,
// the Alexa app's sign-in, web API and smart-home API) plus a control API under /_sim to set up a household, change readings,
// inspect the requests received and inject faults. Tests, `alexarules sim`
// and `alexarules demo` serve it. docs/SIMULATOR.md lists the behaviours it
// chose where Amazon's reference is silent.
package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SimRefreshToken is the LWA refresh token every simulator accepts, so that
// `--cloud URL` works with no credentials configured.
const SimRefreshToken = "sim-refresh-token"

// Defaults of Options.
const (
	DefaultPageSize         = 10
	DefaultMaxRequests      = 10000
	DefaultCodePairInterval = time.Second
)

// maxBody caps the request bodies the simulator reads.
const maxBody = 1 << 20

// Options tune a Server. The zero value is ready to use.
type Options struct {
	// PageSize is the most endpoints one GET /v2/endpoints page holds
	// (DefaultPageSize when zero); a smaller maxResults wins.
	PageSize int
	// RefreshTokens are LWA refresh tokens accepted besides
	// SimRefreshToken.
	RefreshTokens []string
	// AccessTokens are bearer tokens accepted on the API routes without
	// ever expiring, for tests that skip the token exchange.
	AccessTokens []string
	// CodePairInterval is the polling interval the device-code flow asks
	// for (DefaultCodePairInterval when zero; Amazon says 5 s or more).
	CodePairInterval time.Duration
	// MaxRequests caps the request log; the oldest entries are dropped
	// (DefaultMaxRequests when zero).
	MaxRequests int
	// Now is the clock for token expiry and timeOfSample (time.Now when
	// nil).
	Now func() time.Time
	// HistoryNow is the clock of the voice history: when an utterance
	// is spoken and becomes visible, and history token expiry (Now when
	// nil). The history routes' token buckets run on Now, like every
	// other route's. Rule tests set it to their virtual clock.
	HistoryNow func() time.Time
	// Sleep waits out injected latency (a timer honouring ctx when nil).
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the server's own diagnostics (discarded when nil).
	Logger *slog.Logger
	// PushKeepAlive is how often an idle HTTP/2 downchannel gets a bare
	// multipart delimiter (DefaultPushKeepAlive when zero).
	PushKeepAlive time.Duration
}

// Server is the simulated cloud. Its methods and handler are safe for
// concurrent use.
type Server struct {
	opts    Options
	handler http.Handler

	mu        sync.Mutex
	household Household
	// samples holds each endpoint's time of sample per Features JSON key.
	samples map[string]map[string]time.Time
	// shSamples holds each smart-home device's time of sample per state
	// key.
	shSamples     map[string]map[string]time.Time
	refreshTokens map[string]bool
	// accessTokens maps each issued bearer token to its expiry; the zero
	// time never expires.
	accessTokens map[string]time.Time
	codePairs    map[string]*codePair // by device code
	requests     []Request
	faults       []Fault
	latency      time.Duration
	push         string
	seq          int

	// loadedAt is when the household was installed: the creation time
	// of the lists and items it came with.
	loadedAt time.Time
	// itemMetas holds list item versions and times (see lists.go).
	itemMetas map[itemKey]*itemMeta
	// notificationVolumes holds the alarm volume of the Echos a client
	// set one for, by serial.
	notificationVolumes map[string]int

	hub pushHub
	// buckets are the throttled routes' token buckets, by path
	// (throttle.go).
	buckets map[string]*bucket

	// app is the state of the Alexa app sign-in (appauth.go).
	app appAuth

	// voice is the voice history (voice.go).
	voice voiceState
}

// New returns a simulator serving h. It panics if h is invalid (see
// Household.Validate): households from files go through LoadHousehold,
// which reports the problems instead.
func New(h Household, opts Options) *Server {
	if err := h.Validate(); err != nil {
		panic(fmt.Sprintf("sim.New: %v", err))
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.CodePairInterval <= 0 {
		opts.CodePairInterval = DefaultCodePairInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HistoryNow == nil {
		opts.HistoryNow = opts.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PushKeepAlive <= 0 {
		opts.PushKeepAlive = DefaultPushKeepAlive
	}
	s := &Server{
		opts:          opts,
		refreshTokens: map[string]bool{SimRefreshToken: true},
		accessTokens:  map[string]time.Time{},
		codePairs:     map[string]*codePair{},
		app:           newAppAuth(),
		buckets:       newBuckets(),
		voice:         newVoiceState(),
	}
	for _, t := range opts.RefreshTokens {
		s.refreshTokens[t] = true
	}
	for _, t := range opts.AccessTokens {
		s.accessTokens[t] = time.Time{}
	}
	s.setHousehold(h)
	s.handler = s.routes()
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handler returns the simulator's HTTP handler: the Amazon APIs and the
// control API under /_sim.
func (s *Server) Handler() http.Handler { return s.handler }

// Household returns a copy of the current household, with every state
// change made through the API.
func (s *Server) Household() Household {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.household.clone()
}

// SetHousehold replaces the household after validating it.
func (s *Server) SetHousehold(h Household) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("invalid household: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHousehold(h)
	return nil
}

// setHousehold installs h and stamps every feature with the current time;
// s.mu is held or s is not shared yet.
func (s *Server) setHousehold(h Household) {
	s.household = h.clone()
	s.household.completeEchoState()
	now := s.opts.Now()
	s.loadedAt = now
	s.itemMetas = map[itemKey]*itemMeta{}
	s.notificationVolumes = map[string]int{}
	s.samples = map[string]map[string]time.Time{}
	for _, e := range s.household.Endpoints {
		m := map[string]time.Time{}
		for _, k := range featureKeys() {
			m[k] = now
		}
		s.samples[e.ID] = m
	}
	s.resetSmartHomeSamples(now)
}

// Requests returns the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ClearRequests empties the request log.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Request is one API call the simulator received.
type Request struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query"`
	// Body is the request body: the JSON value itself when the body is
	// JSON, else a JSON string of its text; null when empty.
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("POST /auth/o2/token", s.handleToken)
	api.HandleFunc("POST /auth/o2/create/codepair", s.handleCodePair)
	api.Handle("GET /v2/endpoints", s.authorized(s.handleListEndpoints))
	api.Handle("GET /v2/endpoints/{id}", s.authorized(s.handleGetEndpoint))
	api.Handle("GET /v2/endpoints/{id}/features/{feature}", s.authorized(s.handleGetFeature))
	api.Handle("POST /v2/endpoints/{id}/features/{feature}/{operation}", s.authorized(s.handleUpdateFeature))

	// The Alexa app sign-in and the identity service (appauth.go).
	api.HandleFunc("GET /ap/signin", s.handleSignInForm)
	api.HandleFunc("POST /ap/signin", s.handleSignInPost)
	api.HandleFunc("GET /ap/mfa", s.handleMFAForm)
	api.HandleFunc("GET /ap/maplanding", s.handleMapLanding)
	api.HandleFunc("POST /auth/register", s.handleRegister)
	api.HandleFunc("POST /ap/exchangetoken/cookies", s.handleExchangeCookies)
	api.HandleFunc("POST /ap/exchangetoken", s.handleExchangeCookies)
	api.HandleFunc("PUT /v1/devices/@self/capabilities", s.handleCapabilities)

	// Web session routes (cookie + csrf); /api/bootstrap is gone (404).
	web := func(pattern string, h http.HandlerFunc) { api.Handle(pattern, s.webAuth(h)) }
	// csrfGet serves a GET route that may set the csrf cookie (csrfFrom).
	csrfGet := func(path string, h http.HandlerFunc) { web("GET "+path, s.csrfFrom(path, h)) }
	web("GET /api/customer-status", s.handleCustomerStatus)
	web("GET /api/users/me", s.handleUsersMe)
	web("GET /api/welcome", s.handleWelcome)
	csrfGet("/api/language", s.handleLanguage)
	csrfGet("/spa/index.html", s.handleSPA)
	csrfGet("/templates/oobe/d-device-pick.handlebars", s.handleTemplate)
	csrfGet("/api/strings", s.handleStrings)
	web("GET /api/endpoints", s.handleEndpoints)
	web("GET /accounts", s.handleAccounts)
	csrfGet("/api/devices-v2/device", s.handleDevices)
	web("GET /api/device-preferences", s.handleDevicePreferences)
	web("GET /api/wake-word", s.handleWakeWords)
	web("GET /api/household", s.handleHouseholdAccounts)
	web("GET /api/device-wifi-details", s.handleWifiDetails)
	// Echo actions, routines, Do Not Disturb and media (behaviors.go,
	// routines.go, dnd.go, media.go).
	web("POST /api/behaviors/preview", s.handlePreview)
	web("GET /api/behaviors/v2/automations", s.handleAutomations)
	web("GET /api/dnd/device-status-list", s.handleDNDStatusList)
	web("PUT /api/dnd/status", s.handleDNDStatus)
	web("GET /api/np/player", s.handlePlayer)
	web("GET /api/np/list-media-sessions", s.handleMediaSessions)
	web("POST /api/np/command", s.handlePlayerCommand)
	web("GET /api/devices/deviceType/dsn/audio/v1/allDeviceVolumes", s.handleAllDeviceVolumes)
	web("GET /api/notifications", s.handleGetNotifications)
	web("PUT /api/notifications/createReminder", s.handleCreateNotification)
	web("PUT /api/notifications/null", s.handleCreateNotification)
	web("PUT /api/notifications/{id}", s.handleUpdateNotification)
	web("DELETE /api/notifications/{id}", s.handleDeleteNotification)
	web("GET /api/device-notification-state", s.handleNotificationStates)
	web("GET /api/device-notification-state/{type}/{version}/{serial}", s.handleNotificationState)
	web("PUT /api/device-notification-state/{type}/{version}/{serial}", s.handleNotificationState)
	// The Alexa app's smart-home API (phoenix.go, graphql.go).
	web("POST /nexus/v1/graphql", s.handleGraphQL)
	web("POST /api/phoenix/state", s.handlePhoenixState)
	web("PUT /api/phoenix/state", s.handlePhoenixControl)
	web("GET /api/phoenix", s.handlePhoenixRetired)
	web("GET /api/phoenix/group", s.handlePhoenixGroups)
	web("GET /api/behaviors/actionDefinitions", s.handleActionDefinitions)
	// The voice history on www.amazon.* (voice.go).
	web("GET "+activityPage, s.handleCSRFPage)
	web("GET "+rvhPage, s.handleCSRFPage)
	web("GET "+csrfTokenPath, s.handleCSRFToken)
	web("POST "+rvhV2Path, s.handleRVH)
	web("POST "+rahV2Path, s.handleRAH)
	web("GET "+rvhV1Path, s.handleRetired)
	web("GET "+activitiesPath, s.handleRetired)
	const v2 = "/alexashoppinglists/api/v2/lists"
	web("POST "+v2+"/fetch", s.handleV2Lists)
	web("POST "+v2+"/{listId}/items/fetch", s.handleV2Items)
	web("POST "+v2+"/{listId}/items", s.handleV2AddItems)
	web("PUT "+v2+"/{listId}/items/{itemId}", s.handleV2UpdateItem)
	web("DELETE "+v2+"/{listId}/items/{itemId}", s.handleV2DeleteItem)
	web("GET /api/namedLists", s.handleLegacyLists)
	web("GET /api/namedLists/{listId}", s.handleLegacyList)
	web("GET /api/namedLists/{listId}/items", s.handleLegacyItems)
	web("POST /api/namedLists/{listId}/item", s.handleLegacyAddItem)
	web("PUT /api/namedLists/{listId}/item/{itemId}", s.handleLegacyUpdateItem)
	web("DELETE /api/namedLists/{listId}/item/{itemId}", s.handleLegacyDeleteItem)
	// Identity token exchange: its credential is the refresh token.
	api.HandleFunc("POST /auth/token", s.handleAuthToken)
	// Push: the HTTP/2 downchannel and the legacy websocket on the paths
	// type 1 (/?x-amz-device-type=…) and type 2 (/tcomm/) clients use.
	api.HandleFunc("GET /v20160207/directives", s.handleDirectives)
	api.HandleFunc("GET /ping", s.handlePing)
	api.HandleFunc("POST /ping", s.handlePing)
	api.HandleFunc("GET /{$}", s.handleTcomm)
	api.HandleFunc("GET /tcomm/", s.handleTcomm)

	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, Type: errNotFound,
			Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
	})

	control := http.NewServeMux()
	control.HandleFunc("GET /_sim/household", s.handleGetHousehold)
	control.HandleFunc("PUT /_sim/household", s.handlePutHousehold)
	control.HandleFunc("PATCH /_sim/endpoints/{id}", s.handlePatchEndpoint)
	control.HandleFunc("PATCH /_sim/smarthome/{id}", s.handlePatchSmartHome)
	control.HandleFunc("GET /_sim/requests", s.handleGetRequests)
	control.HandleFunc("DELETE /_sim/requests", s.handleDeleteRequests)
	control.HandleFunc("GET /_sim/faults", s.handleGetFaults)
	control.HandleFunc("POST /_sim/faults", s.handlePostFaults)
	control.HandleFunc("DELETE /_sim/faults", s.handleDeleteFaults)
	control.HandleFunc("POST /_sim/codepair/approve", s.handleApproveCodePair)
	control.HandleFunc("DELETE /_sim/tokens", s.handleDeleteTokens)
	control.HandleFunc("POST /_sim/auth/expire", s.handleExpire)
	control.HandleFunc("GET /_sim/auth", s.handleGetAuth)
	control.HandleFunc("PUT /_sim/auth", s.handlePutAuth)
	control.HandleFunc("DELETE /_sim/auth/registrations/{device_serial}", s.handleDeregister)
	control.HandleFunc("POST /_sim/push", s.handlePush)
	control.HandleFunc("POST /_sim/lists/{listId}/items", s.handleSimAddItem)
	control.HandleFunc("POST /_sim/notifications", s.handleSimNotification)
	control.HandleFunc("POST /_sim/voice", s.handleSimVoice)
	control.HandleFunc("GET /_sim/voice", s.handleGetVoice)
	control.HandleFunc("PUT /_sim/voice/settings", s.handlePutVoiceSettings)
	control.HandleFunc("DELETE /_sim/voice/tokens", s.handleExpireVoiceTokens)
	control.HandleFunc("GET /_sim/throttle", s.handleGetThrottle)
	control.HandleFunc("PUT /_sim/throttle", s.handlePutThrottle)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
			control.ServeHTTP(w, r)
			return
		}
		s.serveAPI(w, r, api)
	})
}

// serveAPI records the request, applies the injected latency, faults and
// the path's token bucket (throttle.go), then lets api answer.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, api http.Handler) {
	start := s.opts.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		s.opts.Logger.Debug("read request body", "path", r.URL.Path, "err", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusRecorder{ResponseWriter: w}
	var once sync.Once
	recordAs := func(status int) {
		once.Do(func() {
			s.record(Request{
				Time:   start,
				Method: r.Method,
				Path:   r.URL.Path,
				Query:  r.URL.RawQuery,
				Body:   logBody(body),
				Status: status,
			})
		})
	}
	// Long-lived push connections log themselves once open (recordNow); a
	// websocket upgrade is logged when the connection is hijacked, before
	// the 101 is written, so a client that has its connection finds it in
	// the log.
	rec.hijacked = func() { recordAs(http.StatusSwitchingProtocols) }
	r = r.WithContext(context.WithValue(r.Context(), recordKey{}, recordAs))
	defer func() { recordAs(rec.status()) }()
	if r.Method == http.MethodDelete && r.ProtoMajor == 1 {
		// Node's https (alexa-remote2) sends DELETE bodies without
		// framing: the bytes after the headers must not be read as the
		// next request. (On HTTP/2 the header would mean GOAWAY.)
		rec.Header().Set("Connection", "close")
	}

	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		if err := s.opts.Sleep(r.Context(), latency); err != nil {
			// The client went away; nobody reads an answer.
			rec.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
	if f, ok := s.takeFault(r); ok {
		writeFault(rec, r, f)
		return
	}
	if s.throttled(rec, r) {
		return
	}
	api.ServeHTTP(rec, r)
}

// recordKey is the context key of the function that logs the request.
type recordKey struct{}

// recordNow logs r at once with status, for requests whose handler does not
// return while the connection lasts (push streams).
func recordNow(r *http.Request, status int) {
	if f, ok := r.Context().Value(recordKey{}).(func(int)); ok {
		f(status)
	}
}

func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if over := len(s.requests) - s.opts.MaxRequests; over > 0 {
		s.requests = append([]Request(nil), s.requests[over:]...)
	}
}

// logBody renders a request body for the log: JSON as itself, anything else
// as a JSON string, nothing as null.
func logBody(body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	if json.Valid(trimmed) {
		var buf bytes.Buffer
		if json.Compact(&buf, trimmed) == nil {
			return buf.Bytes()
		}
	}
	b, _ := json.Marshal(string(body)) // a string always marshals
	return b
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
	// hijacked, if set, is called once the connection is hijacked.
	hijacked func()
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// Unwrap lets http.ResponseController reach the underlying writer
// (flushing, deadlines), which streaming routes need.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack hands the connection to the websocket upgrader, which asserts
// http.Hijacker rather than using a ResponseController.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err != nil {
		return c, rw, err
	}
	if r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	if r.hijacked != nil {
		r.hijacked()
	}
	return c, rw, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
