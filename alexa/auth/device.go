package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/alexarules/alexarules/alexa"
)

// DeviceType is the Alexa iOS app's device type: the virtual device the
// household registers is one of these (research §2).
const DeviceType = "A2IVLV5VM2W81"

// App identity sent with the registration and the token requests. Amazon
// does not pin these (research §12.11); they are the values alexa-cookie2
// 5.0.6 sends, so the requests look like a current app's.
const (
	appName        = "alexarules"
	appVersion     = "2.2.651540.0"
	osVersion      = "16.6"
	sdkVersion     = "6.12.4"
	userAgent      = "AmazonWebView/Amazon Alexa/" + appVersion + "/iOS/" + osVersion + "/iPhone"
	signInLanguage = "en_US"
	assocHandle    = "amzn_dp_project_dee_ios"
	deviceIDSuffix = "#" + DeviceType
)

// mapMD is the map-md cookie's JSON (research §2, alexa-cookie2's values).
const mapMD = `{"device_user_dictionary":[],"device_registration_data":{"software_version":"1"},` +
	`"app_identifier":{"app_version":"` + appVersion + `","bundle_id":"com.amazon.echo"}}`

// Device is the virtual Alexa app device a household registers. It is
// generated once, stored before the browser sign-in starts and reused by
// every later login, so that Amazon lists one device, not one per login.
type Device struct {
	// Serial is 32 upper-case hex digits. It names the device in the
	// client_id and is also the registration's device_serial.
	Serial string `json:"serial"`
	// FRC and MapMD are the frc and map-md cookies the app sends with
	// the sign-in and the registration.
	FRC   string `json:"frc"`
	MapMD string `json:"map_md"`
}

// NewDevice generates a device: a random serial, a random frc (base64 of
// 313 random bytes, '=' stripped) and the map-md of the app version the
// requests claim.
func NewDevice() (Device, error) {
	serial := make([]byte, 16)
	frc := make([]byte, 313)
	if _, err := rand.Read(serial); err != nil {
		return Device{}, fmt.Errorf("auth: device serial: %w", err)
	}
	if _, err := rand.Read(frc); err != nil {
		return Device{}, fmt.Errorf("auth: device frc: %w", err)
	}
	return Device{
		Serial: strings.ToUpper(hex.EncodeToString(serial)),
		FRC:    strings.TrimRight(base64.StdEncoding.EncodeToString(frc), "="),
		MapMD:  base64.StdEncoding.EncodeToString([]byte(mapMD)),
	}, nil
}

// ID is the device id: the hex of Serial + "#A2IVLV5VM2W81". The OAuth
// client id is "device:" + ID().
func (d Device) ID() string { return hex.EncodeToString([]byte(d.Serial + deviceIDSuffix)) }

// Validate reports a device that cannot have come from NewDevice (a
// damaged data file), naming the field.
func (d Device) Validate() error {
	if len(d.Serial) != 32 || strings.ToUpper(d.Serial) != d.Serial {
		return errors.New("auth: device serial: want 32 upper-case hex digits")
	}
	if _, err := hex.DecodeString(d.Serial); err != nil {
		return errors.New("auth: device serial: want 32 upper-case hex digits")
	}
	if d.FRC == "" || d.MapMD == "" {
		return errors.New("auth: device: frc and map_md are required")
	}
	return nil
}

// Cookies are the frc and map-md cookies, for every request to Amazon's
// sign-in pages and for the registration.
func (d Device) Cookies() []*http.Cookie {
	return []*http.Cookie{{Name: "frc", Value: d.FRC}, {Name: "map-md", Value: d.MapMD}}
}

// String shows the serial only: frc identifies the device to Amazon.
func (d Device) String() string { return "device " + d.Serial }

// LogValue logs the serial only.
func (d Device) LogValue() slog.Value { return slog.StringValue(d.Serial) }

// PKCE is one sign-in's proof key (RFC 7636, method S256).
type PKCE struct {
	Verifier  string // base64url of 32 random bytes, no padding (43 characters)
	Challenge string // base64url(SHA-256(Verifier)), no padding
}

// NewPKCE generates a verifier and its S256 challenge, as x/oauth2 does
// for LoginAuthCode. The error is always nil (crypto/rand does not fail).
func NewPKCE() (PKCE, error) {
	v := oauth2.GenerateVerifier()
	return PKCE{Verifier: v, Challenge: oauth2.S256ChallengeFromVerifier(v)}, nil
}

// String hides the verifier.
func (p PKCE) String() string { return "pkce S256" }

// SignInURL is the Alexa iOS app's sign-in URL on h.Login (research §5):
// OpenID 2.0 with Amazon's OAuth2 extension, response_type code, scope
// device_auth_access, PKCE S256, client_id device:<d.ID()>.
//
// Choices where the clients differ: return_to and the oa2 namespace are
// on the login host itself (alexa-cookie2; aioamazondevices puts them on
// www.amazon.com even for other sign-in hosts); the association handle is
// amzn_dp_project_dee_ios, with alexa-cookie2's "_<tld label>" suffix only
// when the login host is a www.amazon.<tld> other than .com (Japan); the
// page language is en_US (alexapy), since the account's marketplace is
// not known before the sign-in.
func SignInURL(h alexa.Hosts, d Device, p PKCE) string {
	base := strings.TrimRight(h.Login, "/")
	host := hostOf(base)
	handle := assocHandle + handleSuffix(host)
	const openid = "http://specs.openid.net/auth/2.0"
	q := url.Values{
		"openid.return_to":                 {base + "/ap/maplanding"},
		"openid.assoc_handle":              {handle},
		"openid.identity":                  {openid + "/identifier_select"},
		"pageId":                           {handle},
		"accountStatusPolicy":              {"P1"},
		"openid.claimed_id":                {openid + "/identifier_select"},
		"openid.mode":                      {"checkid_setup"},
		"openid.ns.oa2":                    {"http://" + host + "/ap/ext/oauth/2"},
		"openid.oa2.client_id":             {"device:" + d.ID()},
		"openid.ns.pape":                   {"http://specs.openid.net/extensions/pape/1.0"},
		"openid.oa2.response_type":         {"code"},
		"openid.ns":                        {openid},
		"openid.pape.max_auth_age":         {"0"},
		"openid.oa2.scope":                 {"device_auth_access"},
		"openid.oa2.code_challenge_method": {"S256"},
		"openid.oa2.code_challenge":        {p.Challenge},
		"language":                         {signInLanguage},
	}
	return base + "/ap/signin?" + q.Encode()
}

// handleSuffix is "_jp" for www.amazon.co.jp, "_uk" for www.amazon.co.uk
// and so on; nothing for www.amazon.com or any other host (--cloud).
func handleSuffix(host string) string {
	tld, ok := strings.CutPrefix(strings.ToLower(host), "www.amazon.")
	if !ok || tld == "com" {
		return ""
	}
	return "_" + tld[strings.LastIndex(tld, ".")+1:]
}

// CodeFromURL takes the authorization code from the URL the sign-in ends
// on (/ap/maplanding?...&openid.oa2.authorization_code=AN...), as the
// proxy sees it in a Location header or the user pastes it. The error
// says what is missing and never quotes the URL, which may carry a code
// or token.
func CodeFromURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", errors.New("auth: the sign-in result is not a URL: paste the whole address of the final page (…/ap/maplanding?…)")
	}
	if !strings.HasSuffix(u.Path, "/ap/maplanding") {
		return "", errors.New("auth: the sign-in result is not a /ap/maplanding URL: finish the sign-in, then paste the address of the final page")
	}
	q := u.Query()
	if code := strings.TrimSpace(q.Get("openid.oa2.authorization_code")); code != "" {
		return code, nil
	}
	if q.Get("openid.oa2.access_token") != "" {
		return "", errors.New("auth: the maplanding URL carries an access token instead of an authorization code (response_type=token): sign in again from the URL alexarules printed")
	}
	return "", errors.New("auth: the maplanding URL has no openid.oa2.authorization_code: the sign-in did not finish; sign in again")
}
