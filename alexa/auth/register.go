package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/request"
)

// registerAnswer is the part of /auth/register's answer (research §6)
// the session needs.
type registerAnswer struct {
	Response struct {
		Success struct {
			Extensions struct {
				DeviceInfo struct {
					DeviceName string `json:"device_name"`
				} `json:"device_info"`
				CustomerInfo struct {
					UserID     string `json:"user_id"`
					HomeRegion string `json:"home_region"`
					Name       string `json:"name"`
				} `json:"customer_info"`
			} `json:"extensions"`
			Tokens struct {
				Bearer *struct {
					AccessToken  string  `json:"access_token"`
					RefreshToken string  `json:"refresh_token"`
					ExpiresIn    seconds `json:"expires_in"`
				} `json:"bearer"`
				MacDMS struct {
					ADPToken         string `json:"adp_token"`
					DevicePrivateKey string `json:"device_private_key"`
				} `json:"mac_dms"`
				WebsiteCookies []wireCookie `json:"website_cookies"`
			} `json:"tokens"`
		} `json:"success"`
	} `json:"response"`
}

// wireCookie is a cookie as the identity service writes it (the
// booleans, as strings, are not needed).
type wireCookie struct {
	Name   string `json:"Name"`
	Value  string `json:"Value"`
	Domain string `json:"Domain,omitempty"`
	Path   string `json:"Path,omitempty"`
}

func fromWire(ws []wireCookie) []Cookie {
	out := make([]Cookie, 0, len(ws))
	for _, w := range ws {
		if v, ok := cleanCookie(w.Name, w.Value); ok {
			out = append(out, Cookie{Name: w.Name, Value: v, Domain: w.Domain, Path: w.Path})
		}
	}
	return out
}

// Register turns a finished sign-in into a complete, usable Session. It
// is the only place that calls /auth/register, once per interactive
// login; a Keeper then keeps the session alive from its refresh token.
//
// The steps (research §6, §7): POST {Identity}/auth/register with the
// code, the PKCE verifier, the device and the sign-in's cookies; PUT the
// device's capabilities (a failure is logged, not fatal: only the push
// needs them); GET /api/users/me for the marketplace (a refusal keeps the
// marketplace of the hosts NewApp was given); the marketplace's web
// cookies by token exchange; csrf. The code is single-use, so a refused
// or failed registration is not repeated: the error says to sign in
// again. Errors name the request and Amazon's error code, never a secret.
func (a *App) Register(ctx context.Context, d Device, p PKCE, code string, loginCookies []*http.Cookie) (*Session, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(code) == "" || p.Verifier == "" {
		return nil, errors.New("auth: register: the authorization code and the PKCE verifier are required")
	}
	sent := a.clock.Now()
	ans, err := a.register(ctx, d, p, strings.TrimSpace(code), loginCookies)
	if err != nil {
		return nil, err
	}
	ok := ans.Response.Success
	bearer := ok.Tokens.Bearer
	info := ok.Extensions.CustomerInfo
	s := &Session{
		Device:           d,
		AccessToken:      bearer.AccessToken,
		AccessExpiry:     sent.Add(bearer.ExpiresIn.duration()),
		RefreshToken:     bearer.RefreshToken,
		ADPToken:         ok.Tokens.MacDMS.ADPToken,
		DevicePrivateKey: ok.Tokens.MacDMS.DevicePrivateKey,
		LoginCookies:     mergeCookies(fromHTTP(loginCookies), fromWire(ok.Tokens.WebsiteCookies)),
		HomeRegion:       strings.ToUpper(info.HomeRegion),
		CustomerID:       info.UserID,
		CustomerName:     info.Name,
		DeviceName:       ok.Extensions.DeviceInfo.DeviceName,
		Registered:       sent,
		AccessRefreshed:  sent,
	}
	if s.ADPToken == "" || s.DevicePrivateKey == "" {
		a.logger.WarnContext(ctx, "auth: the registration has no mac_dms: the legacy websocket push cannot sign its connect")
	}
	if err := a.putCapabilities(ctx, s.AccessToken); err != nil {
		a.logger.WarnContext(ctx, "auth: capabilities registration failed: the HTTP/2 push might not work", "err", err)
	}
	if s.Marketplace, err = a.marketplace(ctx, s.LoginCookies); err != nil {
		return nil, err
	}
	hosts, err := a.hostsOf(s)
	if err != nil {
		return nil, err
	}
	if err := a.webSession(ctx, hosts, s); err != nil {
		return nil, err
	}
	a.logger.InfoContext(ctx, "auth: app device registered", "session", s)
	return s, nil
}

// register is the POST /auth/register itself.
func (a *App) register(ctx context.Context, d Device, p PKCE, code string, loginCookies []*http.Cookie) (*registerAnswer, error) {
	login := fromHTTP(loginCookies)
	website := make([]wireCookie, 0, len(login))
	for _, c := range login {
		website = append(website, wireCookie{Name: c.Name, Value: c.Value})
	}
	// The Cookie header is the sign-in's, as the proxy sent them: the
	// device's frc and map-md plus Amazon's session cookies.
	cookies := mergeCookies(fromHTTP(d.Cookies()), login)
	body := map[string]any{
		"requested_extensions": []string{"device_info", "customer_info"},
		"cookies":              map[string]any{"website_cookies": website, "domain": "." + a.loginDomain()},
		"registration_data": map[string]string{
			"domain": "Device", "app_version": appVersion, "device_type": DeviceType,
			"device_name": "%FIRST_NAME%'s%DUPE_STRATEGY_1ST%" + appName, "os_version": osVersion,
			"device_serial": d.Serial, "device_model": "iPhone", "app_name": appName, "software_version": "1",
		},
		"auth_data": map[string]string{
			"client_id": d.ID(), "authorization_code": code, "code_verifier": p.Verifier,
			"code_algorithm": "SHA-256", "client_domain": "DeviceLegacy",
		},
		"user_context_map":     map[string]string{"frc": d.FRC},
		"requested_token_type": []string{"bearer", "mac_dms", "website_cookies"},
	}
	const path = "/auth/register"
	resp, err := a.auth.Do(ctx, request.Request{
		Method: http.MethodPost, URL: a.hosts.Identity + path, JSON: body, NoAuth: true,
		// The code is single-use: a repeat could only be refused.
		NoRetry: true,
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"},
			"X-Amzn-Identity-Auth-Domain": {hostOf(a.hosts.Identity)}, "Cookie": {cookieHeader(cookies)}},
	})
	if err != nil {
		var e *request.Error
		if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 {
			return nil, fmt.Errorf("auth: Amazon refused the registration (the sign-in code is single-use and short-lived, and must match this sign-in's verifier): sign in again: %w", err)
		}
		return nil, fmt.Errorf("auth: register: %w", err)
	}
	var ans registerAnswer
	if err := decode(http.MethodPost, path, resp, &ans); err != nil {
		return nil, err
	}
	b := ans.Response.Success.Tokens.Bearer
	if b == nil || b.AccessToken == "" || b.RefreshToken == "" || b.ExpiresIn <= 0 {
		return nil, fmt.Errorf("alexa auth: POST %s: the answer has no bearer tokens (response.success.tokens.bearer)", path)
	}
	return &ans, nil
}

// capabilities is the app's capability registration (research §7); the
// HTTP/2 push needs it done once per device.
var capabilities = map[string]any{
	"envelopeVersion": "20160207",
	"legacyFlags": map[string]any{
		"SUPPORTS_COMMS": true, "SUPPORTS_ARBITRATION": true, "SUPPORTS_HOME_AUTOMATION": true,
		"SCREEN_WIDTH": 1170, "SUPPORTS_TARGET_PLATFORM": "TABLET",
	},
	"capabilities": []map[string]any{
		{"type": "AlexaInterface", "interface": "Alerts", "version": "1.3"},
		{"type": "AlexaInterface", "interface": "Notifications", "version": "1.0"},
		{"type": "AlexaInterface", "interface": "SpeechSynthesizer", "version": "1.0"},
		{"type": "AlexaInterface", "interface": "AudioPlayer", "version": "1.0"},
	},
}

// putCapabilities registers the device's capabilities with its access
// token.
func (a *App) putCapabilities(ctx context.Context, accessToken string) error {
	_, err := a.auth.Do(ctx, request.Request{
		Method: http.MethodPut, URL: a.hosts.Capabilities + "/v1/devices/@self/capabilities", JSON: capabilities,
		Auth: bearer(accessToken),
	})
	return err
}

// marketplace asks GET /api/users/me on the login domain's web host,
// with the login cookies, for the account's marketplace. Amazon answers
// 401 with an empty body to some accounts (research §11, 2026-06): then
// the marketplace of NewApp's hosts stays.
func (a *App) marketplace(ctx context.Context, login []Cookie) (string, error) {
	const path = "/api/users/me"
	resp, err := a.web.Do(ctx, request.Request{
		Method: http.MethodGet, URL: a.loginWeb() + path, NoAuth: true,
		Query:  map[string][]string{"platform": {"ios"}, "version": {appVersion}},
		Header: http.Header{"Cookie": {cookieHeader(login)}, "Accept": {"application/json"}},
		Accept: []int{http.StatusUnauthorized, http.StatusForbidden},
	})
	if err != nil {
		return "", fmt.Errorf("auth: marketplace: %w", err)
	}
	if resp.Status != http.StatusOK {
		a.logger.InfoContext(ctx, "auth: /api/users/me refused the login cookies: keeping the configured marketplace",
			"status", resp.Status, "marketplace", a.hosts.Domain)
		return a.hosts.Domain, nil
	}
	var me struct {
		Domain string `json:"marketPlaceDomainName"`
	}
	if err := decode(http.MethodGet, path, resp, &me); err != nil {
		return "", err
	}
	d := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(me.Domain)), "www.")
	if d == "" {
		return a.hosts.Domain, nil
	}
	return d, nil
}

// loginDomain is the sign-in's domain: amazon.com, or amazon.co.jp for
// Japan (and amazon.com under --cloud). The registration asks for its
// cookies (research §6 cookies.domain) and /api/users/me is asked on its
// web host, where those cookies are valid.
func (a *App) loginDomain() string {
	if d, ok := strings.CutPrefix(hostOf(a.hosts.Login), "www."); ok && a.cloud == "" {
		return d
	}
	return "amazon.com"
}

// loginWeb is the web host of the sign-in's domain (alexa.amazon.com for
// www.amazon.com; the cloud base under --cloud).
func (a *App) loginWeb() string {
	if a.cloud != "" {
		return a.cloud
	}
	return "https://alexa." + a.loginDomain()
}

// hostsOf are the hosts of a session's marketplace and home region.
func (a *App) hostsOf(s *Session) (alexa.Hosts, error) {
	h, err := alexa.HostsForMarketplace(s.Marketplace, s.HomeRegion, a.cloud)
	if err != nil {
		return alexa.Hosts{}, fmt.Errorf("auth: %w", err)
	}
	return h, nil
}
