package web

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/alexarules/alexarules/alexa/internal/request"
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

// Error is an error answer of the web API: the request path's error,
// with Throttled set for 429 or a ThrottlingException (Amazon answers
// 400), and ErrAuth unwrapped from a refused session (401).
type Error = request.Error

// parseError reads Amazon's error answers as every family does, and also
// calls a body throttling that names ThrottlingException anywhere (the
// web API's 400 bodies do not always put it in a type field).
func parseError(e *Error, h http.Header, body []byte) {
	request.ParseBody(e, h, body)
	e.Throttled = e.Throttled || bytes.Contains(body, []byte("ThrottlingException"))
}
