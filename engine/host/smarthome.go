package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/smarthome"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/poll"
	"github.com/alexarules/alexarules/scripting"
)

// The device() backends --devices names.
const (
	// DevicesSmartHome is the household smart-home API of the Alexa app
	// (GraphQL discovery, /api/phoenix/state), on the web session.
	DevicesSmartHome = "smarthome"
	// DevicesFeatures is the Endpoint Features API (Alexa Smart
	// Properties), with a Login with Amazon token.
	DevicesFeatures = "features"
)

// DefaultDiscovery is how often the smart-home backend discovers the
// account's devices and groups again unprompted (smarthome.discovery).
// Amazon's inventory changes when someone adds a device in the Alexa app;
// the research suggests 30 minutes or more, and a rule naming a device the
// list lacks discovers at once anyway (at most every
// smarthome.DefaultMinRediscover).
const DefaultDiscovery = 30 * time.Minute

// SmartHomeConfig is the "smarthome" block: how the household smart-home
// backend talks to Amazon (docs/CONFIG.md, docs/ALEXA.md). Empty fields
// keep the defaults.
type SmartHomeConfig struct {
	// BrightnessForm is how setBrightness sends its value: "int" ("50",
	// the default), "number" (50) or "fraction" ("0.5").
	BrightnessForm string `json:"brightness_form"`
	// Kelvin is how a colour temperature is sent: "auto" (the default: a
	// white name when the kelvin is one, else the exact number through
	// GraphQL), "name" or "exact".
	Kelvin string `json:"kelvin"`
	// Discovery is the interval of the scheduled discovery (default 30m).
	Discovery string `json:"discovery"`
	// Cooldown caps the account-wide pause after throttle answers
	// (default 5m): Retry-After exactly when Amazon names one, else 30 s
	// doubling per throttle answer in a row up to Cooldown
	// (smarthome.Options.Cooldown).
	Cooldown string `json:"cooldown"`
}

func (c SmartHomeConfig) validate() []error {
	var errs []error
	switch c.BrightnessForm {
	case "", smarthome.BrightnessInt, smarthome.BrightnessNumber, smarthome.BrightnessFraction:
	default:
		errs = append(errs, fmt.Errorf("smarthome.brightness_form %q: %s, %s or %s", c.BrightnessForm,
			smarthome.BrightnessInt, smarthome.BrightnessNumber, smarthome.BrightnessFraction))
	}
	switch c.Kelvin {
	case "", smarthome.KelvinAuto, smarthome.KelvinName, smarthome.KelvinExact:
	default:
		errs = append(errs, fmt.Errorf("smarthome.kelvin %q: %s, %s or %s", c.Kelvin,
			smarthome.KelvinAuto, smarthome.KelvinName, smarthome.KelvinExact))
	}
	if _, err := optionalDuration(c.Discovery); err != nil {
		errs = append(errs, fmt.Errorf("smarthome.discovery %q: a positive duration such as 30m: %w", c.Discovery, err))
	}
	if _, err := optionalDuration(c.Cooldown); err != nil {
		errs = append(errs, fmt.Errorf("smarthome.cooldown %q: a positive duration such as 5m: %w", c.Cooldown, err))
	}
	return errs
}

// accountKinds is what an account can reach devices with.
type accountKinds struct {
	household bool // a household sign-in (`alexarules login`): smart-home API
	features  bool // LWA credentials, a stored LWA token, or --cloud
	web       bool // a web session: the household's, or a configured cookie
}

// deviceBackend is the device() backend: --devices when given (it must be
// reachable), else smart-home for a household account, Endpoint Features
// for an LWA account and for --cloud without credentials, smart-home for
// a configured web cookie alone; "" when there is none.
func (c Config) deviceBackend(a accountKinds) (string, error) {
	switch c.Devices {
	case DevicesSmartHome:
		if !a.web {
			return "", configErrorf("--devices smarthome needs a household login (`alexarules login`) or the Alexa web cookie (alexa.cookie, ALEXARULES_COOKIE, or --cloud)")
		}
		return DevicesSmartHome, nil
	case DevicesFeatures:
		if !a.features {
			return "", configErrorf("--devices features needs a Login with Amazon account (`alexarules login --auth lwa`, alexa.client_id) or --cloud")
		}
		return DevicesFeatures, nil
	}
	switch {
	case a.household:
		return DevicesSmartHome, nil
	case a.features:
		return DevicesFeatures, nil
	case a.web:
		return DevicesSmartHome, nil
	}
	return "", nil
}

// newSmartHome builds the smart-home client on the account's web session:
// the household sign-in's (renewed by its keeper) or the configured
// cookie's.
func newSmartHome(cfg Config, acc webAccess, clock engine.Clock, log *slog.Logger,
	observe func(api, result string, d time.Duration)) (*smarthome.Client, error) {
	auth := acc.web.Auth
	if auth == nil {
		a, err := web.CookieAuth(acc.web.Cookie)
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("alexa smart-home API: %w", err)}
		}
		auth = a
	}
	cooldown, _ := optionalDuration(cfg.SmartHome.Cooldown) // checked by Validate
	c, err := smarthome.New(smarthome.Options{Hosts: acc.hosts, Auth: auth, Logger: log, Observe: observe, Clock: clock,
		Scale: cfg.Alexa.Scale, BrightnessForm: cfg.SmartHome.BrightnessForm, Kelvin: cfg.SmartHome.Kelvin, Cooldown: cooldown})
	if err != nil {
		return nil, &ConfigError{err}
	}
	return c, nil
}

// startSmartHome connects device() to the household smart-home API: a
// Directory over the client (which discovers again on a name it lacks, at
// most every smarthome.DefaultMinRediscover), the batched poller with the
// backend's conservative defaults, the scheduled discovery and the
// throttle's gauge.
func (rt *alexaRuntime) startSmartHome(cfg Config, acc webAccess, s alexaSetup, log *slog.Logger) (scripting.Endpoints, scripting.Readings, error) {
	client, err := newSmartHome(cfg, acc, s.clock, log, s.observe)
	if err != nil {
		return nil, nil, err
	}
	dir := alexa.NewDirectory(client, alexa.DirectoryOptions{MinRefresh: smarthome.DefaultMinRediscover, Now: s.clock.Now})
	discovery, _ := optionalDuration(cfg.SmartHome.Discovery)
	if discovery == 0 {
		discovery = DefaultDiscovery
	}
	o := cfg.PollOptions(poll.SmartHomeDefaults(), poll.Options{Clock: s.clock, Reader: smartHomeReader{client},
		Store: s.shared, Publish: s.publish, Logger: log})
	// Every look for a missing device is a discovery (two requests):
	// few, and as far apart as the client's own rediscoveries.
	poller := rt.addPoller(cfg, o, dir, resolvePolicy{retry: smarthome.DefaultMinRediscover, tries: 3, every: discovery}, log)
	rt.gauges = append(rt.gauges, coolDownGauges(client, s.clock))
	log.Info("device() uses the household smart-home API", "discovery_every", discovery)
	return smartHomeEndpoints{dir}, poller, nil
}

// smartHomeReader reads the poller's readings from the smart-home API:
// a batch is one state request for its devices (poll.BatchReader).
type smartHomeReader struct{ c *smarthome.Client }

var _ poll.BatchReader = smartHomeReader{}

// Get is one read as a batch of one: like every poll read it fails at
// once during a cool-down (the poller schedules the retry), where the
// client's Get would wait for the end.
func (r smartHomeReader) Get(ctx context.Context, id, attr string) (any, error) {
	res := r.ReadMany(ctx, []poll.Read{{EndpointID: id, Attr: attr}})[0]
	return res.Value, res.Err
}

// MaxBatch is the client's limit of devices per request: a batch of that
// many reads never names more devices.
func (r smartHomeReader) MaxBatch() int { return smarthome.MaxBatch }

// ReadMany asks for each device once, however many of its attributes are
// read. The error of the whole request (a throttle: Retryable, with the
// cool-down left as RetryAfterDuration) is every read's; a device's own
// failure (unreachable, not found) is each of its reads'.
func (r smartHomeReader) ReadMany(ctx context.Context, reads []poll.Read) []poll.ReadResult {
	ids := make([]string, 0, len(reads))
	seen := make(map[string]bool, len(reads))
	for _, rd := range reads {
		if !seen[rd.EndpointID] {
			seen[rd.EndpointID] = true
			ids = append(ids, rd.EndpointID)
		}
	}
	states, err := r.c.States(ctx, ids)
	out := make([]poll.ReadResult, len(reads))
	for i, rd := range reads {
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i] = stateReading(states[rd.EndpointID], rd)
	}
	return out
}

// stateReading is one read's answer from its device's state: the value
// when Amazon reported it (an unreachable device still reports its
// connectivity), else the device's error.
func stateReading(s smarthome.State, rd poll.Read) poll.ReadResult {
	if v, ok := s.Values[rd.Attr]; ok {
		return poll.ReadResult{Value: v}
	}
	if s.Err != nil {
		return poll.ReadResult{Err: s.Err}
	}
	return poll.ReadResult{Err: fmt.Errorf("smart-home device %s: Amazon reported no %s", rd.EndpointID, rd.Attr)}
}

// smartHomeEndpoints are the rules' devices on the smart-home API: the
// Directory, which also says what each update sent (a colour or white
// name, the brightness in the configured form) for the rule's trace.
type smartHomeEndpoints struct{ *alexa.Directory }

var _ scripting.SentReporter = smartHomeEndpoints{}

// UpdateSent is Update with the control request it sent, as the trace's
// "sent": {"request", "parameters", "mapped"}; nil when nothing was sent
// (a call refused before a request, such as set_volume on a plug).
func (e smartHomeEndpoints) UpdateSent(ctx context.Context, id, operation string, args ...float64) (any, error) {
	var sent *smarthome.Sent
	err := e.Update(smarthome.WithSent(ctx, func(s smarthome.Sent) { sent = &s }), id, operation, args...)
	if sent == nil {
		return nil, err
	}
	out := map[string]any{"request": sent.Request, "parameters": sent.Params}
	if sent.Note != "" {
		out["mapped"] = sent.Note
	}
	return out, err
}

// coolDownGauges show the account-wide throttle on /metrics.
func coolDownGauges(c *smarthome.Client, clock engine.Clock) func() []engine.Gauge {
	return func() []engine.Gauge {
		left := 0.0
		if until, ok := c.CoolingDown(); ok {
			left = max(0, until.Sub(clock.Now()).Seconds())
		}
		return []engine.Gauge{{Name: "alexarules_smarthome_cooldown_seconds", Type: "gauge", Value: left,
			Help: "Seconds left of the account-wide pause of every smart-home call after Amazon throttled one (0: none)."}}
	}
}
