package alexa_test

import (
	"testing"

	"github.com/alexarules/alexarules/alexa"
)

func TestHostsForMarketplace(t *testing.T) {
	tests := []struct {
		domain, home, cloud                         string
		country, region, web, lists, identity, push string
	}{
		{"www.amazon.de", "EU", "", "DE", "EU", "https://alexa.amazon.de", "https://www.amazon.de", "https://api.amazon.de", "https://bob-dispatch-prod-eu.amazon.com"},
		{"amazon.com", "", "", "US", "NA", "https://alexa.amazon.com", "https://www.amazon.com", "https://api.amazon.com", "https://bob-dispatch-prod-na.amazon.com"},
		// home_region wins for the push host (amazon.ca pushes went to -eu
		// by the country table in other clients).
		{".amazon.ca", "na", "", "CA", "NA", "https://alexa.amazon.ca", "https://www.amazon.ca", "https://api.amazon.ca", "https://bob-dispatch-prod-na.amazon.com"},
		{"amazon.co.uk", "NA", "", "UK", "NA", "https://alexa.amazon.co.uk", "https://www.amazon.co.uk", "https://api.amazon.co.uk", "https://bob-dispatch-prod-na.amazon.com"},
		{"amazon.nl", "EU", "", "", "EU", "https://alexa.amazon.nl", "https://www.amazon.nl", "https://api.amazon.nl", "https://bob-dispatch-prod-eu.amazon.com"},
		{"amazon.com.au", "bogus", "", "AU", "FE", "https://alexa.amazon.com.au", "https://www.amazon.com.au", "https://api.amazon.com.au", "https://bob-dispatch-prod-fe.amazon.com"},
		{"amazon.de", "EU", "http://127.0.0.1:9/", "DE", "EU", "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9"},
	}
	for _, tt := range tests {
		h, err := alexa.HostsForMarketplace(tt.domain, tt.home, tt.cloud)
		if err != nil {
			t.Fatalf("%s: %v", tt.domain, err)
		}
		got := []string{h.Country, h.Region, h.Web, h.Lists, h.Identity, h.Push}
		want := []string{tt.country, tt.region, tt.web, tt.lists, tt.identity, tt.push}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s %s: field %d = %q, want %q", tt.domain, tt.home, i, got[i], want[i])
			}
		}
	}
	for _, bad := range []string{"", "example.com", "amazon.", "amazon.de/x"} {
		if _, err := alexa.HostsForMarketplace(bad, "EU", ""); err == nil {
			t.Errorf("HostsForMarketplace(%q) = nil error", bad)
		}
	}
}
