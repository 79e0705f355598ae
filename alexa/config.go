package alexa

import (
	"errors"
	"fmt"
	"strings"
)

// NormScale upper-cases a temperature scale name; "" means CELSIUS.
func NormScale(s string) (string, error) {
	switch u := strings.ToUpper(strings.TrimSpace(s)); u {
	case "":
		return Celsius, nil
	case Celsius, Fahrenheit:
		return u, nil
	default:
		return "", fmt.Errorf("alexa: scale %q: want CELSIUS or FAHRENHEIT", s)
	}
}

// Temperature scales, as the Endpoint Features API spells them.
const (
	Celsius    = "CELSIUS"
	Fahrenheit = "FAHRENHEIT"
	Kelvin     = "KELVIN"
)

// The credentials the simulator accepts; see SimCredentials.
const (
	SimClientID     = "sim-client"
	SimRefreshToken = "sim-refresh-token"
)

// DefaultScopes returns the LWA scopes requested at login: the Endpoint
// Features and Endpoints APIs are Alexa Smart Properties APIs.
func DefaultScopes() []string { return []string{"alexa::enterprise:management"} }

// DefaultRedirectAddr is where the authorization-code login listens. LWA
// only redirects to return URLs registered in the security profile, so the
// port is fixed: register http://127.0.0.1:8479/callback.
const DefaultRedirectAddr = "127.0.0.1:8479"

// Config is what the alexa package needs from the user's configuration.
// The CLI reads the file; ConfigFromEnv overlays the environment.
type Config struct {
	ClientID     string
	ClientSecret string
	RefreshToken string
	Region       string   // region or country, see HostsFor; "" means US
	Scale        string   // CELSIUS or FAHRENHEIT; readings are converted to it
	Cloud        string   // base URL replacing every Amazon host (the simulator)
	Scopes       []string // LWA scopes for login; nil means DefaultScopes
	RedirectAddr string   // loopback listener for LoginAuthCode; "" means DefaultRedirectAddr
}

// Credentials are the LWA client and refresh token.
type Credentials struct {
	ClientID     string
	ClientSecret string
	RefreshToken string
}

// SimCredentials are the credentials the simulator accepts: client id
// "sim-client", no secret, refresh token "sim-refresh-token".
func SimCredentials() Credentials {
	return Credentials{ClientID: SimClientID, RefreshToken: SimRefreshToken}
}

// Credentials returns the LWA credentials of c.
func (c Config) Credentials() Credentials {
	return Credentials{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RefreshToken: c.RefreshToken}
}

// ConfigFromEnv overlays the ALEXARULES_* environment variables that are
// set and non-empty onto base: ALEXARULES_CLIENT_ID, ALEXARULES_CLIENT_SECRET,
// ALEXARULES_REFRESH_TOKEN, ALEXARULES_REGION, ALEXARULES_SCALE and
// ALEXARULES_CLOUD. getenv is os.Getenv in main and a map in tests.
func ConfigFromEnv(getenv func(string) string, base Config) Config {
	set := func(dst *string, name string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	c := base
	set(&c.ClientID, "ALEXARULES_CLIENT_ID")
	set(&c.ClientSecret, "ALEXARULES_CLIENT_SECRET")
	set(&c.RefreshToken, "ALEXARULES_REFRESH_TOKEN")
	set(&c.Region, "ALEXARULES_REGION")
	set(&c.Scale, "ALEXARULES_SCALE")
	set(&c.Cloud, "ALEXARULES_CLOUD")
	return c
}

// WithDefaults fills what was left empty: region US, scale CELSIUS, the
// default scopes and redirect address, and, when a cloud URL is set and
// neither a client id nor a refresh token is configured, SimCredentials.
func (c Config) WithDefaults() Config {
	if c.Region == "" {
		c.Region = "US"
	}
	if sc, err := NormScale(c.Scale); err == nil {
		c.Scale = sc
	}
	if c.Scopes == nil {
		c.Scopes = DefaultScopes()
	}
	if c.RedirectAddr == "" {
		c.RedirectAddr = DefaultRedirectAddr
	}
	if c.Cloud != "" && c.ClientID == "" && c.RefreshToken == "" {
		sim := SimCredentials()
		c.ClientID, c.ClientSecret, c.RefreshToken = sim.ClientID, sim.ClientSecret, sim.RefreshToken
	}
	return c
}

// Validate reports configuration errors that would only surface later as
// confusing API failures. It does not require a refresh token: one may be
// in the token store.
func (c Config) Validate() error {
	var errs []error
	if _, err := HostsFor(c.Region, c.Cloud); err != nil {
		errs = append(errs, err)
	}
	if _, err := NormScale(c.Scale); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" && c.Cloud == "" {
		errs = append(errs, errors.New("alexa: no LWA client id configured (ALEXARULES_CLIENT_ID)"))
	}
	return errors.Join(errs...)
}
