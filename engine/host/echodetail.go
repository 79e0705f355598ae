package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/alexarules/alexarules/alexa/web"
)

// EchoDetail is what `alexarules devices --detail` shows besides the
// Echo list. A reader that failed leaves its part empty and its error in
// Err.
type EchoDetail struct {
	Session   string              // GET /api/customer-status: "ok", "refused" (log in again), or "" when it failed
	WakeWords map[string]string   // serial → wake word
	DND       map[string]bool     // serial → Do Not Disturb on
	Wifi      map[string]web.Wifi // serial → network; Echos only, not groups or apps
	Members   []web.Member        // the Amazon household's accounts
	Err       error
}

// readEchoDetail reads the detail of echos; it never stops at a failure.
func readEchoDetail(ctx context.Context, wc *web.Client, echos []web.Echo) *EchoDetail {
	d := &EchoDetail{WakeWords: map[string]string{}, DND: map[string]bool{}, Wifi: map[string]web.Wifi{}}
	var errs []error
	fail := func(what string, err error) { errs = append(errs, fmt.Errorf("%s: %w", what, err)) }
	switch ok, err := wc.SessionValid(ctx); {
	case err != nil:
		fail("session check", err)
	case ok:
		d.Session = "ok"
	default:
		d.Session = "refused"
	}
	if words, err := wc.WakeWords(ctx); err != nil {
		fail("wake words", err)
	} else {
		for _, w := range words {
			d.WakeWords[w.Serial] = w.Word
		}
	}
	if states, err := wc.DNDStatus(ctx); err != nil {
		fail("do not disturb", err)
	} else {
		for _, s := range states {
			d.DND[s.Serial] = s.Enabled
		}
	}
	if members, err := wc.HouseholdMembers(ctx); err != nil {
		fail("household members", err)
	} else {
		d.Members = members
	}
	for _, e := range echos {
		if !e.IsSpeaker() {
			continue
		}
		wifi, err := wc.WifiDetails(ctx, e)
		if err != nil {
			fail("wi-fi of "+e.Name, err)
			continue
		}
		d.Wifi[e.Serial] = wifi
	}
	d.Err = errors.Join(errs...)
	return d
}
