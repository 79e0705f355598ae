package request

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// Error is an error answer of any Amazon API family.
type Error struct {
	Prefix     string // the family's message prefix, e.g. "alexa web"
	Method     string
	Path       string // request path, without the query
	Status     int
	Type       string        // the error's type or code, e.g. ENDPOINT_UNREACHABLE, ThrottlingException, invalid_grant
	Message    string        // its message, or the start of a body that was not JSON
	Throttled  bool          // 429, or a ThrottlingException (Amazon answers some with 400)
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
	Attempts   int           // requests made before giving up

	retryable bool
	sentinel  error // unwrapped for a refused-credentials status
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: %d %s", e.Prefix, e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Type != "" {
		b.WriteString(": " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.sentinel != nil {
		b.WriteString(": " + e.sentinel.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap gives the family's Sentinel for a refused-credentials answer.
func (e *Error) Unwrap() error { return e.sentinel }

// Failure is the error as a rule sees it (scripting.DeviceFailure): its
// type is THROTTLED for a throttle (429, or a ThrottlingException), else
// the answer's own type, else HTTP_<status>; its message the answer's,
// else the status text. Every family's error answers map through it.
func (e *Error) Failure() (typ string, status int, message string) {
	typ, message = e.Type, e.Message
	switch {
	case e.Throttled:
		typ = "THROTTLED"
	case typ == "":
		typ = "HTTP_" + strconv.Itoa(e.Status)
	}
	if message == "" {
		message = http.StatusText(e.Status)
	}
	return typ, e.Status, message
}

// Retryable reports whether the family says to retry with back-off.
func (e *Error) Retryable() bool { return e.retryable }

// Unreachable reports an endpoint that does not answer.
func (e *Error) Unreachable() bool { return e.Type == "ENDPOINT_UNREACHABLE" }

// NotFound reports a resource the API does not know.
func (e *Error) NotFound() bool { return e.Status == http.StatusNotFound }

// RetryAfterDuration is the server's Retry-After (0 when absent), for
// callers that schedule their own retries (the poller).
func (e *Error) RetryAfterDuration() time.Duration { return e.RetryAfter }

func (c *Client) newError(method, path string, resp *Response) *Error {
	e := &Error{Prefix: c.family.Prefix, Method: method, Path: path, Status: resp.Status,
		RetryAfter: retry.RetryAfter(resp.Header.Get("Retry-After"), c.Now())}
	c.family.Parse(e, resp.Header, resp.Body)
	e.retryable = c.family.Retryable(e)
	if c.family.Sentinel != nil && c.refused(resp.Status) {
		e.sentinel = c.family.Sentinel
	}
	return e
}

// RetryableStatus is the default Family.Retryable: 429, 500, 502, 503
// and 504.
func RetryableStatus(e *Error) bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ParseBody is the default Family.Parse. It reads the error shapes Amazon
// answers with: the REST Error object ({"type"|"code"|"__type",
// "message"}), the identity service's {"response":{"error":{"code",
// "message"}}}, OAuth's {"error","error_description"}, and the
// x-amzn-ErrorType header when the body names nothing; a body that is not
// JSON becomes the message, shortened.
func ParseBody(e *Error, h http.Header, body []byte) {
	var obj struct {
		AWSType  string          `json:"__type"`
		Type     string          `json:"type"`
		Code     string          `json:"code"`
		Message  string          `json:"message"`
		OAuth    json.RawMessage `json:"error"`
		OAuthMsg string          `json:"error_description"`
		Response struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"response"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &obj) == nil {
		var oauth string
		_ = json.Unmarshal(obj.OAuth, &oauth) // "error" may also be an object
		e.Type = firstNonEmpty(obj.AWSType, obj.Type, obj.Code, obj.Response.Error.Code, oauth)
		e.Message = firstNonEmpty(obj.Message, obj.Response.Error.Message, obj.OAuthMsg)
	} else if text := strings.TrimSpace(string(body)); text != "" {
		e.Message = retry.Truncate(text, 200)
	}
	header := h.Get("X-Amzn-ErrorType")
	if e.Type == "" {
		e.Type, _, _ = strings.Cut(header, ":")
	}
	// AWS-style types may be qualified ("com.amazon...#ThrottlingException").
	e.Throttled = e.Status == http.StatusTooManyRequests ||
		strings.Contains(e.Type, "ThrottlingException") ||
		strings.Contains(header, "ThrottlingException")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
