package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/engine/schedule"
)

// fileConfig is the configuration file (JSON). Every field is optional;
// command-line flags override it. docs/CONFIG.md documents it.
type fileConfig struct {
	Rules    string `json:"rules"`
	Data     string `json:"data"`
	Admin    string `json:"admin"`
	Timezone string `json:"timezone"`
	// Latitude and Longitude place sunrise and sunset schedules.
	Latitude     *float64        `json:"latitude"`
	Longitude    *float64        `json:"longitude"`
	Cloud        string          `json:"cloud"`
	Push         string          `json:"push"`
	PollInterval string          `json:"poll_interval"`
	LogLevel     string          `json:"log_level"`
	DryRun       bool            `json:"dry_run"`
	Alexa        alexaFileConfig `json:"alexa"`
	Poll         pollConfig      `json:"poll"`
}

type alexaFileConfig struct {
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

// loadConfig reads the file at path ("" means none); unknown fields are
// errors that name the file.
func loadConfig(path string) (fileConfig, error) {
	var c fileConfig
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	// A second value after the object (two objects pasted together) would
	// otherwise be ignored without a word.
	if _, err := dec.Token(); err != io.EOF {
		return c, fmt.Errorf("config %s: offset %d: unexpected data after the configuration object", path, dec.InputOffset())
	}
	if _, err := optionalDuration(c.PollInterval); err != nil {
		return c, fmt.Errorf("config %s: poll_interval: %w", path, err)
	}
	return c, nil
}

// alexaConfig is the alexa package's view: file, then environment, then
// the --cloud flag.
func (c fileConfig) alexaConfig(getenv func(string) string) alexa.Config {
	base := alexa.Config{ClientID: c.Alexa.ClientID, ClientSecret: c.Alexa.ClientSecret,
		RefreshToken: c.Alexa.RefreshToken, Region: c.Alexa.Region, Scale: c.Alexa.Scale, Cloud: c.Cloud}
	return alexa.ConfigFromEnv(getenv, base)
}

// place is where sunrise and sunset are computed (nil when not set).
func (c fileConfig) place() (*schedule.Place, error) {
	if c.Latitude == nil && c.Longitude == nil {
		return nil, nil
	}
	if c.Latitude == nil || c.Longitude == nil {
		return nil, fmt.Errorf("config: set both \"latitude\" and \"longitude\" (for sunrise and sunset)")
	}
	p := &schedule.Place{Latitude: *c.Latitude, Longitude: *c.Longitude}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return p, nil
}

// location is the configured zone of schedules and time.*.
func (c fileConfig) location() (*time.Location, error) {
	if c.Timezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("config: timezone %q: %w", c.Timezone, err)
	}
	return loc, nil
}
