package host_test

import (
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/poll"
)

// The poll keys set in the file win; the backend's defaults fill the rest.
func TestPollOptionsPerBackend(t *testing.T) {
	for _, c := range []struct {
		src         string
		defaults    poll.Defaults
		interval    time.Duration
		rate        float64
		concurrency int
	}{
		{`{}`, poll.SmartHomeDefaults(), 5 * time.Minute, 2.0 / 300, 1},
		{`{}`, poll.Defaults{}, 0, 0, 0}, // poll.New's defaults: Endpoint Features
		{`{"poll_interval": "10m", "poll": {"requests_per_minute": 0.2, "concurrency": 2}}`, poll.SmartHomeDefaults(), 10 * time.Minute, 0.2 / 60, 2},
		{`{"poll": {"rate": 0.5}}`, poll.SmartHomeDefaults(), 5 * time.Minute, 0.5, 1},
		{`{"poll_interval": "30s", "poll": {"rate": 5}}`, poll.Defaults{}, 30 * time.Second, 5, 0},
		// An interval set shorter than the smart-home default, with no
		// budget: one batched request per interval, not 2 per 5 min.
		{`{"poll_interval": "2s"}`, poll.SmartHomeDefaults(), 2 * time.Second, 0.5, 1},
		{`{"poll_interval": "2s", "poll": {"devices": [{"device": "*", "attrs": ["power"], "interval": "10s"}]}}`,
			poll.SmartHomeDefaults(), 2 * time.Second, 0.5 + 0.1, 1},
		{`{"poll": {"rules": {"warm": "1m"}}}`, poll.SmartHomeDefaults(), 5 * time.Minute, 1.0/60 + 1.0/300, 1},
		// Longer than the default: its budget stays.
		{`{"poll_interval": "10m"}`, poll.SmartHomeDefaults(), 10 * time.Minute, 2.0 / 300, 1},
		// A budget set caps it.
		{`{"poll_interval": "2s", "poll": {"requests_per_minute": 6}}`, poll.SmartHomeDefaults(), 2 * time.Second, 0.1, 1},
		// The features backend keeps its budget.
		{`{"poll_interval": "2s"}`, poll.Defaults{}, 2 * time.Second, 0, 0},
	} {
		cfg, err := host.ParseConfig("c.json", []byte(c.src))
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		r := &readerStub{}
		o := cfg.PollOptions(c.defaults, poll.Options{Reader: r})
		if o.Interval != c.interval || o.Rate != c.rate || o.Concurrency != c.concurrency || o.Reader != r {
			t.Errorf("%s: options %+v; want interval %v, rate %v, concurrency %d", c.src, o, c.interval, c.rate, c.concurrency)
		}
	}
}

func TestPollBudgetKeysAreChecked(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`{"poll": {"rate": 1, "requests_per_minute": 2}}`, "set one budget"},
		{`{"poll": {"requests_per_minute": -1}}`, "poll.requests_per_minute -1"},
	} {
		_, err := host.ParseConfig("c.json", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "c.json") {
			t.Errorf("%s: %v; want an error naming the file and %q", c.src, err, c.want)
		}
	}
}

// readerStub is a Reader the options must carry through.
type readerStub struct{ poll.Reader }
