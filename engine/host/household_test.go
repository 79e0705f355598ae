package host_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/store"
)

// A data file that names a household account but whose session is
// missing or damaged is a clear configuration error at start-up: run
// never falls back to other credentials behind the user's back.
func TestAHouseholdAccountWithoutAUsableSessionSaysLogIn(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		session string // "" stores none
		want    string
	}{
		{"no session", "", "holds no session: run `alexarules login`"},
		{"damaged session", `{"refresh_token": 7}`, "auth/app_session"},
	} {
		data := filepath.Join(t.TempDir(), "a.db")
		st, err := store.Open(data, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put("auth", "account", []byte(`{"auth":"app"}`)); err != nil {
			t.Fatal(err)
		}
		if tc.session != "" {
			if err := st.Put("auth", "app_session", []byte(tc.session)); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
		err = host.Run(context.Background(), host.Options{Config: host.Config{Rules: dir, Admin: "off", Data: data, Cloud: "http://127.0.0.1:9"}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}
