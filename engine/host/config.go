package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/engine/store"
)

// Config is the configuration file (JSON). Every field is optional;
// command-line flags override it. docs/CONFIG.md documents every key.
type Config struct {
	Rules    string `json:"rules"`
	Data     string `json:"data"`
	Admin    string `json:"admin"`
	Timezone string `json:"timezone"`
	// Latitude and Longitude place sunrise and sunset schedules.
	Latitude     *float64 `json:"latitude"`
	Longitude    *float64 `json:"longitude"`
	Cloud        string   `json:"cloud"`
	Push         string   `json:"push"`
	PollInterval string   `json:"poll_interval"`
	// Devices picks the device() backend: DevicesSmartHome or
	// DevicesFeatures; "" picks by the account (docs/CONFIG.md).
	Devices   string          `json:"devices"`
	SmartHome SmartHomeConfig `json:"smarthome"`
	LogLevel  string          `json:"log_level"`
	DryRun    bool            `json:"dry_run"`
	Alexa     AlexaConfig     `json:"alexa"`
	Poll      PollConfig      `json:"poll"`
	Breaker   BreakerConfig   `json:"breaker"`
	Voice     VoiceConfig     `json:"voice"`
	// MaxBacklog bounds the accepted events whose runs have not all
	// finished; past it POST /api/events answers 429 (0: the engine's
	// default).
	MaxBacklog int `json:"max_backlog"`
	// AcceptWait is how long POST /api/events holds an event while the
	// backlog is full, waiting for room, before it answers 429 (a Go
	// duration; default DefaultAcceptWait; "0s" answers at once).
	AcceptWait string `json:"accept_wait"`
	// Cluster is the NATS servers of a cluster (`run --cluster`,
	// nats://HOST:PORT[,...]); empty runs one engine on the bbolt file.
	Cluster string `json:"cluster"`
	// Node names this engine in the cluster (`--node`; default
	// hostname-pid, set by the command).
	Node string `json:"node"`
	// Properties partition the rules and devices (docs/CONFIG.md); rules
	// and devices in none belong to the partition "default".
	Properties []PropertyConfig `json:"properties"`
	// States bounds the rules' Lua states kept between runs.
	States StatesConfig `json:"states"`
	// GC tunes the Go collector (gc.go).
	GC GCConfig `json:"gc"`
	// Procs tunes GOMAXPROCS to the load (procs.go).
	Procs ProcsConfig `json:"procs"`
	// Store is how the data file makes writes durable.
	Store StoreConfig `json:"store"`
}

// StoreConfig is the "store" block (docs/CONFIG.md, docs/RELIABILITY.md).
type StoreConfig struct {
	// Sync is store.SyncInterval ("interval", the default) or
	// store.SyncAlways ("always").
	Sync string `json:"sync"`
	// SyncInterval is how often the interval mode fsyncs its log, a Go
	// duration ("100ms" by default).
	SyncInterval string `json:"sync_interval"`
}

// Options are the store options of the block, and an error naming the
// key that is wrong.
func (c StoreConfig) Options() (store.Options, error) {
	o := store.Options{Sync: c.Sync}
	if !store.ValidSync(c.Sync) {
		return o, fmt.Errorf("store.sync %q: interval or always", c.Sync)
	}
	if c.SyncInterval != "" {
		d, err := time.ParseDuration(c.SyncInterval)
		if err != nil || d < time.Millisecond || d > time.Minute {
			return o, fmt.Errorf("store.sync_interval %q: a duration from 1ms to 1m, like \"100ms\"", c.SyncInterval)
		}
		o.SyncInterval = d
	}
	return o, nil
}

// PropertyConfig is one property: a partition of a cluster.
type PropertyConfig struct {
	Name string `json:"name"`
	// Rules are globs of rule files relative to the rules directory.
	Rules []string `json:"rules"`
	// Devices are endpoint or Echo names or ids.
	Devices []string `json:"devices"`
}

// StatesConfig is the "states" block (docs/CONFIG.md).
type StatesConfig struct {
	// Max is how many rule instances (Lua states) are kept between runs,
	// all rules together; 0: engine.DefaultMaxStates.
	Max int `json:"max"`
	// Spare is how many blank sandboxed states are kept built ahead of
	// need for rebuilds; 0: rules.DefaultSpareStates, -1: none.
	Spare int `json:"spare"`
}

// BreakerConfig is the "breaker" block: the runaway breaker trips a rule
// triggered Runs times within Window by changes to what rules had just
// acted on, for Cooldown (docs/RULES.md); Runs < 0 turns it off. Empty
// fields keep the engine's defaults.
type BreakerConfig struct {
	Runs     int    `json:"runs"`
	Window   string `json:"window"`
	Cooldown string `json:"cooldown"`
}

// Engine is the engine's view of the block.
func (c BreakerConfig) Engine() (engine.BreakerConfig, error) {
	out := engine.BreakerConfig{Runs: c.Runs}
	var err error
	if out.Window, err = optionalDuration(c.Window); err != nil {
		return out, fmt.Errorf("breaker.window %q: a positive duration such as 60s: %w", c.Window, err)
	}
	if out.Cooldown, err = optionalDuration(c.Cooldown); err != nil {
		return out, fmt.Errorf("breaker.cooldown %q: a positive duration such as 10m: %w", c.Cooldown, err)
	}
	return out, nil
}

// AlexaConfig is the "alexa" block: the account's credentials and region.
type AlexaConfig struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
	Region       string `json:"region"`
	Scale        string `json:"scale"`
	// Cookie is the Alexa web session (the Cookie header of a logged-in
	// alexa.amazon.* page) for Echo devices, alarms, reminders and lists.
	Cookie string `json:"cookie"`
	// Lists chooses the list API: "v2" (default) or "legacy".
	Lists string `json:"lists"`
}

// Defaults of the configuration (docs/CONFIG.md).
const (
	DefaultData  = "alexarules.db"
	DefaultAdmin = "127.0.0.1:8080"
)

// ConfigError is a usage or configuration problem: the command line or
// the configuration file must change (the CLI exits 2). Every other error
// of this package is a runtime failure.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{fmt.Errorf(format, args...)}
}

// LoadConfig reads and checks the configuration file at path ("" means
// none: the zero Config).
func LoadConfig(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &ConfigError{fmt.Errorf("config: %w", err)}
	}
	return ParseConfig(path, b)
}

// ParseConfig decodes and checks a configuration file's contents; name
// (the file's path) prefixes every error. Unknown keys are errors.
func ParseConfig(name string, b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, configErrorf("config %s: %w", name, err)
	}
	// More reports false for a stray "}" or "]" after the object; Token
	// sees anything at all.
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, configErrorf("config %s: more than one JSON value, or data after the object", name)
	}
	if err := c.Validate(); err != nil {
		return Config{}, configErrorf("config %s: %w", name, err)
	}
	return c, nil
}

// Validate checks what can be checked without I/O; run it again after
// flags changed the configuration. Errors name the key and its flag.
func (c Config) Validate() error {
	var errs []error
	switch c.Push {
	case "", "http2", "websocket", "off":
	default:
		errs = append(errs, fmt.Errorf("push (--push) %q: http2, websocket or off", c.Push))
	}
	switch c.Devices {
	case "", DevicesSmartHome, DevicesFeatures:
	default:
		errs = append(errs, fmt.Errorf("devices (--devices) %q: %s or %s", c.Devices, DevicesSmartHome, DevicesFeatures))
	}
	errs = append(errs, c.SmartHome.validate()...)
	if _, err := optionalDuration(c.PollInterval); err != nil {
		errs = append(errs, fmt.Errorf("poll_interval (--poll-interval) %q: a positive duration such as 60s: %w", c.PollInterval, err))
	}
	if _, err := c.Level(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Location(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Place(); err != nil {
		errs = append(errs, err)
	}
	switch c.Alexa.Lists {
	case "", "v2", "legacy":
	default:
		errs = append(errs, fmt.Errorf("alexa.lists %q: v2 or legacy", c.Alexa.Lists))
	}
	if _, err := c.Breaker.Engine(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Voice.Options(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBacklog < 0 {
		errs = append(errs, fmt.Errorf("max_backlog %d: a positive number of events, or 0 for the default", c.MaxBacklog))
	}
	if _, err := c.AcceptWaitDuration(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validProperties(c.Properties)...)
	if c.Node != "" && !validName(c.Node) {
		errs = append(errs, fmt.Errorf("node (--node) %q: letters, digits, '-' and '_' only", c.Node))
	}
	if c.GC.HeapMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("gc.heap_mib %d: at most %d MiB (1 TiB), 0 for the default or -1 for GOGC's collector", c.GC.HeapMiB, 1<<20))
	}
	if c.Procs.Low < -1 || c.Procs.Low > 1024 {
		errs = append(errs, fmt.Errorf("procs.low %d: from 1 to 1024, 0 for the default (%d) or -1 to leave GOMAXPROCS alone", c.Procs.Low, DefaultProcsLow))
	}
	if p := c.Procs.ParallelPerCPU; p < -1 || p > 1024 {
		errs = append(errs, fmt.Errorf("procs.parallel_per_cpu %d: from 1 to 1024, 0 for the default (%d) or -1 for no cap", p, DefaultParallelPerCPU))
	}
	if c.GC.MaxMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("gc.max_mib %d: at most %d MiB (1 TiB), 0 for the default or -1 for no ceiling", c.GC.MaxMiB, 1<<20))
	}
	if _, err := c.Store.Options(); err != nil {
		errs = append(errs, err)
	}
	if c.States.Max < 0 {
		errs = append(errs, fmt.Errorf("states.max %d: a positive number of Lua states, or 0 for the default", c.States.Max))
	}
	if c.States.Spare < -1 {
		errs = append(errs, fmt.Errorf("states.spare %d: a positive number of Lua states, 0 for the default or -1 for none", c.States.Spare))
	}
	if _, err := pollWants(c.Poll, nil); err != nil {
		errs = append(errs, err)
	}
	for rule, iv := range c.Poll.Rules {
		if _, err := optionalDuration(iv); err != nil {
			errs = append(errs, fmt.Errorf("poll.rules %q: %w", rule, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &ConfigError{err}
	}
	return nil
}

// DefaultAcceptWait is accept_wait's default: about the time a full
// default backlog takes to drain by an eighth at the end-to-end
// benchmark's peak, and half the Retry-After a refusal names.
const DefaultAcceptWait = 500 * time.Millisecond

// AcceptWaitDuration is accept_wait, or its default when unset.
func (c Config) AcceptWaitDuration() (time.Duration, error) {
	if c.AcceptWait == "" {
		return DefaultAcceptWait, nil
	}
	d, err := time.ParseDuration(c.AcceptWait)
	if err != nil || d < 0 || d > time.Minute {
		return 0, fmt.Errorf("accept_wait %q: a duration from 0s to 1m, like \"500ms\"", c.AcceptWait)
	}
	return d, nil
}

// WithDefaults fills in the data file and the admin address.
func (c Config) WithDefaults() Config {
	if c.Data == "" {
		c.Data = DefaultData
	}
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	return c
}

// Level is the log level log_level (--log-level) names; default info.
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	if c.LogLevel == "" {
		return l, nil
	}
	if err := l.UnmarshalText([]byte(strings.ToLower(c.LogLevel))); err != nil {
		return l, fmt.Errorf("log_level (--log-level) %q: debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// AlexaConfig is the alexa package's view: file, then environment, then
// the --cloud flag.
func (c Config) AlexaConfig(getenv func(string) string) alexa.Config {
	base := alexa.Config{ClientID: c.Alexa.ClientID, ClientSecret: c.Alexa.ClientSecret,
		RefreshToken: c.Alexa.RefreshToken, Region: c.Alexa.Region, Scale: c.Alexa.Scale, Cloud: c.Cloud}
	if getenv == nil {
		return base
	}
	return alexa.ConfigFromEnv(getenv, base)
}

// Place is where sunrise and sunset are computed (nil when not set).
func (c Config) Place() (*schedule.Place, error) {
	if c.Latitude == nil && c.Longitude == nil {
		return nil, nil
	}
	if c.Latitude == nil || c.Longitude == nil {
		return nil, errors.New("set both \"latitude\" and \"longitude\" (for sunrise and sunset)")
	}
	p := &schedule.Place{Latitude: *c.Latitude, Longitude: *c.Longitude}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Location is the configured zone of schedules and time.* (the machine's
// when not set).
func (c Config) Location() (*time.Location, error) {
	if c.Timezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", c.Timezone, err)
	}
	return loc, nil
}

// validProperties checks the properties' names (they name NATS subjects)
// and globs.
func validProperties(props []PropertyConfig) []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range props {
		switch {
		case !validName(p.Name):
			errs = append(errs, fmt.Errorf("properties[%d].name %q: letters, digits, '-' and '_' only", i, p.Name))
		case seen[p.Name]:
			errs = append(errs, fmt.Errorf("properties[%d].name %q: named twice", i, p.Name))
		}
		seen[p.Name] = true
		for j, g := range p.Rules {
			if _, err := path.Match(g, ""); err != nil {
				errs = append(errs, fmt.Errorf("properties[%d].rules[%d] %q: %w", i, j, g, err))
			}
		}
	}
	return errs
}

// validName reports whether s may name a node or a partition.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
