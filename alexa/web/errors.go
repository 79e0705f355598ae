package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// ErrAuth is wrapped by the *Error of a 401 answer: the session cookie is
// no longer accepted and only a new one helps.
var ErrAuth = errors.New("the Alexa web session expired: update the cookie")

// ErrBadResponse is wrapped by errors for 2xx answers that are not JSON
// or lack what the caller needs.
var ErrBadResponse = errors.New("bad response")

// ErrInvalid is wrapped by errors for arguments rejected before any
// request is made.
var ErrInvalid = errors.New("invalid argument")

// ErrNotFound is wrapped when a list or item asked for is not there.
var ErrNotFound = errors.New("not found")

// Error is an error answer of the web API.
type Error struct {
	Method     string
	Path       string // request path, without the query
	Status     int
	Type       string // e.g. ThrottlingException, from the body or x-amzn-ErrorType
	Message    string // the body's message, or the start of a body that was not JSON
	Throttled  bool   // 429, or a ThrottlingException (Amazon answers 400)
	RetryAfter time.Duration
	Attempts   int // requests made before giving up
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "alexa web: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Type != "" {
		b.WriteString(": " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Status == http.StatusUnauthorized {
		b.WriteString(": " + ErrAuth.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap gives ErrAuth for a 401.
func (e *Error) Unwrap() error {
	if e.Status == http.StatusUnauthorized {
		return ErrAuth
	}
	return nil
}

func (e *Error) retryable() bool {
	return e.Throttled || e.Status == http.StatusServiceUnavailable
}

// parseError reads what Amazon's error answers carry, tolerating bodies
// that are not JSON or lack fields.
func parseError(method, path string, status int, h http.Header, body []byte, now time.Time) *Error {
	e := &Error{Method: method, Path: path, Status: status, RetryAfter: retry.RetryAfter(h.Get("Retry-After"), now)}
	var obj struct {
		Type1   string `json:"__type"`
		Type2   string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &obj); err == nil {
		e.Message = obj.Message
		e.Type = firstNonEmpty(obj.Type1, obj.Type2, obj.Code)
	} else if text := strings.TrimSpace(string(body)); text != "" {
		e.Message = retry.Truncate(text, 200)
	}
	if e.Type == "" {
		e.Type, _, _ = strings.Cut(h.Get("X-Amzn-ErrorType"), ":")
	}
	// AWS-style types may be qualified ("com.amazon...#ThrottlingException").
	e.Throttled = status == http.StatusTooManyRequests ||
		strings.Contains(e.Type, "ThrottlingException") ||
		strings.Contains(h.Get("X-Amzn-ErrorType"), "ThrottlingException") ||
		bytes.Contains(body, []byte("ThrottlingException"))
	return e
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
