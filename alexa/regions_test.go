package alexa_test

import (
	"testing"

	"github.com/alexarules/alexarules/alexa"
)

func TestHostsFor(t *testing.T) {
	tests := []struct {
		in                                     string
		country, region                        string
		api, token, web, lists, identity, push string
	}{
		{"", "US", "NA", "https://api.amazonalexa.com", "https://api.amazon.com/auth/o2/token",
			"https://alexa.amazon.com", "https://www.amazon.com", "https://api.amazon.com", "https://bob-dispatch-prod-na.amazon.com"},
		{"us", "US", "NA", "https://api.amazonalexa.com", "https://api.amazon.com/auth/o2/token",
			"https://alexa.amazon.com", "https://www.amazon.com", "https://api.amazon.com", "https://bob-dispatch-prod-na.amazon.com"},
		{"NA", "US", "NA", "https://api.amazonalexa.com", "https://api.amazon.com/auth/o2/token",
			"https://alexa.amazon.com", "https://www.amazon.com", "https://api.amazon.com", "https://bob-dispatch-prod-na.amazon.com"},
		{"CA", "CA", "NA", "https://api.amazonalexa.com", "https://api.amazon.com/auth/o2/token",
			"https://alexa.amazon.ca", "https://www.amazon.ca", "https://api.amazon.ca", "https://bob-dispatch-prod-na.amazon.com"},
		{"MX", "MX", "NA", "https://api.amazonalexa.com", "https://api.amazon.com/auth/o2/token",
			"https://alexa.amazon.com.mx", "https://www.amazon.com.mx", "https://api.amazon.com.mx", "https://bob-dispatch-prod-na.amazon.com"},
		{"BR", "BR", "NA", "https://api.amazonalexa.com", "https://api.amazon.com/auth/o2/token",
			"https://alexa.amazon.com.br", "https://www.amazon.com.br", "https://api.amazon.com.br", "https://bob-dispatch-prod-na.amazon.com"},
		{"UK", "UK", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.co.uk", "https://www.amazon.co.uk", "https://api.amazon.co.uk", "https://bob-dispatch-prod-eu.amazon.com"},
		{"gb", "UK", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.co.uk", "https://www.amazon.co.uk", "https://api.amazon.co.uk", "https://bob-dispatch-prod-eu.amazon.com"},
		{"EU", "UK", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.co.uk", "https://www.amazon.co.uk", "https://api.amazon.co.uk", "https://bob-dispatch-prod-eu.amazon.com"},
		{"DE", "DE", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.de", "https://www.amazon.de", "https://api.amazon.de", "https://bob-dispatch-prod-eu.amazon.com"},
		{"FR", "FR", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.fr", "https://www.amazon.fr", "https://api.amazon.fr", "https://bob-dispatch-prod-eu.amazon.com"},
		{"IT", "IT", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.it", "https://www.amazon.it", "https://api.amazon.it", "https://bob-dispatch-prod-eu.amazon.com"},
		{"ES", "ES", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.es", "https://www.amazon.es", "https://api.amazon.es", "https://bob-dispatch-prod-eu.amazon.com"},
		{"IN", "IN", "EU", "https://api.eu.amazonalexa.com", "https://api.amazon.co.uk/auth/o2/token",
			"https://alexa.amazon.in", "https://www.amazon.in", "https://api.amazon.in", "https://bob-dispatch-prod-eu.amazon.com"},
		{"JP", "JP", "FE", "https://api.fe.amazonalexa.com", "https://api.amazon.co.jp/auth/o2/token",
			"https://alexa.amazon.co.jp", "https://www.amazon.co.jp", "https://api.amazon.co.jp", "https://bob-dispatch-prod-fe.amazon.com"},
		{"FE", "JP", "FE", "https://api.fe.amazonalexa.com", "https://api.amazon.co.jp/auth/o2/token",
			"https://alexa.amazon.co.jp", "https://www.amazon.co.jp", "https://api.amazon.co.jp", "https://bob-dispatch-prod-fe.amazon.com"},
		{"AU", "AU", "FE", "https://api.fe.amazonalexa.com", "https://api.amazon.co.jp/auth/o2/token",
			"https://alexa.amazon.com.au", "https://www.amazon.com.au", "https://api.amazon.com.au", "https://bob-dispatch-prod-fe.amazon.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, err := alexa.HostsFor(tt.in, "")
			if err != nil {
				t.Fatal(err)
			}
			got := []string{h.Country, h.Region, h.API, h.TokenURL, h.Web, h.Lists, h.Identity, h.Push}
			want := []string{tt.country, tt.region, tt.api, tt.token, tt.web, tt.lists, tt.identity, tt.push}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("field %d = %q, want %q", i, got[i], want[i])
				}
			}
			if h.AuthURL == "" || h.DeviceAuthURL == "" || h.Domain == "" {
				t.Errorf("empty login hosts: %+v", h)
			}
		})
	}
}

func TestHostsForCloudReplacesEveryHost(t *testing.T) {
	for _, cloud := range []string{"http://127.0.0.1:9000", "http://127.0.0.1:9000/"} {
		h, err := alexa.HostsFor("DE", cloud)
		if err != nil {
			t.Fatal(err)
		}
		base := "http://127.0.0.1:9000"
		for name, got := range map[string]string{"API": h.API, "Web": h.Web, "Lists": h.Lists, "Identity": h.Identity, "Push": h.Push} {
			if got != base {
				t.Errorf("%s = %q, want %q", name, got, base)
			}
		}
		if h.TokenURL != base+"/auth/o2/token" {
			t.Errorf("TokenURL = %q", h.TokenURL)
		}
		if h.DeviceAuthURL != base+"/auth/o2/create/codepair" || h.AuthURL != base+"/ap/oa" {
			t.Errorf("login URLs = %q, %q", h.DeviceAuthURL, h.AuthURL)
		}
		if h.Country != "DE" || h.Domain != "amazon.de" {
			t.Errorf("country/domain = %q/%q", h.Country, h.Domain)
		}
	}
}

func TestHostsForErrors(t *testing.T) {
	for _, tt := range []struct{ region, cloud string }{
		{"XX", ""},
		{"co.in", ""},
		{"US", "127.0.0.1:9000"},
		{"US", "ftp://host"},
		{"US", "http://"},
		{"US", "http://host/?q=1"},
	} {
		if _, err := alexa.HostsFor(tt.region, tt.cloud); err == nil {
			t.Errorf("HostsFor(%q, %q): want an error", tt.region, tt.cloud)
		}
	}
}
