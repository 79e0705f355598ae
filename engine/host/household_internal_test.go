package host

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// The websocket of a household account takes the keeper's cookies at
// every connect: after the keeper renewed them (here: its session check
// found the old ones refused), the next connect sends the new ones.
func TestKeeperAccessGivesTheWebsocketTheCurrentCookies(t *testing.T) {
	ts := httptest.NewServer(sim.New(sim.DemoHousehold(), sim.Options{}).Handler())
	defer ts.Close()
	hosts, err := alexa.HostsFor("", ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	app, err := auth.NewApp(hosts, auth.AppOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := auth.NewDevice()
	pkce, _ := auth.NewPKCE()
	code, cookies, err := signintest.Code(signintest.Client(), auth.SignInURL(hosts, dev, pkce), "sim@example.com", "sim-password")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := app.Register(context.Background(), dev, pkce, code, cookies)
	if err != nil {
		t.Fatal(err)
	}
	k := auth.NewKeeper(app, discardSessions{}, sess, auth.KeeperOptions{})
	acc, err := keeperAccess(k)
	if err != nil {
		t.Fatal(err)
	}
	if acc.ws.CookieFunc == nil || acc.ws.CookieFunc() != sess.WebCookie() || acc.ws.ADPToken == "" {
		t.Fatal("the websocket does not take the session's cookies and ADP token")
	}
	expire, err := http.Post(ts.URL+"/_sim/auth/expire", "application/json", strings.NewReader(`{"cookies":true}`))
	if err != nil {
		t.Fatal(err)
	}
	expire.Body.Close()
	// The keeper's session check at start finds them refused and renews them.
	ctx := t.Context()
	go k.Run(ctx)
	enginetest.WaitUntil(t, "the cookie renewal", func() bool { return k.WebCookie() != sess.WebCookie() })
	if got := acc.ws.CookieFunc(); got == sess.WebCookie() || got != k.WebCookie() {
		t.Fatal("after the renewal the websocket would connect with the old cookies")
	}
}
