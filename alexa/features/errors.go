package features

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/alexarules/alexarules/alexa/internal/request"
)

// APIError is an error answer of the Endpoint Features or Endpoints API,
// with the fields of the reference's Error object. It is the request
// path's error: errors.As with *APIError finds it, and Retryable,
// Unreachable, NotFound and RetryAfterDuration serve the poller.
type APIError = request.Error

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests ||
		status == http.StatusInternalServerError ||
		status == http.StatusServiceUnavailable
}

// ValidationError is an argument the reference does not allow. It is
// returned before any request is made.
type ValidationError struct {
	Operation string  // e.g. "setBrightness"
	Field     string  // e.g. "brightness"; "endpointId" or "operation" for those
	Value     any     // the rejected value
	Min, Max  float64 // the allowed range, when Reason is about a range
	Reason    string  // e.g. "want 0..100"
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("alexa: %s: %s %v: %s", e.Operation, e.Field, e.Value, e.Reason)
}

// ErrNoProperties is wrapped by a DecodeError when a feature answer has an
// empty properties list, which the reference says means the caller may not
// view the data.
var ErrNoProperties = errors.New("empty properties list (no permission to view the data?)")

// DecodeError is a successful HTTP answer whose body lacks what the caller
// needs or is not valid JSON.
type DecodeError struct {
	Method string
	Path   string
	Reason string
	Err    error // the JSON error, ErrNoProperties, or nil
}

func (e *DecodeError) Error() string {
	s := fmt.Sprintf("alexa: %s %s: bad response: %s", e.Method, e.Path, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DecodeError) Unwrap() error { return e.Err }

// PropertyError is a property the API returned without a value: type ERROR
// (retryable, says the reference) or NOT_RETRIEVABLE.
type PropertyError struct {
	Endpoint  string
	Property  string // e.g. "brightness", "powerState"
	Type      string // the property's type: ERROR or NOT_RETRIEVABLE
	ErrorType string // the property's Error object type, e.g. ENDPOINT_UNREACHABLE
	Message   string // the property's Error object message
}

func (e *PropertyError) Error() string {
	name := e.Property
	if name == "" {
		name = "(unnamed)"
	}
	s := fmt.Sprintf("alexa: endpoint %s: property %s is %s", e.Endpoint, name, e.Type)
	if e.ErrorType != "" {
		s += ": " + e.ErrorType
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Retryable is true for type ERROR, which the reference says may be retried.
func (e *PropertyError) Retryable() bool { return e.Type == "ERROR" }

// Unreachable reports a property that failed because its endpoint does not
// answer.
func (e *PropertyError) Unreachable() bool { return e.ErrorType == "ENDPOINT_UNREACHABLE" }
