package alexa

import (
	"cmp"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Hosts are the base URLs (scheme and host, no trailing slash) of every
// Amazon service the engine talks to, for one country.
type Hosts struct {
	Country string // canonical country code, e.g. "US", "UK", "IN"
	Region  string // "NA", "EU" or "FE"
	Domain  string // retail domain, e.g. "amazon.de"; cookie domains derive from it

	API           string // Endpoint Features and Endpoints REST API
	TokenURL      string // Login with Amazon token endpoint (refresh and code grants)
	AuthURL       string // Login with Amazon authorization page
	DeviceAuthURL string // Login with Amazon code-pair endpoint (code-based linking)
	Identity      string // api.amazon.{tld}: the app-style /auth/token and /auth/register
	Login         string // www.amazon.com (www.amazon.co.jp for Japan): the app's sign-in pages
	Capabilities  string // api.amazonalexa.com: the app device's capabilities PUT, every region
	Web           string // the Alexa web API (devices, notifications, legacy lists)
	Lists         string // www.amazon.{tld}: the v2 shopping-list API
	Push          string // the HTTP/2 push downchannel
	PushGateway   string // the legacy websocket (tcomm) push gateway
}

// region holds what is shared by every country of one Amazon region.
type region struct {
	api, token, auth, push string
}

// regions is read-only. LWA documents one token host per region; the
// authorization page likewise. Code-based linking is only documented on
// api.amazon.com, which serves every region.
var regions = map[string]region{
	"NA": {
		api:   "https://api.amazonalexa.com",
		token: "https://api.amazon.com/auth/o2/token",
		auth:  "https://www.amazon.com/ap/oa",
		push:  "https://bob-dispatch-prod-na.amazon.com",
	},
	"EU": {
		api:   "https://api.eu.amazonalexa.com",
		token: "https://api.amazon.co.uk/auth/o2/token",
		auth:  "https://eu.account.amazon.com/ap/oa",
		push:  "https://bob-dispatch-prod-eu.amazon.com",
	},
	"FE": {
		api:   "https://api.fe.amazonalexa.com",
		token: "https://api.amazon.co.jp/auth/o2/token",
		auth:  "https://apac.account.amazon.com/ap/oa",
		push:  "https://bob-dispatch-prod-fe.amazon.com",
	},
}

const deviceAuthURL = "https://api.amazon.com/auth/o2/create/codepair"

// country is one row of the country table: its region and retail TLD.
type country struct {
	region string
	tld    string
}

// countries is read-only. The region split follows Amazon's smart home
// gateways: India is served from the EU region (and its domain is amazon.in,
// not amazon.co.in); Australia from the FE region.
var countries = map[string]country{
	"US": {"NA", "com"},
	"CA": {"NA", "ca"},
	"MX": {"NA", "com.mx"},
	"BR": {"NA", "com.br"},
	"UK": {"EU", "co.uk"},
	"DE": {"EU", "de"},
	"FR": {"EU", "fr"},
	"IT": {"EU", "it"},
	"ES": {"EU", "es"},
	"IN": {"EU", "in"},
	"JP": {"FE", "co.jp"},
	"AU": {"FE", "com.au"},
}

// aliases maps other accepted names to a country code. A bare region name
// means that region's reference country.
var aliases = map[string]string{
	"GB": "UK",
	"NA": "US",
	"EU": "UK",
	"FE": "JP",
}

// Regions lists every accepted region or country name, sorted.
func Regions() []string {
	names := make([]string, 0, len(countries)+len(aliases))
	for c := range countries {
		names = append(names, c)
	}
	for a := range aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	return names
}

// HostsFor returns the hosts for a region ("NA", "EU", "FE") or country
// ("US", "UK"/"GB", "DE", "IN", ...); case does not matter and "" means US.
// A non-empty cloud base URL (e.g. "http://127.0.0.1:9000", the simulator)
// replaces every host, so that one flag points the whole engine elsewhere.
func HostsFor(regionOrCountry, cloud string) (Hosts, error) {
	code := strings.ToUpper(strings.TrimSpace(regionOrCountry))
	if code == "" {
		code = "US"
	}
	if a, ok := aliases[code]; ok {
		code = a
	}
	c, ok := countries[code]
	if !ok {
		return Hosts{}, fmt.Errorf("alexa: unknown region %q (known: %s)", regionOrCountry, strings.Join(Regions(), ", "))
	}
	r := regions[c.region]
	domain := "amazon." + c.tld
	h := Hosts{
		Country:       code,
		Region:        c.region,
		Domain:        domain,
		API:           r.api,
		TokenURL:      r.token,
		AuthURL:       r.auth,
		DeviceAuthURL: deviceAuthURL,
		Identity:      "https://api." + domain,
		Login:         "https://www.amazon.com",
		Capabilities:  "https://api.amazonalexa.com",
		Web:           "https://alexa." + domain,
		Lists:         "https://www." + domain,
		Push:          r.push,
		PushGateway:   "wss://dp-gw-na." + domain,
	}
	if code == "JP" {
		// Japanese accounts sign in on their own retail site (research
		// alexa-device-registration §11); every other one on amazon.com.
		h.Login = "https://www.amazon.co.jp"
	}
	if code == "US" {
		// The US gateway answers websockets on its -js name only.
		h.PushGateway = "wss://dp-gw-na-js.amazon.com"
	}
	if cloud == "" {
		return h, nil
	}
	base, err := cloudBase(cloud)
	if err != nil {
		return Hosts{}, err
	}
	h.API, h.Identity, h.Web, h.Lists, h.Push, h.PushGateway = base, base, base, base, base, base
	h.Login, h.Capabilities = base, base
	h.TokenURL = base + "/auth/o2/token"
	h.AuthURL = base + "/ap/oa"
	h.DeviceAuthURL = base + "/auth/o2/create/codepair"
	return h, nil
}

// cloudBase checks a --cloud URL and strips any trailing slash.
func cloudBase(cloud string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(cloud))
	if err != nil {
		return "", fmt.Errorf("alexa: cloud URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("alexa: cloud URL %q: want http://host[:port] or https://host[:port]", cloud)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("alexa: cloud URL %q: must not have a query or fragment", cloud)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// HostsForMarketplace returns the hosts of an account known by its
// marketplace domain ("amazon.de"; "www.amazon.de" and ".amazon.de" are
// accepted too) and the home region Amazon reported for it at device
// registration (customer_info.home_region: "NA", "EU" or "FE"). The home
// region picks the push host and the Endpoint Features API; an empty or
// unknown one leaves the marketplace's own region. A marketplace outside
// the country table (amazon.nl, amazon.se, ...) gets its domain's hosts
// on the home region's services. cloud replaces every host, as in
// HostsFor.
func HostsForMarketplace(domain, homeRegion, cloud string) (Hosts, error) {
	d := strings.ToLower(strings.TrimSpace(domain))
	d = strings.TrimPrefix(strings.TrimPrefix(d, "."), "www.")
	tld, ok := strings.CutPrefix(d, "amazon.")
	if !ok || tld == "" || strings.ContainsAny(tld, "/:@ ") {
		return Hosts{}, fmt.Errorf("alexa: marketplace %q is not an amazon.<tld> domain", domain)
	}
	hr := strings.ToUpper(strings.TrimSpace(homeRegion))
	if _, known := regions[hr]; !known {
		hr = ""
	}
	code := ""
	for c, row := range countries {
		if row.tld == tld {
			code = c
		}
	}
	if code == "" {
		// Not in the table: the home region's reference country, with
		// this marketplace's own domain hosts.
		code = aliases[cmp.Or(hr, "NA")]
	}
	h, err := HostsFor(code, cloud)
	if err != nil {
		return Hosts{}, err
	}
	if h.Domain != d {
		h.Country, h.Domain = "", d
		if cloud == "" {
			h.Identity, h.Web, h.Lists = "https://api."+d, "https://alexa."+d, "https://www."+d
			h.PushGateway = "wss://dp-gw-na." + d
		}
	}
	if hr != "" && hr != h.Region {
		h.Region = hr
		if cloud == "" {
			h.API, h.Push = regions[hr].api, regions[hr].push
		}
	}
	return h, nil
}
