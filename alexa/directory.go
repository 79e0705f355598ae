// Package alexa holds what every Amazon API family shares: the regions
// and their hosts (HostsFor), the account configuration (Config), and the
// Directory that resolves the device names rules use across backends.
// Each API family has a package of its own: alexa/features (Endpoint
// Features), alexa/web (the web API), alexa/auth (Login with Amazon and
// the app registration), alexa/push; all of them call Amazon through the
// one request path in alexa/internal/request.
package alexa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMinRefresh is the default of DirectoryOptions.MinRefresh.
const DefaultMinRefresh = 30 * time.Second

// DirectoryOptions tune a Directory; the zero value is usable.
type DirectoryOptions struct {
	// MinRefresh is the least time between two fetches of the device
	// list caused by a name the cache does not know, so that a rule with a
	// misspelt name cannot flood the API (DefaultMinRefresh when zero).
	MinRefresh time.Duration
	// Now is the clock for MinRefresh; time.Now when nil.
	Now func() time.Time
}

// Device is what the Directory knows of one device of a backend: its id
// and the friendly name rules call it by.
type Device struct {
	ID           string
	FriendlyName string
}

// Backend is an API family whose devices the Directory names and calls
// (the Endpoint Features API: features.Backend). Its errors should be
// *CallError values, which say how a failure looks to a rule; any other
// error becomes NETWORK_ERROR, TIMEOUT or CANCELED (NewCallError).
type Backend interface {
	// Devices lists every device of the account.
	Devices(ctx context.Context) ([]Device, error)
	// Update performs an operation named as in the backend's reference
	// ("turnOn", "setBrightness", ...) with its payload fields in order.
	Update(ctx context.Context, id, operation string, args ...float64) error
	// Get reads one attribute with a live request.
	Get(ctx context.Context, id, attr string) (any, error)
}

// Directory resolves device names for rules and performs their calls: it
// is what the scripting package's device() needs (scripting.Endpoints).
// It caches the device list, fetched on first use and again when a name
// is missing (at most once per MinRefresh). Ids never change, so a cached
// id stays valid; a renamed device is found by its new name on a miss.
// It is safe for concurrent use.
type Directory struct {
	backend    Backend
	minRefresh time.Duration
	now        func() time.Time
	fetching   chan struct{} // holds a token while one goroutine fetches the list

	mu        sync.Mutex
	devices   []Device
	byID      map[string]int
	byName    map[string][]int // folded friendly name → indexes
	loaded    bool
	attempts  int       // fetches attempted
	attempted time.Time // when the last one was
	lastErr   error     // its error
}

// NewDirectory returns a Directory over b.
func NewDirectory(b Backend, opts DirectoryOptions) *Directory {
	d := &Directory{backend: b, minRefresh: opts.MinRefresh, now: opts.Now, fetching: make(chan struct{}, 1)}
	if d.minRefresh <= 0 {
		d.minRefresh = DefaultMinRefresh
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// ErrUnknownDevice is wrapped by every UnknownDeviceError.
var ErrUnknownDevice = errors.New("unknown device")

// UnknownDeviceError is a name or id that matches no endpoint, or a name
// that matches several. It is the rule author's mistake, not a remote
// failure: NotFound reports true.
type UnknownDeviceError struct {
	Name        string
	Suggestions []string // near friendly names, best first
	Ambiguous   []string // ids of the endpoints sharing the name, when it is not unique
	Known       []string // some known friendly names, when nothing is near
}

func (e *UnknownDeviceError) Error() string {
	quoted := func(names []string) []string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = strconv.Quote(n)
		}
		return q
	}
	switch {
	case len(e.Ambiguous) > 0:
		return fmt.Sprintf("device name %q is ambiguous: %d endpoints have it (%s); use the id",
			e.Name, len(e.Ambiguous), strings.Join(e.Ambiguous, ", "))
	case len(e.Suggestions) > 0:
		return fmt.Sprintf("unknown device %q (did you mean %s?)", e.Name, strings.Join(quoted(e.Suggestions), " or "))
	case len(e.Known) > 0:
		return fmt.Sprintf("unknown device %q (known: %s)", e.Name, strings.Join(quoted(e.Known), ", "))
	}
	return fmt.Sprintf("unknown device %q (the account has no endpoints)", e.Name)
}

// Unwrap returns ErrUnknownDevice.
func (e *UnknownDeviceError) Unwrap() error { return ErrUnknownDevice }

// NotFound reports true: scripting raises such errors as the rule's own.
func (e *UnknownDeviceError) NotFound() bool { return true }

// CallError is a failed Directory request described the way rules see it
// (RULES.md §4: err.type, err.status, err.message). It wraps the
// backend's error, so errors.As still finds e.g. a *features.APIError.
type CallError struct {
	Type    string // the API's error type (ENDPOINT_UNREACHABLE, ...), or TIMEOUT, CANCELED, NETWORK_ERROR, ...
	Status  int    // HTTP status; 0 when there was no error answer
	Message string
	Err     error
}

func (e *CallError) Error() string { return e.Err.Error() }

// Unwrap returns the backend's error.
func (e *CallError) Unwrap() error { return e.Err }

// Failure returns the type, status and message (scripting.DeviceFailure).
func (e *CallError) Failure() (typ string, status int, message string) {
	return e.Type, e.Status, e.Message
}

// NewCallError describes err as far as any backend can: TIMEOUT or
// CANCELED when its context ended, else NETWORK_ERROR. Backends refine
// Type, Status and Message for their own error answers.
func NewCallError(err error) *CallError {
	ce := &CallError{Type: "NETWORK_ERROR", Message: err.Error(), Err: err}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		ce.Type = "TIMEOUT"
	case errors.Is(err, context.Canceled):
		ce.Type = "CANCELED"
	}
	return ce
}

// describe gives a backend's error as a *CallError.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*CallError](err); ok {
		return ce
	}
	return NewCallError(err)
}

// Update performs an update operation (see Backend.Update); a failure is
// a *CallError.
func (d *Directory) Update(ctx context.Context, id, operation string, args ...float64) error {
	return describe(d.backend.Update(ctx, id, operation, args...))
}

// Get reads one attribute with a live request (see Backend.Get); a
// failure is a *CallError.
func (d *Directory) Get(ctx context.Context, id, attr string) (any, error) {
	v, err := d.backend.Get(ctx, id, attr)
	if err != nil {
		return nil, describe(err)
	}
	return v, nil
}

// Devices returns the cached device list, fetching it on first use.
func (d *Directory) Devices(ctx context.Context) ([]Device, error) {
	d.mu.Lock()
	loaded, list := d.loaded, d.devices
	d.mu.Unlock()
	if loaded {
		return slices.Clone(list), nil
	}
	if err := d.Refresh(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.devices), nil
}

// Refresh fetches the endpoint list now; a failure is a *CallError and
// keeps the previous list.
func (d *Directory) Refresh(ctx context.Context) error {
	d.mu.Lock()
	seen := d.attempts
	d.mu.Unlock()
	return d.fetch(ctx, seen, true)
}

// fetch fetches the list unless another goroutine attempted it since the
// caller looked (attempt number seen); with force false, also unless the
// last attempt is less than MinRefresh old. When it does not fetch, it
// returns the last attempt's error.
func (d *Directory) fetch(ctx context.Context, seen int, force bool) error {
	select {
	case d.fetching <- struct{}{}:
	case <-ctx.Done():
		return describe(ctx.Err())
	}
	defer func() { <-d.fetching }()

	d.mu.Lock()
	recent := d.attempts > 0 && d.now().Sub(d.attempted) < d.minRefresh
	if d.attempts != seen || (recent && !force) {
		err := d.lastErr
		d.mu.Unlock()
		return err
	}
	d.mu.Unlock()

	list, err := d.backend.Devices(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts++
	d.attempted, d.lastErr = d.now(), describe(err)
	if err != nil {
		return d.lastErr
	}
	d.devices, d.loaded = list, true
	d.byID = make(map[string]int, len(list))
	d.byName = make(map[string][]int, len(list))
	for i, e := range list {
		d.byID[e.ID] = i
		key := foldName(e.FriendlyName)
		d.byName[key] = append(d.byName[key], i)
	}
	return nil
}

// Resolve finds an endpoint by id or by friendly name (case and spacing
// ignored) and returns its id and friendly name. A name or id the list
// lacks fetches the list again (at most once per MinRefresh) before it is
// an *UnknownDeviceError, which suggests near names; so is a name several
// endpoints share. A failed fetch is a *CallError.
func (d *Directory) Resolve(ctx context.Context, nameOrID string) (id, name string, err error) {
	d.mu.Lock()
	e, err := d.lookup(nameOrID)
	seen := d.attempts
	d.mu.Unlock()
	switch {
	case e != nil:
		return e.ID, e.FriendlyName, nil
	case err != nil:
		return "", "", err
	}
	if err := d.fetch(ctx, seen, false); err != nil {
		return "", "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, err = d.lookup(nameOrID); e != nil {
		return e.ID, e.FriendlyName, nil
	}
	if err == nil {
		err = d.unknown(nameOrID)
	}
	return "", "", err
}

// lookup finds nameOrID in the cache; d.mu is held. It returns neither
// endpoint nor error for a miss, and an *UnknownDeviceError for a name
// several endpoints share.
func (d *Directory) lookup(nameOrID string) (*Device, error) {
	if i, ok := d.byID[strings.TrimSpace(nameOrID)]; ok {
		return &d.devices[i], nil
	}
	idx := d.byName[foldName(nameOrID)]
	switch len(idx) {
	case 0:
		return nil, nil
	case 1:
		return &d.devices[idx[0]], nil
	}
	ids := make([]string, len(idx))
	for i, j := range idx {
		ids[i] = d.devices[j].ID
	}
	return nil, &UnknownDeviceError{Name: nameOrID, Ambiguous: ids}
}

// maxKnown caps the names an unknown-device message lists.
const maxKnown = 10

// unknown builds the error for a name nothing matches. It suggests the
// friendly names nearest in edits (ties only), else up to three that
// contain the name, else lists some known names.
func (d *Directory) unknown(name string) *UnknownDeviceError {
	e := &UnknownDeviceError{Name: name}
	want := foldName(name)
	limit := max(2, len([]rune(want))/4)
	type candidate struct {
		name string
		dist int
	}
	var near, containing []candidate
	names := make([]string, 0, len(d.byName))
	for key, idx := range d.byName {
		full := d.devices[idx[0]].FriendlyName
		names = append(names, full)
		switch dist := editDistance([]rune(want), []rune(key)); {
		case dist <= limit:
			near = append(near, candidate{full, dist})
		case len(want) >= 3 && strings.Contains(key, want):
			containing = append(containing, candidate{full, dist})
		}
	}
	byDist := func(a, b candidate) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.name, b.name)
	}
	slices.SortFunc(near, byDist)
	slices.SortFunc(containing, byDist)
	for _, c := range near {
		if c.dist == near[0].dist && len(e.Suggestions) < 3 {
			e.Suggestions = append(e.Suggestions, c.name)
		}
	}
	if len(e.Suggestions) == 0 {
		for _, c := range containing[:min(len(containing), 3)] {
			e.Suggestions = append(e.Suggestions, c.name)
		}
	}
	if len(e.Suggestions) == 0 {
		slices.Sort(names)
		e.Known = names[:min(len(names), maxKnown)]
	}
	return e
}

// foldName is the key friendly names match by: lower case, single spaces.
func foldName(s string) string {
	if !singleSpaced(s) {
		s = strings.Join(strings.Fields(s), " ")
	}
	return strings.ToLower(s)
}

// singleSpaced reports whether s is ASCII whose only white space is
// single spaces between words: strings.Fields and Join would give it back
// as it is (and cost two allocations for every device() call).
func singleSpaced(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' '):
			return false
		}
	}
	return true
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one.
func editDistance(a, b []rune) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
