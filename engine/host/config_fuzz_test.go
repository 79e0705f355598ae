package host_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/host"
)

// FuzzLoadConfig: any file either loads into a configuration that
// survives a round trip through JSON and whose derived values (place,
// zone, Alexa settings) are computed without a panic, or fails with an
// error that names the file.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"rules": "rules", "data": "x.db", "admin": "127.0.0.1:8080", "timezone": "Europe/Berlin",
		  "latitude": 52.5, "longitude": 13.4, "cloud": "http://127.0.0.1:9", "push": "websocket",
		  "poll_interval": "60s", "log_level": "debug", "dry_run": true,
		  "alexa": {"client_id": "c", "client_secret": "s", "refresh_token": "r", "region": "eu",
		            "scale": "CELSIUS", "cookie": "a=b", "lists": "legacy"},
		  "poll": {"rate": 2.5, "concurrency": 4, "devices": [{"device": "Hall", "attrs": ["temperature"], "interval": "5m"}],
		           "rules": {"r": "30s"}}}`,
		`{"latitude": 91}`,
		`{"latitude": 1}`,
		`{"timezone": "Mars/Base"}`,
		`{"poll_interval": "soon"}`,
		`{"pol_interval": "5s"}`,
		`{"poll": {"rate": "fast"}}`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := host.LoadConfig(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted a file that is not one JSON value: %q", b)
		}
		if d, err := time.ParseDuration(c.PollInterval); c.PollInterval != "" && (err != nil || d <= 0) {
			t.Fatalf("accepted poll_interval %q: %v", c.PollInterval, err)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, again, 0o644); err != nil {
			t.Fatal(err)
		}
		c2, err := host.LoadConfig(path)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip: %+v\n%s\n%+v, %v", c, again, c2, err)
		}
		checkDerived(t, c)
	})
}

// checkDerived computes what run derives from the file; errors name the
// key at fault.
func checkDerived(t *testing.T, c host.Config) {
	t.Helper()
	if _, err := c.Place(); err != nil && !strings.Contains(err.Error(), "latitude") && !strings.Contains(err.Error(), "longitude") {
		t.Fatalf("place error %q names neither latitude nor longitude", err)
	}
	if _, err := c.Location(); err != nil && !strings.Contains(err.Error(), "timezone") {
		t.Fatalf("timezone error %q does not name the key", err)
	}
	_ = c.AlexaConfig(func(string) string { return "" })
}
