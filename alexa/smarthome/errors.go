package smarthome

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// ErrThrottled is wrapped by every *ThrottleError: Amazon throttled the
// account, or it is still cooling down from that.
var ErrThrottled = errors.New("throttled by Amazon")

// ErrUnsupported is wrapped by the error of an operation or attribute the
// device (or this API) does not have, e.g. setVolume on a plug.
var ErrUnsupported = errors.New("not supported")

// ErrBadResponse is wrapped by the error of a 2xx answer the client
// cannot use.
var ErrBadResponse = errors.New("bad response")

// ThrottleError is a call refused because of throttling: either the
// throttle answer itself (Err) or a call made during the cool-down that
// followed one (Err nil: no request was sent). The poller reads
// Retryable and RetryAfterDuration.
type ThrottleError struct {
	Until time.Time     // end of the account's cool-down
	Wait  time.Duration // Until minus the time of the error
	Err   error         // the throttle answer; nil for a call refused during the cool-down
}

func (e *ThrottleError) Error() string {
	s := fmt.Sprintf("alexa smarthome: %v: paused until %s", ErrThrottled, e.Until.UTC().Format(time.RFC3339))
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	} else {
		s += " (not sent)"
	}
	return s
}

// Unwrap gives ErrThrottled and the throttle answer.
func (e *ThrottleError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrThrottled}
	}
	return []error{ErrThrottled, e.Err}
}

// Retryable is true: the call may be made again once Until has passed.
func (e *ThrottleError) Retryable() bool { return true }

// RetryAfterDuration is Wait, for callers that schedule their own retries.
func (e *ThrottleError) RetryAfterDuration() time.Duration { return e.Wait }

// Throttled is true.
func (e *ThrottleError) Throttled() bool { return true }

// EntityError is a per-device failure in a 200 answer: an errors[] entry
// of a state or control answer, a controlResponses[] code other than
// SUCCESS, or a device the account does not have (Code NOT_FOUND).
type EntityError struct {
	ID      string // the device id the caller named
	Code    string // e.g. ENDPOINT_UNREACHABLE, TargetApplianceNotFoundException
	Message string
}

func (e *EntityError) Error() string {
	s := fmt.Sprintf("alexa smarthome: device %s: %s", e.ID, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unreachable reports a device (or its hub) that does not answer.
func (e *EntityError) Unreachable() bool {
	return e.Code == "ENDPOINT_UNREACHABLE" || e.Code == "BRIDGE_UNREACHABLE"
}

// NotFound reports a device Amazon (or the client's device list) does not
// know.
func (e *EntityError) NotFound() bool {
	return e.Code == codeNotFound || e.Code == "TargetApplianceNotFoundException" || e.Code == "NO_SUCH_ENDPOINT"
}

// codeNotFound is the code of a device id missing from the device list.
const codeNotFound = "NOT_FOUND"

// throttleMarkers are the texts of Amazon's throttle answers (research §7).
var throttleMarkers = []string{"Too many requests", "Rate exceeded", "ThrottlingException",
	"UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS"}

func hasMarker(s string) bool {
	for _, m := range throttleMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// parseError reads an error answer as every family does and also calls
// any body with a throttle marker throttling, whatever its status: the
// phoenix "Too many requests" body comes with 400 or 429.
func parseError(e *request.Error, h http.Header, body []byte) {
	request.ParseBody(e, h, body)
	e.Throttled = e.Throttled || hasMarker(string(body))
}

// gqlError is one entry of a GraphQL errors array.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		ErrorCode string `json:"errorCode"`
	} `json:"extensions"`
}

// throttleAnswer returns the message of a 2xx answer that is a throttle
// answer: phoenix's {"message":"Too many requests..."} or a GraphQL
// errors entry with UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS or a throttle
// message. Only those fields count, so a device named "Too many requests"
// does not throttle anyone.
func throttleAnswer(body []byte) (string, bool) {
	var answers []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		_ = json.Unmarshal(trimmed, &answers)
	} else {
		answers = []json.RawMessage{trimmed}
	}
	for _, a := range answers {
		var v struct {
			Message string     `json:"message"`
			Errors  []gqlError `json:"errors"`
		}
		if json.Unmarshal(a, &v) != nil {
			continue
		}
		if hasMarker(v.Message) {
			return v.Message, true
		}
		for _, e := range v.Errors {
			if hasMarker(e.Extensions.ErrorCode) || hasMarker(e.Message) {
				return strings.TrimSpace(e.Extensions.ErrorCode + " " + e.Message), true
			}
		}
	}
	return "", false
}

// CoolingDown reports whether the account is in a cool-down after a
// throttle answer, and until when.
func (c *Client) CoolingDown() (until time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clock.Now().Before(c.until) {
		return c.until, true
	}
	return time.Time{}, false
}

// paused is the error of a call refused during the cool-down, or nil.
func (c *Client) paused() *ThrottleError {
	until, ok := c.CoolingDown()
	if !ok {
		return nil
	}
	return &ThrottleError{Until: until, Wait: until.Sub(c.clock.Now())}
}

// waitPaused waits out the account's cool-down on the client's clock
// when it ends before ctx's deadline, so that a rule's call made during
// a short throttle burst is sent once it clears; a cool-down that lasts
// past the deadline, or a ctx without one, fails the call at once with
// the *ThrottleError (the caller did not say it may wait that long).
func (c *Client) waitPaused(ctx context.Context, id string) error {
	for {
		te := c.paused()
		if te == nil {
			return nil
		}
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) <= te.Wait {
			return te
		}
		c.logger.Info("alexa smarthome: waiting for the end of the throttle's cool-down", "device", id, "until", te.Until)
		if err := retry.ClockSleep(c.clock)(ctx, te.Wait); err != nil {
			return fmt.Errorf("alexa smarthome: waiting for the cool-down until %s: %w",
				te.Until.UTC().Format(time.RFC3339), err)
		}
	}
}

// throttleEpoch is the number of throttle answers so far; call takes it
// before its request so that answers to requests sent together count as
// one throttle (see throttled).
func (c *Client) throttleEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// pause is the cool-down after the strikes-th consecutive throttle
// answer without Retry-After: FirstCooldown, doubled for each further
// one, at most the client's Cooldown.
func (c *Client) pause(strikes int) time.Duration {
	d := min(FirstCooldown, c.cooldown)
	for i := 1; i < strikes && d < c.cooldown; i++ {
		d *= 2
	}
	return min(d, c.cooldown)
}

// throttled starts (or extends) the account's cool-down after the
// throttle answer cause to a request sent at epoch: exactly retryAfter
// when Amazon named one, else pause(strikes). An answer to a request
// sent before another throttle answer came back is not a further strike:
// only requests sent after a pause escalate it.
func (c *Client) throttled(epoch uint64, cause error, retryAfter time.Duration) error {
	now := c.clock.Now()
	c.mu.Lock()
	if epoch == c.epoch {
		c.epoch++
		c.strikes++
	}
	d := retryAfter
	if d <= 0 {
		d = c.pause(c.strikes)
	}
	if until := now.Add(d); until.After(c.until) {
		c.until = until
	}
	until, strikes := c.until, c.strikes
	c.mu.Unlock()
	c.logger.Warn("alexa smarthome: throttled by Amazon; pausing every smart-home call", "until", until,
		"throttles_in_a_row", strikes, "err", cause)
	return &ThrottleError{Until: until, Wait: until.Sub(now), Err: cause}
}

// succeeded ends the escalation after a call sent at epoch was answered
// without throttling: the next throttle answer pauses FirstCooldown
// again.
func (c *Client) succeeded(epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch == c.epoch && c.strikes > 0 {
		c.strikes = 0
		c.logger.Info("alexa smarthome: Amazon answers again after throttling")
	}
}

// describe gives an error the form rules see (RULES.md §4): a
// *alexa.CallError with the API's type, status and message.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*alexa.CallError](err); ok {
		return ce
	}
	ce := alexa.NewCallError(err)
	if te, ok := errors.AsType[*ThrottleError](err); ok {
		ce.Type = "THROTTLED"
		ce.Message = "Amazon throttles this account's smart-home calls: every call is paused until " +
			te.Until.UTC().Format("15:04:05 UTC")
		if re, ok := errors.AsType[*request.Error](te.Err); ok {
			ce.Status = re.Status
		}
		return ce
	}
	if ee, ok := errors.AsType[*EntityError](err); ok {
		ce.Type, ce.Message = ee.Code, ee.Message
		if ce.Message == "" {
			ce.Message = ee.Error()
		}
		return ce
	}
	if re, ok := errors.AsType[*request.Error](err); ok {
		ce.Type, ce.Status, ce.Message = re.Failure()
		return ce
	}
	if ae, ok := errors.AsType[*auth.AuthError](err); ok {
		ce.Type, ce.Status = "LOGIN_FAILED", ae.Status
		return ce
	}
	if ce.Type != "NETWORK_ERROR" { // the context ended
		return ce
	}
	switch _, invalid := errors.AsType[*features.ValidationError](err); {
	case errors.Is(err, ErrUnsupported):
		ce.Type = "UNSUPPORTED"
	case invalid:
		ce.Type = "INVALID_VALUE"
	case errors.Is(err, ErrBadResponse):
		ce.Type = "INVALID_RESPONSE"
	}
	return ce
}
