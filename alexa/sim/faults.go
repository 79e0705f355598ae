package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Error types in the Error objects the simulator answers with. The
// reference names only ENDPOINT_UNREACHABLE; the others follow the Alexa
// vocabulary and are listed in docs/SIMULATOR.md.
const (
	errInvalidRequest    = "INVALID_REQUEST"
	errValueOutOfRange   = "VALUE_OUT_OF_RANGE"
	errInvalidOperation  = "INVALID_OPERATION"
	errNotFound          = "NOT_FOUND"
	errNoSuchEndpoint    = "NO_SUCH_ENDPOINT"
	errFeatureNotFound   = "FEATURE_NOT_SUPPORTED"
	errUnreachable       = "ENDPOINT_UNREACHABLE"
	errInvalidCredential = "INVALID_AUTHORIZATION_CREDENTIAL"
	errExpiredCredential = "EXPIRED_AUTHORIZATION_CREDENTIAL"
	errForbidden         = "FORBIDDEN"
	errRateLimited       = "RATE_LIMIT_EXCEEDED"
	errInternal          = "INTERNAL_ERROR"
	errUnavailable       = "SERVICE_UNAVAILABLE"
)

// apiError is the reference's Error object together with its HTTP status.
type apiError struct {
	status int
	// challenge, when set, is sent as WWW-Authenticate.
	challenge string
	Type      string `json:"type"`
	Message   string `json:"message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	writeJSON(w, e.status, e)
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Type: errInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// errorTypeFor is the Error type a fault with this status answers with
// unless the fault names one.
func errorTypeFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return errInvalidCredential
	case status == http.StatusForbidden:
		return errForbidden
	case status == http.StatusNotFound:
		return errNotFound
	case status == http.StatusTooManyRequests:
		return errRateLimited
	case status == http.StatusServiceUnavailable:
		return errUnavailable
	case status >= 500:
		return errInternal
	default:
		return errInvalidRequest
	}
}

// oauthErrorFor is the RFC 6749 error code a fault on an LWA route answers
// with.
func oauthErrorFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}

// Fault makes the simulator answer matching API requests with an error
// instead of serving them.
type Fault struct {
	// PathPrefix selects the requests by path ("/" when empty).
	PathPrefix string `json:"path_prefix"`
	// Method, when set, selects only requests with this method.
	Method string `json:"method,omitempty"`
	// Status is the HTTP status answered (400..599; 200..599 with Body).
	Status int `json:"status"`
	// Times is how many matching requests the fault answers before normal
	// service resumes; zero means until the faults are cleared.
	Times int `json:"times,omitempty"`
	// RetryAfter, in seconds, is sent as a Retry-After header when set.
	RetryAfter int `json:"retry_after,omitempty"`
	// Type overrides the Error type of the answer.
	Type string `json:"type,omitempty"`
	// Message overrides the Error message of the answer.
	Message string `json:"message,omitempty"`
	// Body, when set, is answered verbatim (any JSON) instead of an Error
	// object: the smart-home API's throttle answers, for example phoenix
	// {"message":"Too many requests. Try again in some time."} with 429 or
	// GraphQL's UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS error with 200.
	Body json.RawMessage `json:"body,omitempty"`
}

func (f Fault) validate() error {
	var errs []error
	if !strings.HasPrefix(f.PathPrefix, "/") {
		errs = append(errs, fmt.Errorf("path_prefix %q must start with /", f.PathPrefix))
	}
	switch {
	case len(f.Body) > 0 && (f.Status < 200 || f.Status > 599):
		errs = append(errs, fmt.Errorf("status %d is not a status a body goes with (200..599)", f.Status))
	case len(f.Body) == 0 && (f.Status < 400 || f.Status > 599):
		errs = append(errs, fmt.Errorf("status %d is not an error status (400..599)", f.Status))
	}
	if len(f.Body) > 0 && (f.Type != "" || f.Message != "") {
		errs = append(errs, errors.New("body is the whole answer: it excludes type and message"))
	}
	if f.Times < 0 {
		errs = append(errs, fmt.Errorf("times %d is negative", f.Times))
	}
	if f.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry_after %d is negative", f.RetryAfter))
	}
	return errors.Join(errs...)
}

// pushFaults are the accepted values of {"push": ...}: "drop" closes every
// push connection and refuses new ones (503) until DELETE /_sim/faults.
var pushFaults = []string{"drop"}

// faultSettings is the object form of POST /_sim/faults: one fault, the
// latency, or the push fault.
type faultSettings struct {
	Fault
	LatencyMS *int    `json:"latency_ms"`
	Push      *string `json:"push"`
}

// takeFault finds the first fault matching r and uses up one of its times.
func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) || (f.Method != "" && !strings.EqualFold(f.Method, r.Method)) {
			continue
		}
		if f.Times > 0 {
			s.faults[i].Times--
			if s.faults[i].Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f, true
	}
	return Fault{}, false
}

func writeFault(w http.ResponseWriter, r *http.Request, f Fault) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if len(f.Body) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		w.Write(f.Body)
		return
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("injected fault: %d %s", f.Status, http.StatusText(f.Status))
	}
	// LWA speaks RFC 6749 errors, the Alexa APIs Error objects.
	if strings.HasPrefix(r.URL.Path, "/auth/") {
		code := f.Type
		if code == "" {
			code = oauthErrorFor(f.Status)
		}
		writeJSON(w, f.Status, oauthError{Error: code, Description: msg})
		return
	}
	typ := f.Type
	if typ == "" {
		typ = errorTypeFor(f.Status)
	}
	writeError(w, &apiError{status: f.Status, Type: typ, Message: msg})
}

// faultState is the answer of GET /_sim/faults.
type faultState struct {
	Faults    []Fault `json:"faults"`
	LatencyMS int     `json:"latency_ms"`
	Push      string  `json:"push,omitempty"`
}

func (s *Server) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := faultState{
		Faults:    append([]Fault{}, s.faults...),
		LatencyMS: int(s.latency / time.Millisecond),
		Push:      s.push,
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

// handlePostFaults adds faults: a JSON array of faults, or one object
// holding a fault, latency_ms or push.
func (s *Server) handlePostFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return
	}
	var faults []Fault
	var latency *time.Duration
	var push *string
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		if err := decodeStrict(bytes.NewReader(body), &faults); err != nil {
			writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode faults: %w", err))
			return
		}
	} else {
		var fs faultSettings
		if err := decodeStrict(bytes.NewReader(body), &fs); err != nil {
			writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode faults: %w", err))
			return
		}
		if !reflect.ValueOf(fs.Fault).IsZero() {
			faults = append(faults, fs.Fault)
		}
		if fs.LatencyMS != nil {
			if *fs.LatencyMS < 0 {
				writeControlError(w, http.StatusBadRequest, fmt.Errorf("latency_ms %d is negative", *fs.LatencyMS))
				return
			}
			d := time.Duration(*fs.LatencyMS) * time.Millisecond
			latency = &d
		}
		if fs.Push != nil {
			if !slices.Contains(pushFaults, *fs.Push) {
				writeControlError(w, http.StatusBadRequest, fmt.Errorf("push %q is not one of %v", *fs.Push, pushFaults))
				return
			}
			push = fs.Push
		}
		if len(faults) == 0 && latency == nil && push == nil {
			writeControlError(w, http.StatusBadRequest, errors.New("no fault, latency_ms or push given"))
			return
		}
	}
	var errs []error
	for i := range faults {
		if faults[i].PathPrefix == "" {
			faults[i].PathPrefix = "/"
		}
		if err := faults[i].validate(); err != nil {
			errs = append(errs, fmt.Errorf("fault %d: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	s.mu.Lock()
	s.faults = append(s.faults, faults...)
	if latency != nil {
		s.latency = *latency
	}
	if push != nil {
		s.push = *push
	}
	s.mu.Unlock()
	if push != nil && *push == "drop" {
		// New push connections are refused while the fault is set.
		s.hub.dropAll()
	}
	s.handleGetFaults(w, r)
}

func (s *Server) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.faults = nil
	s.latency = 0
	s.push = ""
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
