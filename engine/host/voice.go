package host

import (
	"errors"
	"fmt"

	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/alexa/web"
)

// VoiceConfig is the "voice" block: how the voice history is watched for
// alexa.voice triggers and alexa.last_called() (docs/CONFIG.md). Empty
// fields keep the defaults.
type VoiceConfig struct {
	// History is "rvh" (default), "rah" or "off".
	History string `json:"history"`
	// Poll is the slow timer between pushes (default 2m).
	Poll string `json:"poll"`
	// RequestsPerMinute is the history call budget (default 6).
	RequestsPerMinute float64 `json:"requests_per_minute"`
	// Lookback is how old an utterance may be and still fire (default 10m).
	Lookback string `json:"lookback"`
}

// Options is the bridge's view of the block.
func (c VoiceConfig) Options() (bridge.VoiceOptions, error) {
	o := bridge.VoiceOptions{History: c.History, RequestsPerMinute: c.RequestsPerMinute}
	var errs []error
	switch c.History {
	case "", web.HistoryRVH, web.HistoryRAH, bridge.VoiceOff:
	default:
		errs = append(errs, fmt.Errorf("voice.history %q: rvh, rah or off", c.History))
	}
	var err error
	if o.Poll, err = optionalDuration(c.Poll); err != nil {
		errs = append(errs, fmt.Errorf("voice.poll %q: a positive duration such as 2m: %w", c.Poll, err))
	}
	if o.Lookback, err = optionalDuration(c.Lookback); err != nil {
		errs = append(errs, fmt.Errorf("voice.lookback %q: a positive duration such as 10m: %w", c.Lookback, err))
	}
	if c.RequestsPerMinute < 0 {
		errs = append(errs, fmt.Errorf("voice.requests_per_minute %v: a positive number, or 0 for the default", c.RequestsPerMinute))
	}
	return o, errors.Join(errs...)
}
