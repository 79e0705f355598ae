package sim

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Amazon's side of the Alexa app sign-in (device registration), as
// research/alexa-device-registration.md describes it: sign-in pages,
// authorization codes bound to PKCE, /auth/register, /auth/token, the
// cookie exchange, csrf and the web session made of exchanged cookies.
// docs/SIMULATOR.md lists what the simulator chose where the research is
// uncertain.

// The simulated account.
const (
	simEmail     = "sim@example.com"
	simPassword  = "sim-password"
	simOTP       = "123456"
	simFirstName = "Sim"
	simFullName  = "Sim User"
	simUserID    = "amzn1.account.SIM" + simCustomerID
)

// Fixed lifetimes of the sign-in (Amazon's are unknown; see
// docs/SIMULATOR.md).
const (
	authCodeLifetime = 5 * time.Minute
	signInLifetime   = 15 * time.Minute
)

// Defaults of the settings PUT /_sim/auth changes.
const (
	defaultCookieTTL  = 14 * 24 * time.Hour
	defaultStaleAfter = 5 * time.Minute
)

// authSettings are the account's settings and lifetimes (PUT /_sim/auth).
type authSettings struct {
	AccessTokenTTL int    `json:"access_token_ttl_s"`
	CookieTTL      int    `json:"cookie_ttl_s"`
	OTP            bool   `json:"otp"`
	Marketplace    string `json:"marketplace"`
	HomeRegion     string `json:"home_region"`
	CSRFFrom       string `json:"csrf_from"`
	StaleAfter     int    `json:"stale_after_s"`
	// CustomerIDCheck is what behaviors/preview does with a node whose
	// customerId is not the signed-in customer's: reject (400) or ignore.
	CustomerIDCheck string `json:"customer_id_check"`
}

func defaultAuthSettings() authSettings {
	return authSettings{
		AccessTokenTTL:  int(accessTokenLifetime / time.Second),
		CookieTTL:       int(defaultCookieTTL / time.Second),
		Marketplace:     "amazon.com",
		HomeRegion:      "NA",
		CSRFFrom:        csrfPaths[0],
		StaleAfter:      int(defaultStaleAfter / time.Second),
		CustomerIDCheck: customerCheckReject,
	}
}

// authSettingsPatch is the body of PUT /_sim/auth: the settings to change.
type authSettingsPatch struct {
	AccessTokenTTL  *int    `json:"access_token_ttl_s"`
	CookieTTL       *int    `json:"cookie_ttl_s"`
	OTP             *bool   `json:"otp"`
	Marketplace     *string `json:"marketplace"`
	HomeRegion      *string `json:"home_region"`
	CSRFFrom        *string `json:"csrf_from"`
	StaleAfter      *int    `json:"stale_after_s"`
	CustomerIDCheck *string `json:"customer_id_check"`
}

// apply returns cur with p applied, or every problem with p.
func (p authSettingsPatch) apply(cur authSettings) (authSettings, error) {
	var errs []error
	positive := func(name string, v *int, dst *int) {
		if v == nil {
			return
		}
		if *v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %d is not a positive number of seconds", name, *v))
			return
		}
		*dst = *v
	}
	positive("access_token_ttl_s", p.AccessTokenTTL, &cur.AccessTokenTTL)
	positive("cookie_ttl_s", p.CookieTTL, &cur.CookieTTL)
	positive("stale_after_s", p.StaleAfter, &cur.StaleAfter)
	if p.OTP != nil {
		cur.OTP = *p.OTP
	}
	if v := p.Marketplace; v != nil {
		if _, ok := marketplaces[*v]; !ok {
			errs = append(errs, fmt.Errorf("marketplace: %q is not one of %v", *v, marketplaceNames()))
		} else {
			cur.Marketplace = *v
		}
	}
	if v := p.HomeRegion; v != nil {
		if !slices.Contains([]string{"NA", "EU", "FE"}, *v) {
			errs = append(errs, fmt.Errorf("home_region: %q is not NA, EU or FE", *v))
		} else {
			cur.HomeRegion = *v
		}
	}
	if v := p.CSRFFrom; v != nil {
		if !slices.Contains(csrfPaths, *v) {
			errs = append(errs, fmt.Errorf("csrf_from: %q is not one of %q", *v, csrfPaths))
		} else {
			cur.CSRFFrom = *v
		}
	}
	if v := p.CustomerIDCheck; v != nil {
		if *v != customerCheckReject && *v != customerCheckIgnore {
			errs = append(errs, fmt.Errorf("customer_id_check: %q is not reject or ignore", *v))
		} else {
			cur.CustomerIDCheck = *v
		}
	}
	return cur, errors.Join(errs...)
}

func (a authSettings) accessTTL() time.Duration  { return time.Duration(a.AccessTokenTTL) * time.Second }
func (a authSettings) cookieTTL() time.Duration  { return time.Duration(a.CookieTTL) * time.Second }
func (a authSettings) staleAfter() time.Duration { return time.Duration(a.StaleAfter) * time.Second }

// marketplace describes one Amazon marketplace: its obfuscated id, locale
// and country, as /api/users/me reports them.
type marketplace struct {
	id, locale, country string
}

// marketplaces are the marketplaces the simulator knows, by domain.
var marketplaces = map[string]marketplace{
	"amazon.com":    {"ATVPDKIKX0DER", "en-US", "US"},
	"amazon.ca":     {"A2EUQ1WTGCTBG2", "en-CA", "CA"},
	"amazon.com.mx": {"A1AM78C64UM0Y8", "es-MX", "MX"},
	"amazon.com.br": {"A2Q3Y263D00KWC", "pt-BR", "BR"},
	"amazon.co.uk":  {"A1F83G8C2ARO7P", "en-GB", "GB"},
	"amazon.de":     {"A1PA6795UKMFR9", "de-DE", "DE"},
	"amazon.fr":     {"A13V1IB3VIYZZH", "fr-FR", "FR"},
	"amazon.it":     {"APJ6JRA9NG5V4", "it-IT", "IT"},
	"amazon.es":     {"A1RKKUPIHCS9HS", "es-ES", "ES"},
	"amazon.in":     {"A21TJRUUN4KGV", "en-IN", "IN"},
	"amazon.co.jp":  {"A1VC38T7YXB528", "ja-JP", "JP"},
	"amazon.com.au": {"A39IBJ37TRP1C6", "en-AU", "AU"},
}

func marketplaceNames() []string {
	names := make([]string, 0, len(marketplaces))
	for n := range marketplaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// appAuth is the state of the app sign-in; Server.mu guards it.
type appAuth struct {
	settings authSettings
	signIns  map[string]*signIn   // by appActionToken
	codes    map[string]*authCode // by authorization code
	// regs holds the registered app devices by device_serial; byRefresh
	// and byADP index them by their refresh and adp tokens.
	regs      map[string]*registration
	byRefresh map[string]*registration
	byADP     map[string]*registration
	// tokens holds the grant of each access token of the identity
	// service: what the stale-token rule and deregistration need to know.
	tokens map[string]appGrant
	// sessions holds the issued web sessions by their at-* cookie value;
	// csrfs the issued csrf values with the session they belong to.
	sessions map[string]*webSession
	csrfs    map[string]*webSession
}

func newAppAuth() appAuth {
	return appAuth{
		settings:  defaultAuthSettings(),
		signIns:   map[string]*signIn{},
		codes:     map[string]*authCode{},
		regs:      map[string]*registration{},
		byRefresh: map[string]*registration{},
		byADP:     map[string]*registration{},
		tokens:    map[string]appGrant{},
		sessions:  map[string]*webSession{},
		csrfs:     map[string]*webSession{},
	}
}

// appGrant is what a token of the identity service stands for: the
// interactive sign-in and the registration it comes from. Access tokens
// (Atna|) inherit the grant of the refresh token or sign-in they come from.
type appGrant struct {
	// serial names the registration ("" for none: SimRefreshToken,
	// Options.RefreshTokens, LWA's, a response_type=token sign-in).
	serial string
	// clientID is the device id the sign-in named.
	clientID string
	// authTime is when the user signed in interactively; zero for the
	// static refresh tokens.
	authTime time.Time
}

// registration is one registered app device; its grant is what its
// tokens stand for.
type registration struct {
	appGrant
	name              string
	refresh, adpToken string
	key               *rsa.PrivateKey
	time              time.Time
	// capabilities is when the device last PUT its capabilities (zero:
	// never).
	capabilities time.Time
}

// webSession is one set of web cookies the simulator issued.
type webSession struct {
	atName  string // the at-* cookie's name, e.g. at-main
	expires time.Time
	serial  string // the registration it was made from ("" for none)
}

// revokeLocked forgets the registration's refresh token, access tokens and
// web sessions; s.mu is held.
func (s *Server) revokeLocked(reg *registration) {
	a := &s.app
	delete(a.byRefresh, reg.refresh)
	delete(a.byADP, reg.adpToken)
	for t, info := range a.tokens {
		if info.serial == reg.serial {
			delete(a.tokens, t)
			delete(s.accessTokens, t)
		}
	}
	s.dropSessionsLocked(func(ws *webSession) bool { return ws.serial == reg.serial })
}

// authState is the answer of GET and PUT /_sim/auth.
type authState struct {
	authSettings
	Registrations []registrationInfo `json:"registrations"`
}

type registrationInfo struct {
	DeviceSerial string `json:"device_serial"`
	ClientID     string `json:"client_id"`
	Time         string `json:"time"`
	DeviceName   string `json:"device_name"`
	Capabilities bool   `json:"capabilities"`
}

func (s *Server) authState() authState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := authState{authSettings: s.app.settings, Registrations: []registrationInfo{}}
	for _, reg := range s.registrationsLocked() {
		st.Registrations = append(st.Registrations, registrationInfo{
			DeviceSerial: reg.serial,
			ClientID:     reg.clientID,
			Time:         reg.time.UTC().Format(time.RFC3339),
			DeviceName:   reg.name,
			Capabilities: !reg.capabilities.IsZero(),
		})
	}
	return st
}

// registrationsLocked returns the registered devices, oldest first; s.mu
// is held.
func (s *Server) registrationsLocked() []*registration {
	regs := make([]*registration, 0, len(s.app.regs))
	for _, reg := range s.app.regs {
		regs = append(regs, reg)
	}
	slices.SortFunc(regs, func(a, b *registration) int {
		if c := a.time.Compare(b.time); c != 0 {
			return c
		}
		return strings.Compare(a.serial, b.serial)
	})
	return regs
}

func (s *Server) handleGetAuth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.authState())
}

func (s *Server) handlePutAuth(w http.ResponseWriter, r *http.Request) {
	var p authSettingsPatch
	if err := decodeStrict(io.LimitReader(r.Body, maxBody), &p); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode auth settings: %w", err))
		return
	}
	s.mu.Lock()
	next, err := p.apply(s.app.settings)
	if err == nil {
		s.app.settings = next
	}
	s.mu.Unlock()
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.authState())
}

// handleDeregister removes a registered device: its refresh token, access
// tokens and web sessions die with it.
func (s *Server) handleDeregister(w http.ResponseWriter, r *http.Request) {
	serial := r.PathValue("device_serial")
	s.mu.Lock()
	reg, ok := s.app.regs[serial]
	if ok {
		s.revokeLocked(reg)
		delete(s.app.regs, serial)
	}
	s.mu.Unlock()
	if !ok {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("no registered device with serial %q", serial))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// expireCookiesLocked ends every issued web session now and returns how
// many were live; s.mu is held.
func (s *Server) expireCookiesLocked() int {
	now, n := s.opts.Now(), 0
	for _, sess := range s.app.sessions {
		if now.Before(sess.expires) {
			sess.expires = now
			n++
		}
	}
	return n
}
