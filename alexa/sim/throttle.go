package sim

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"
)

// Per-route token buckets (research/echo-voice-media-api.md §11.5): a
// throttled request gets 429 without Retry-After and a body containing
// "Rate exceeded", like Amazon's. GET and PUT /_sim/throttle read and set
// them.

// Limit is one route's token bucket: PerSecond tokens a second, up to
// Burst; PerSecond 0 switches throttling off.
type Limit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// defaultLimits are the routes throttled out of the box: behaviors/preview
// takes about three calls a second (research §11.5).
var defaultLimits = map[string]Limit{
	"/api/behaviors/preview": {PerSecond: 3, Burst: 3},
	// The voice history and its token pages (voice.go).
	rvhV2Path: historyLimit, rahV2Path: historyLimit,
	activityPage: csrfLimit, rvhPage: csrfLimit, csrfTokenPath: csrfLimit,
}

// bucket is a route's limit and its current fill.
type bucket struct {
	limit  Limit
	tokens float64
	last   time.Time
}

// take refills b up to now and uses one token if there is one.
func (b *bucket) take(now time.Time) bool {
	if b.limit.PerSecond <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.limit.PerSecond
	}
	b.tokens = min(b.tokens, float64(b.limit.Burst))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func newBuckets() map[string]*bucket {
	bs := map[string]*bucket{}
	for path, l := range defaultLimits {
		bs[path] = &bucket{limit: l, tokens: float64(l.Burst)}
	}
	return bs
}

// throttled answers 429 and reports true when r's route has no token
// left.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	b, ok := s.buckets[r.URL.Path]
	allowed := !ok || b.take(s.opts.Now())
	s.mu.Unlock()
	if allowed {
		return false
	}
	w.Header().Set("x-amzn-ErrorType", "ThrottlingException")
	writeWebError(w, http.StatusTooManyRequests, "Rate exceeded")
	return true
}

func (s *Server) limits() map[string]Limit {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Limit{}
	for path, b := range s.buckets {
		out[path] = b.limit
	}
	return out
}

func (s *Server) handleGetThrottle(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.limits())
}

// handlePutThrottle sets the limits of the routes named (paths without
// query); each bucket starts full.
func (s *Server) handlePutThrottle(w http.ResponseWriter, r *http.Request) {
	var set map[string]Limit
	if err := decodeStrict(io.LimitReader(r.Body, maxBody), &set); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode throttle: %w", err))
		return
	}
	for _, path := range slices.Sorted(maps.Keys(set)) {
		l := set[path]
		if len(path) == 0 || path[0] != '/' || l.PerSecond < 0 || (l.PerSecond > 0 && l.Burst < 1) {
			writeControlError(w, http.StatusBadRequest,
				fmt.Errorf("%q: a path starting with / needs per_second >= 0 and, when above 0, burst >= 1", path))
			return
		}
	}
	s.mu.Lock()
	for path, l := range set {
		s.buckets[path] = &bucket{limit: l, tokens: float64(l.Burst)}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.limits())
}
