package auth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// TestHousehold is the whole story against the simulator: sign in,
// register, log in again with the stored device, keep the session alive
// through expiries with the web client on the keeper's credentials, and
// finally lose it to a deregistration.
func TestHousehold(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	d, _ := auth.NewDevice()
	r.registerDevice(t, d)
	if got := r.registrations(t); len(got) != 1 || got[0] != d.Serial {
		t.Fatalf("registrations %q, want the device's serial once", got)
	}
	// A second login with the stored device is the same device.
	s := r.registerDevice(t, d)
	if got := r.registrations(t); len(got) != 1 {
		t.Fatalf("registrations %q after a second login, want 1", got)
	}
	st := r.store()
	k := auth.NewKeeper(r.app, st, s, auth.KeeperOptions{})
	if h := k.Hosts(); h.Push != r.ts.URL || h.Web != r.ts.URL {
		t.Fatalf("hosts %+v: --cloud must keep every host on the simulator", h)
	}
	stop := r.running(t, k)
	defer stop()
	registered := r.count("POST /auth/register")

	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the access renewal", func() bool { return st.saves() == 1 })

	// The web client on the keeper's credentials: a state-changing call
	// needs the csrf header the keeper got; expired cookies are renewed.
	ctx := context.Background()
	wc, err := web.New(web.Options{Hosts: k.Hosts(), Auth: k.WebAuth()})
	if err != nil {
		t.Fatal(err)
	}
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"cookies":true}`)
	lists, err := wc.Lists(ctx)
	if err != nil || len(lists) == 0 {
		t.Fatalf("lists: %v (%d)", err, len(lists))
	}
	if _, err := wc.AddItem(ctx, lists[0].ID, "milk"); err != nil {
		t.Fatalf("add item with the keeper's csrf: %v", err)
	}
	// An expired access token: the capabilities API's 403 renews it.
	r.control(t, http.MethodPost, "/_sim/auth/expire", `{"access_token":true}`)
	if err := r.putCapabilities(k); err != nil {
		t.Fatalf("capabilities after the token expired: %v", err)
	}
	// A day later the keeper has exchanged new cookies by itself.
	exchanges := r.count("POST /ap/exchangetoken/cookies")
	r.armed(t)
	r.clock.Advance(24 * time.Hour)
	enginetest.WaitUntil(t, "the daily cookie renewal", func() bool {
		return r.count("POST /ap/exchangetoken/cookies") == exchanges+1 && k.State().CookiesRefreshed.Equal(r.clock.Now())
	})
	if err := r.customerStatus(k); err != nil {
		t.Fatalf("with the renewed cookies: %v", err)
	}
	if n := r.count("POST /auth/register"); n != registered {
		t.Fatalf("%d registrations after refreshes, want %d: never re-register", n, registered)
	}

	// Deregistered: the refresh token dies, the keeper says so once.
	r.control(t, http.MethodDelete, "/_sim/auth/registrations/"+d.Serial, "")
	_, err = k.AccessToken(ctx, true)
	if !errors.Is(err, auth.ErrSessionDead) || !k.State().LoginRequired {
		t.Fatalf("after deregistration: %v, state %+v", err, k.State())
	}
	if strings.Count(r.logs.String(), "Amazon refused the stored session") != 1 {
		t.Error("want exactly one dead-session log line")
	}
	r.assertNoSecrets(t, err.Error(), "the error")
}
