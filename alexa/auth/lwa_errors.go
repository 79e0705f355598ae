package auth

import (
	"errors"
	"net/http"
	"strconv"
)

// ErrLoginRequired is wrapped by an AuthError when Login with Amazon
// rejects the refresh token (invalid_grant): only a new login helps.
var ErrLoginRequired = errors.New("run `alexarules login` again")

// AuthError is an error answer of the Login with Amazon token endpoint
// (RFC 6749 §5.2). It never carries the token or the raw response body.
type AuthError struct {
	Status      int
	Code        string // e.g. invalid_grant, invalid_client
	Description string
}

func (e *AuthError) Error() string {
	s := "alexa: login with amazon"
	if e.Status != 0 {
		s += ": " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	}
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	switch e.Code {
	case "invalid_grant":
		s += ": the refresh token was rejected: " + ErrLoginRequired.Error()
	case "invalid_client", "unauthorized_client":
		s += ": check the client id and client secret"
	}
	return s
}

// Unwrap gives ErrLoginRequired for invalid_grant.
func (e *AuthError) Unwrap() error {
	if e.Code == "invalid_grant" {
		return ErrLoginRequired
	}
	return nil
}

// Retryable is true for server errors of the token endpoint.
func (e *AuthError) Retryable() bool { return e.Status >= 500 }
