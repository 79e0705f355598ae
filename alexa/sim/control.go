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
	"strings"
	"time"
)

// controlError is the body of a failed control API call.
type controlError struct {
	Error string `json:"error"`
}

func writeControlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, controlError{Error: err.Error()})
}

func (s *Server) handleGetHousehold(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Household())
}

func (s *Server) handlePutHousehold(w http.ResponseWriter, r *http.Request) {
	h, err := LoadHousehold(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.SetHousehold(h); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.Household())
}

// featureKeys lists the JSON keys of Features, in declaration order.
func featureKeys() []string {
	t := reflect.TypeFor[Features]()
	keys := make([]string, 0, t.NumField())
	for field := range t.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	return keys
}

// PatchEndpoint merges patch into the features of endpoint id, as PATCH
// /_sim/endpoints/{id} does: each key is a Features JSON key, a null value
// removes that feature, and the result must be valid. The patched keys get
// a new time of sample.
func (s *Server) PatchEndpoint(id string, patch map[string]json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoint(id)
	if e == nil {
		return fmt.Errorf("endpoint %q: %w", id, errNoEndpoint)
	}
	return s.patchState(&e.Features, s.samples[id], patch, featureKeys())
}

// patchState merges patch into *f (see mergeFeatures) and gives the
// patched keys a new time of sample in samples; s.mu is held.
func (s *Server) patchState(f *Features, samples map[string]time.Time, patch map[string]json.RawMessage, keys []string) error {
	merged, err := mergeFeatures(*f, patch, keys)
	if err != nil {
		return err
	}
	*f = merged
	now := s.opts.Now()
	for k := range patch {
		samples[k] = now
	}
	return nil
}

// mergeFeatures returns cur with patch merged in: each key one of keys, a
// null value removing that key; the result must be valid.
func mergeFeatures(cur Features, patch map[string]json.RawMessage, keys []string) (Features, error) {
	var unknown []string
	for k := range patch {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Features{}, fmt.Errorf("unknown feature keys %q (known: %s)", unknown, strings.Join(keys, ", "))
	}
	current, err := json.Marshal(cur)
	if err != nil {
		return Features{}, fmt.Errorf("marshal features: %w", err)
	}
	merged := map[string]json.RawMessage{}
	if err := json.Unmarshal(current, &merged); err != nil {
		return Features{}, fmt.Errorf("unmarshal features: %w", err)
	}
	for k, v := range patch {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return Features{}, fmt.Errorf("marshal patched features: %w", err)
	}
	var f Features
	if err := decodeStrict(bytes.NewReader(b), &f); err != nil {
		return Features{}, fmt.Errorf("patched features: %w", err)
	}
	if err := f.validate(); err != nil {
		return Features{}, fmt.Errorf("patched features: %w", err)
	}
	return f, nil
}

// errNoEndpoint reports an endpoint id the household does not have.
var errNoEndpoint = errors.New("no such endpoint")

func (s *Server) handlePatchEndpoint(w http.ResponseWriter, r *http.Request) {
	s.handlePatch(w, r, s.PatchEndpoint, func(id string) any { return s.endpoint(id) })
}

// handlePatch serves a PATCH of the control API: decode the patch, apply
// it, answer what current returns for the id (called with s.mu held and
// marshalled under it: the API changes state concurrently).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, apply func(string, map[string]json.RawMessage) error, current func(string) any) {
	var patch map[string]json.RawMessage
	if err := decodeStrict(io.LimitReader(r.Body, maxBody), &patch); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode patch: %w", err))
		return
	}
	id := r.PathValue("id")
	if err := apply(id, patch); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errNoEndpoint) {
			status = http.StatusNotFound
		}
		writeControlError(w, status, err)
		return
	}
	s.mu.Lock()
	b, err := json.Marshal(current(id))
	s.mu.Unlock()
	if err != nil {
		writeControlError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// endpoint returns the household's endpoint with this id, or nil; s.mu is
// held.
func (s *Server) endpoint(id string) *Endpoint {
	for i := range s.household.Endpoints {
		if s.household.Endpoints[i].ID == id {
			return &s.household.Endpoints[i]
		}
	}
	return nil
}

func (s *Server) handleGetRequests(w http.ResponseWriter, r *http.Request) {
	reqs := s.Requests()
	if reqs == nil {
		reqs = []Request{}
	}
	writeJSON(w, http.StatusOK, reqs)
}

func (s *Server) handleDeleteRequests(w http.ResponseWriter, r *http.Request) {
	s.ClearRequests()
	w.WriteHeader(http.StatusNoContent)
}
