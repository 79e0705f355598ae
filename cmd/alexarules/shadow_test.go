package main

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/store"
)

func TestShadowTogglesARuleThroughTheAdminAPI(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := engine.New(engine.Config{Store: st})
	if err := e.SetRules([]*engine.Rule{{ID: "porch", Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&admin.Server{Engine: e, Store: st}).Handler())
	defer srv.Close()

	out, errOut, code := runHere(t, "shadow", "porch", "on", "--admin", srv.URL)
	if code != exitOK || out != "rule porch: shadow on\n" || !e.Rules()[0].Shadow {
		t.Fatalf("shadow porch on: exit %d %q %q, rules %+v", code, out, errOut, e.Rules())
	}
	host := strings.TrimPrefix(srv.URL, "http://") // run's --admin form
	if _, errOut, code = runHere(t, "shadow", "porch", "off", "--admin", host); code != exitOK || e.Rules()[0].Shadow {
		t.Fatalf("shadow porch off: exit %d %q", code, errOut)
	}
	if _, errOut, code = runHere(t, "shadow", "nope", "on", "--admin", srv.URL); code != exitFailure ||
		!strings.Contains(errOut, `404 Not Found: POST /api/rules/nope/shadow: no such rule: "nope"`) {
		t.Fatalf("unknown rule: exit %d %q", code, errOut)
	}
	if _, errOut, code = runHere(t, "shadow", "porch", "maybe", "--admin", srv.URL); code != exitUsage ||
		!strings.Contains(errOut, `on or off expected, got "maybe"`) {
		t.Fatalf("bad state: exit %d %q", code, errOut)
	}
}
