package host

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/engine/poll"
	"github.com/alexarules/alexarules/rules"
)

// PollConfig is the "poll" block of the configuration file. Unset
// fields (and poll_interval) take the device backend's defaults
// (Config.PollOptions).
type PollConfig struct {
	// Rate is the request budget of the poller, requests per second.
	Rate float64 `json:"rate"`
	// RequestsPerMinute is the same budget per minute, the unit the
	// household smart-home API needs; at most one of the two is set.
	RequestsPerMinute float64 `json:"requests_per_minute"`
	// Concurrency bounds the reads in flight.
	Concurrency int `json:"concurrency"`
	// Devices are polled whether or not a rule refers to them; Interval
	// overrides the default for that device.
	Devices []PollDevice `json:"devices"`
	// Rules overrides the interval of the readings one rule refers to.
	Rules map[string]string `json:"rules"`
}

// PollDevice is a device polled whether or not a rule refers to it.
type PollDevice struct {
	Device   string   `json:"device"`
	Attrs    []string `json:"attrs"`
	Interval string   `json:"interval"`
}

// pollWant is one reading that should be polled, before its device name
// is resolved to an endpoint.
type pollWant struct {
	device   string // name, id, or "*" for every endpoint
	attr     string
	interval time.Duration
	source   string // for messages: the rule or the config
}

// budget is the request budget the block sets, requests per second; 0
// when it sets none.
func (c PollConfig) budget() (float64, error) {
	switch {
	case c.RequestsPerMinute < 0 || math.IsNaN(c.RequestsPerMinute):
		return 0, fmt.Errorf("poll.requests_per_minute %v: a positive number of requests", c.RequestsPerMinute)
	case c.RequestsPerMinute > 0 && c.Rate > 0:
		return 0, fmt.Errorf("poll.rate %v and poll.requests_per_minute %v: set one budget, per second or per minute", c.Rate, c.RequestsPerMinute)
	case c.RequestsPerMinute > 0:
		return c.RequestsPerMinute / 60, nil
	}
	return c.Rate, nil
}

// PollOptions completes o (clock, reader, store, ...) with the poll keys
// of the configuration, and what they leave unset with the device
// backend's defaults d: poll.Defaults{} for the Endpoint Features API,
// poll.SmartHomeDefaults() for the household smart-home API. Run it on a
// validated Config: it ignores values Validate refuses.
//
// With d.RateFollowsInterval and no budget set, intervals set shorter
// than d.Interval (poll_interval, poll.devices[].interval, poll.rules)
// get one request per interval (intervalBudget) rather than d.Rate,
// which would stretch them: `--poll-interval 2s` polls every 2 s.
func (c Config) PollOptions(d poll.Defaults, o poll.Options) poll.Options {
	o.Interval, _ = optionalDuration(c.PollInterval)
	o.Rate, _ = c.Poll.budget()
	o.Concurrency = c.Poll.Concurrency
	if o.Rate <= 0 && d.RateFollowsInterval {
		o.Rate = c.intervalBudget(d.Interval)
	}
	return d.Fill(o)
}

// intervalBudget is one request per each distinct interval the
// configuration asks for (the default one included), summed in requests
// per second, when one of them is shorter than def; else 0. A
// batched backend reads every due device of an interval in one request,
// so that is what the targets need (the poller stretches them when an
// interval has more devices than a request carries).
func (c Config) intervalBudget(def time.Duration) float64 {
	intervals := map[time.Duration]bool{}
	shorter := false
	add := func(s string) {
		if d, _ := optionalDuration(s); d > 0 {
			intervals[d] = true
			shorter = shorter || d < def
		}
	}
	add(c.PollInterval)
	if len(intervals) == 0 {
		intervals[def] = true
	}
	for _, d := range c.Poll.Devices {
		add(d.Interval)
	}
	for _, id := range slices.Sorted(maps.Keys(c.Poll.Rules)) {
		add(c.Poll.Rules[id])
	}
	if !shorter {
		return 0
	}
	rate := 0.0
	for _, d := range slices.Sorted(maps.Keys(intervals)) {
		rate += 1 / d.Seconds()
	}
	return rate
}

// pollWants lists what the loaded rules and the configuration ask to poll.
// It checks the block's budget as well.
func pollWants(cfg PollConfig, loaded []*rules.Loaded) ([]pollWant, error) {
	if _, err := cfg.budget(); err != nil {
		return nil, err
	}
	var wants []pollWant
	for _, d := range cfg.Devices {
		iv, err := optionalDuration(d.Interval)
		if err != nil {
			return nil, fmt.Errorf("poll.devices %q: interval: %w", d.Device, err)
		}
		for _, a := range d.Attrs {
			wants = append(wants, pollWant{device: d.Device, attr: a, interval: iv, source: "config"})
		}
	}
	for _, l := range loaded {
		if !l.Def.Enabled {
			continue
		}
		iv, err := optionalDuration(cfg.Rules[l.Def.ID])
		if err != nil {
			return nil, fmt.Errorf("poll.rules %q: %w", l.Def.ID, err)
		}
		for _, t := range l.Def.Triggers {
			dev, _ := t.Opts["device"].(string)
			switch t.Ctor {
			case "reading":
				attr, _ := t.Opts["attr"].(string)
				wants = append(wants, pollWant{device: dev, attr: attr, interval: iv, source: "rule " + l.Def.ID})
			case "reachable", "unreachable":
				wants = append(wants, pollWant{device: dev, attr: poll.AttrConnectivity, interval: iv, source: "rule " + l.Def.ID})
			}
		}
	}
	return wants, nil
}

func optionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%q must be more than zero", s)
	}
	return d, err
}

// pollTargets resolves the wanted readings against the endpoint list and
// reports how many wants no endpoint matched. Those are logged: an Echo's
// online state comes from push instead, and a misspelt name should be
// visible.
func pollTargets(eps []alexa.Device, wants []pollWant, log *slog.Logger) (out []poll.Target, unmatched int) {
	for _, w := range wants {
		matched := false
		for _, ep := range eps {
			if w.device == "*" || strings.EqualFold(ep.FriendlyName, w.device) || ep.ID == w.device {
				matched = true
				out = append(out, poll.Target{EndpointID: ep.ID, Name: ep.FriendlyName, Attr: w.attr, Interval: w.interval})
			}
		}
		if !matched {
			unmatched++
			log.Warn("no endpoint of that name to poll (an Echo's online state comes from push)", "device", w.device, "attr", w.attr, "from", w.source)
		}
	}
	return out, unmatched
}

// unmatchedRetries is how many times (30 s apart) the poller of the
// Endpoint Features API looks again for devices the endpoint list lacks:
// an endpoint being added. An Echo named in reachable/unreachable is never
// in it (its state comes from push).
const unmatchedRetries = 10

// resolvePolicy is how the poller's targets follow the device list: retry
// is the wait before fetching it again after a failure or while a wanted
// device is missing (at most tries times in a row), every the interval of
// a scheduled fetch (0: none).
type resolvePolicy struct {
	retry time.Duration
	tries int
	every time.Duration
}

// runPoller resolves the targets and polls until ctx ends; it resolves
// them again on every retarget (a rules reload). It returns once its
// resolving loop has ended too.
func runPoller(ctx context.Context, p *poll.Poller, dir *alexa.Directory, wants func() []pollWant,
	retarget <-chan struct{}, policy resolvePolicy, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before Wait: the poller may end before ctx does
	wg.Go(func() { resolveTargets(ctx, p, dir, wants, retarget, policy, log) })
	return p.Run(ctx)
}

// resolveTargets matches the wanted readings against the device list
// until ctx ends, fetching the list at start, on every retarget and every
// policy.every. While the list cannot be fetched it tries again every
// policy.retry, and so for a while when some device is not in it.
func resolveTargets(ctx context.Context, p *poll.Poller, dir *alexa.Directory, wants func() []pollWant,
	retarget <-chan struct{}, policy resolvePolicy, log *slog.Logger) {
	select { // the first resolve below covers the rules loaded at start
	case <-retarget:
	default:
	}
	tries := 0
	for {
		retry := true
		if err := dir.Refresh(ctx); err != nil {
			log.Warn("fetch the device list for polling; retrying", "retry_in", policy.retry, "err", err)
		} else if eps, err := dir.Devices(ctx); err == nil {
			ts, unmatched := pollTargets(eps, wants(), log)
			p.SetTargets(ts)
			log.Info("polling readings", "targets", len(ts))
			tries++
			retry = unmatched > 0 && tries <= policy.tries
		}
		var again, scheduled <-chan time.Time
		if retry {
			again = time.After(policy.retry)
		}
		if policy.every > 0 {
			scheduled = time.After(policy.every)
		}
		select {
		case <-ctx.Done():
			return
		case <-again:
		case <-scheduled:
			tries = 0
		case <-retarget:
			tries = 0
		}
	}
}
