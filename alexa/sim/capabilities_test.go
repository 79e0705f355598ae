package sim_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/sim"
)

func TestCapabilities(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	access := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.AccessToken
	const path = "/v1/devices/@self/capabilities"
	body := `{"legacyFlags":{"SUPPORTS_COMMS":true},"envelopeVersion":"20160207","capabilities":[{"interface":"Alerts","type":"AlexaInterface","version":"1.3"}]}`
	for name, bad := range map[string]string{
		"not JSON":          "capabilities",
		"no envelope":       `{"capabilities":[]}`,
		"other envelope":    `{"envelopeVersion":"20200101","capabilities":[]}`,
		"envelope a number": `{"envelopeVersion":20160207}`,
	} {
		if r := e.do(http.MethodPut, path, access, bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if registered := e.authState().Registrations[0].Capabilities; registered {
		t.Error("capabilities registered by refused PUTs")
	}
	if r := e.do(http.MethodPut, path, access, body); r.status != http.StatusNoContent {
		t.Fatalf("PUT capabilities: %d %s", r.status, r.raw)
	}
	if !e.authState().Registrations[0].Capabilities {
		t.Error("GET /_sim/auth does not show the capabilities")
	}
	for name, token := range map[string]string{"no token": "", "unknown token": "Atna|unknown"} {
		if r := e.do(http.MethodPut, path, token, body); r.status != http.StatusForbidden || len(r.raw) != 0 {
			t.Errorf("%s: %d %q, want 403 with an empty body", name, r.status, r.raw)
		}
	}
	e.clock.Advance(time.Hour)
	if r := e.do(http.MethodPut, path, access, body); r.status != http.StatusForbidden || len(r.raw) != 0 {
		t.Errorf("expired token: %d %q", r.status, r.raw)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if r := e.do(method, "/ping", access, nil); r.status != http.StatusForbidden {
			t.Errorf("%s /ping with an expired token: %d", method, r.status)
		}
	}
	if resp := getDirectives(t, e, access); resp.StatusCode != http.StatusForbidden {
		t.Errorf("directives with an expired token: %d", resp.StatusCode)
	}
}

// authSnapshot is GET /_sim/auth.
type authSnapshot struct {
	AccessTokenTTL int    `json:"access_token_ttl_s"`
	CookieTTL      int    `json:"cookie_ttl_s"`
	OTP            bool   `json:"otp"`
	Marketplace    string `json:"marketplace"`
	HomeRegion     string `json:"home_region"`
	CSRFFrom       string `json:"csrf_from"`
	StaleAfter     int    `json:"stale_after_s"`
	Registrations  []struct {
		DeviceSerial string `json:"device_serial"`
		ClientID     string `json:"client_id"`
		Time         string `json:"time"`
		DeviceName   string `json:"device_name"`
		Capabilities bool   `json:"capabilities"`
	} `json:"registrations"`
}

func (e *env) authState() authSnapshot {
	e.t.Helper()
	var st authSnapshot
	e.do(http.MethodGet, "/_sim/auth", "", nil).decode(e.t, http.StatusOK, &st)
	return st
}

func TestAuthControl(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	st := e.authState()
	if st.AccessTokenTTL != 3600 || st.CookieTTL != 14*24*3600 || st.OTP || st.Marketplace != "amazon.com" ||
		st.HomeRegion != "NA" || st.CSRFFrom != "/api/language" || st.StaleAfter != 300 || st.Registrations == nil {
		t.Errorf("defaults %+v", st)
	}
	var after authSnapshot
	e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"otp": true, "cookie_ttl_s": 60}).decode(t, http.StatusOK, &after)
	if !after.OTP || after.CookieTTL != 60 || after.AccessTokenTTL != 3600 || after.Marketplace != "amazon.com" {
		t.Errorf("partial update %+v", after)
	}
	for name, body := range map[string]any{
		"unknown field":     map[string]any{"otp": false, "password": "x"},
		"zero ttl":          map[string]any{"access_token_ttl_s": 0},
		"negative ttl":      map[string]any{"cookie_ttl_s": -1, "otp": false},
		"unknown market":    map[string]any{"marketplace": "amazon.example"},
		"unknown region":    map[string]any{"home_region": "SA"},
		"unknown csrf path": map[string]any{"csrf_from": "/api/bootstrap"},
		"not JSON":          "otp",
	} {
		r := e.do(http.MethodPut, "/_sim/auth", "", body)
		if r.status != http.StatusBadRequest || r.json(t)["error"] == "" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if st := e.authState(); !st.OTP || st.CookieTTL != 60 {
		t.Errorf("a refused update changed the settings: %+v", st)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"cookies": false}, map[string]any{"tokens": true}} {
		if r := e.do(http.MethodPost, "/_sim/auth/expire", "", body); r.status != http.StatusBadRequest {
			t.Errorf("expire %v: %d", body, r.status)
		}
	}
	r := e.do(http.MethodPost, "/_sim/auth/expire", "", map[string]any{"access_token": true, "cookies": true})
	if m := r.json(t); r.status != http.StatusOK || m["access_tokens"] != float64(0) || m["cookies"] != float64(0) {
		t.Errorf("expire both: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodDelete, "/_sim/auth/registrations/nope", "", nil); r.status != http.StatusNotFound {
		t.Errorf("deregister an unknown device: %d", r.status)
	}
}

func TestDeregister(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	d := newAppDevice(t)
	tokens := e.registerDevice(d).Response.Success.Tokens
	got, _ := e.exchange("/ap/exchangetoken/cookies", tokens.Bearer.RefreshToken, ".amazon.com")
	cookie := cookieHeader(got[".amazon.com"])
	if r := e.do(http.MethodDelete, "/_sim/auth/registrations/"+d.serial, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("deregister: %d %s", r.status, r.raw)
	}
	if st := e.authState(); len(st.Registrations) != 0 {
		t.Errorf("registrations after deregistering: %+v", st.Registrations)
	}
	for _, path := range []string{"/auth/token", "/ap/exchangetoken/cookies", "/ap/exchangetoken"} {
		if _, r := e.exchange(path, tokens.Bearer.RefreshToken, ".amazon.com"); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
			t.Errorf("%s after deregistering: %d %s", path, r.status, r.raw)
		}
	}
	if r := e.form("/auth/token", tokenForm(tokens.Bearer.RefreshToken, "access_token")); r.json(t)["error"] != "invalid_grant" {
		t.Errorf("access token after deregistering: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodGet, "/ping", tokens.Bearer.AccessToken, nil); r.status != http.StatusForbidden {
		t.Errorf("/ping after deregistering: %d", r.status)
	}
	checkLoginRequired(t, e.webWith(http.MethodGet, "/api/customer-status", cookie, ""), "cookies after deregistering")
	var devices struct{ Devices []struct{ DeviceType string } }
	e.web(http.MethodGet, "/api/devices-v2/device", nil).decode(t, http.StatusOK, &devices)
	for _, dev := range devices.Devices {
		if dev.DeviceType == "A2IVLV5VM2W81" {
			t.Error("deregistered device still listed")
		}
	}
}

// adpHeaders signs a websocket connect to path the way alexa/push does.
func adpHeaders(t *testing.T, privateKey, adpToken, path string, now time.Time) http.Header {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(privateKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	stamp := now.UTC().Format("2006-01-02T15:04:05.000Z")
	digest := sha256.Sum256([]byte("GET\n" + path + "\n" + stamp + "\n\n" + adpToken))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("x-dp-comm-tuning", "A:F;A:H")
	h.Set("x-adp-token", adpToken)
	h.Set("x-adp-alg", "SHA256WithRSA:1.0")
	h.Set("x-adp-signature", base64.StdEncoding.EncodeToString(sig)+":"+stamp)
	return h
}

func TestWebsocketADPSignature(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	mac := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.MacDMS
	other := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.MacDMS
	conn := dialTcomm(t, e, "/tcomm/", adpHeaders(t, mac.DevicePrivateKey, mac.ADPToken, "/tcomm/", e.clock.Now()))
	if f, _ := readFrame(t, conn); !f.Tune {
		t.Errorf("signed connect: first frame %+v, want the TUNE", f)
	}

	d := websocket.Dialer{HandshakeTimeout: maxWait}
	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/tcomm/"
	for name, h := range map[string]http.Header{
		"other device's key": adpHeaders(t, other.DevicePrivateKey, mac.ADPToken, "/tcomm/", e.clock.Now()),
		"other path signed":  adpHeaders(t, mac.DevicePrivateKey, mac.ADPToken, "/", e.clock.Now()),
		"unknown token":      adpHeaders(t, mac.DevicePrivateKey, "{enc:x}", "/tcomm/", e.clock.Now()),
	} {
		h.Set("Cookie", webCookie)
		if _, resp, err := d.Dial(url, h); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v %v, want 401", name, err, resp)
		}
	}
	h := adpHeaders(t, mac.DevicePrivateKey, mac.ADPToken, "/tcomm/", e.clock.Now())
	h.Set("x-adp-signature", "bm90IGEgc2lnbmF0dXJl")
	h.Set("Cookie", webCookie)
	if _, resp, err := d.Dial(url, h); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signature without a timestamp: %v %v", err, resp)
	}
}

// TestWebsocketADPWithPushClient checks the verification against the
// signer of alexa/push itself.
func TestWebsocketADPWithPushClient(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	mac := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.MacDMS
	der, _ := base64.StdEncoding.DecodeString(mac.DevicePrivateKey)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	ws := push.NewWebsocket(push.WebsocketOptions{
		URL: e.ts.URL, Cookie: webCookie, ADPToken: mac.ADPToken, PrivateKey: key.(*rsa.PrivateKey),
		HandshakePause: -1, Now: e.clock.Now,
	})
	ctx, cancel := context.WithTimeout(context.Background(), maxWait)
	defer cancel()
	connected := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() { done <- ws.Run(ctx, func(push.Push) {}, func() { once.Do(func() { close(connected) }) }) }()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("push client ended before connecting: %v", err)
	case <-ctx.Done():
		t.Fatal("push client did not connect with a signed A:F connect")
	}
	cancel()
	<-done
	var upgraded bool
	for _, r := range e.sim.Requests() {
		upgraded = upgraded || r.Path == "/tcomm/" && r.Status == http.StatusSwitchingProtocols
	}
	if !upgraded {
		t.Errorf("no upgrade of /tcomm/ in the log: %+v", e.sim.Requests())
	}
}
