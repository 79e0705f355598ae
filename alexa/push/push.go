// Package push receives Alexa push commands ("PUSH_LIST_ITEM_CHANGE",
// "PUSH_NOTIFICATION_CHANGE", ...) over either transport Amazon has used:
// the HTTP/2 downchannel (GET /v20160207/directives, the live one since
// September 2023) and the legacy tcomm websocket (protocols A:H and A:F).
//
// Pushes are invalidation hints: they carry ids, not content. Both sources
// deliver only known commands, drop duplicates among the last few thousand
// pushes, count everything they skip, and call connected after every
// (re)connect so the caller re-syncs what may have changed while the
// connection was down. Dedup across restarts is the caller's job (Push.Key is
// stable for that).
package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// Push is one decoded push command.
type Push struct {
	Command string          // e.g. "PUSH_LIST_ITEM_CHANGE"
	Payload json.RawMessage // the decoded inner payload (normally an object); nil if absent
	Device  Device          // from payload.dopplerId, payload.dsn, ...; zero if absent
	Time    time.Time       // timeStamp if present, else zero
	// Key identifies the change for deduplication: notification id and
	// version, list item id and version, else a hash of the command, payload
	// and time stamp (or the directive's messageId). Empty when nothing
	// identifies the push; such pushes are never dropped as duplicates.
	Key string
}

// Device is the Echo a push concerns.
type Device struct {
	SerialNumber string
	DeviceType   string
}

// Stats counts what a source did, for /metrics.
type Stats struct {
	Delivered  uint64 // pushes handed to the handler
	Unknown    uint64 // unknown commands and messages that carry no push, skipped
	Malformed  uint64 // parts, frames or payloads that did not decode, or oversize parts, skipped
	Duplicates uint64 // pushes dropped because their Key was seen recently
	Reconnects uint64 // successful connects after the first
	KeepAlives uint64 // bare multipart delimiters (HTTP/2) or PON frames (websocket)
}

// Source is a push transport.
type Source interface {
	// Run connects, reads pushes and calls handle for each (deduplicated),
	// reconnecting with backoff until ctx ends; it then returns nil. It
	// returns an error at once only for a configuration it cannot use.
	// connected is called after every successful (re)connect so the caller
	// can re-sync; it runs on Run's goroutine, so it should not block long.
	Run(ctx context.Context, handle func(Push), connected func()) error
	// Stats returns the counters so far.
	Stats() Stats
	// LastError is why the last connection failed or ended, nil while
	// connected. errors.Is(err, ErrReauthRequired) means the credentials
	// were rejected even after a refresh.
	LastError() error
}

var (
	// ErrReauthRequired means Amazon rejected the credentials even after a
	// token refresh: the user must log in again. The sources keep retrying
	// slowly, so a fixed token is picked up without a restart.
	ErrReauthRequired = errors.New("re-authentication required")
	// ErrMalformed marks input that does not follow the wire format.
	ErrMalformed = errors.New("malformed")
	// ErrChecksum marks a tcomm frame whose checksum does not match.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrPartTooLarge marks a multipart part longer than the cap; it is
	// skipped and reading resumes at the next delimiter.
	ErrPartTooLarge = errors.New("part too large")
)

// Known reports whether command is a push command the sources deliver:
// those seen from Amazon (research notes §2). Others are counted as Unknown
// and logged at debug.
func Known(command string) bool {
	switch command {
	case "PUSH_NOTIFICATION_CHANGE",
		"PUSH_LIST_ITEM_CHANGE", "PUSH_LIST_CHANGE", "PUSH_TODO_CHANGE",
		"PUSH_VOLUME_CHANGE", "PUSH_EQUALIZER_STATE_CHANGE",
		"PUSH_DOPPLER_CONNECTION_CHANGE", "PUSH_BLUETOOTH_STATE_CHANGE",
		"PUSH_AUDIO_PLAYER_STATE", "PUSH_CONTENT_FOCUS_CHANGE",
		"PUSH_MEDIA_CHANGE", "PUSH_MEDIA_PROGRESS_CHANGE", "PUSH_MEDIA_QUEUE_CHANGE",
		"PUSH_MEDIA_PREFERENCE_CHANGE",
		"PUSH_DND_STATE_CHANGE", "PUSH_ACTIVITY", "PUSH_MICROPHONE_STATE",
		"PUSH_DELETE_DOPPLER_ACTIVITIES", "PUSH_DEVICE_SETUP_STATE_CHANGE",
		"NotifyNowPlayingUpdated", "NotifyMediaSessionsUpdated",
		"MATTER_SETUP_NOTIFICATION":
		return true
	}
	return false
}

// DefaultBackoff is 5·2^n seconds, capped at 10 minutes.
func DefaultBackoff(n int) time.Duration {
	return retry.Backoff(n, 5*time.Second, 10*time.Minute)
}

// decodeCommand decodes the innermost push envelope shared by both
// transports: {"command":..., "payload":"<JSON string>", "timeStamp":ms}.
// payload may also be an object; timeStamp may be missing, null or a string.
// fallback names the command when the envelope has none.
func decodeCommand(raw []byte, fallback string) (Push, error) {
	var env struct {
		Command   string          `json:"command"`
		Payload   json.RawMessage `json:"payload"`
		TimeStamp json.RawMessage `json:"timeStamp"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return Push{}, fmt.Errorf("push: command: %w: %w", ErrMalformed, err)
	}
	if env.Command == "" {
		env.Command = fallback
	}
	if env.Command == "" {
		return Push{}, fmt.Errorf("push: command: %w: no command", ErrMalformed)
	}
	p := Push{Command: env.Command}
	payload, err := innerPayload(env.Payload)
	if err != nil {
		return Push{}, fmt.Errorf("push: %s payload: %w", env.Command, err)
	}
	p.Payload = payload
	p.Time = timeStamp(env.TimeStamp)
	f := payloadFields(payload)
	p.Device = device(f)
	p.Key = key(p, f)
	return p, nil
}

// innerPayload returns the payload object, unquoting it when it arrives as
// a JSON string (the usual case).
func innerPayload(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '"' {
		return raw, nil // already an object (or some other value): deliver as is
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	inner := bytes.TrimSpace([]byte(s))
	if len(inner) == 0 {
		return nil, nil
	}
	if !json.Valid(inner) {
		return nil, fmt.Errorf("%w: payload string is not JSON", ErrMalformed)
	}
	return inner, nil
}

// timeStamp reads epoch milliseconds from a number or a numeric string.
func timeStamp(raw json.RawMessage) time.Time {
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	if s == "" || s == "null" {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f < 0 || f > 1e15 {
			return time.Time{}
		}
		ms = int64(f)
	}
	if ms <= 0 || ms > 1e15 { // beyond year 33658: not a time stamp
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// fields is the payload decoded once (numbers as json.Number), for the
// fields that identify a device or a change; nil when the payload is not
// an object. Each field is read leniently: one of an unexpected type is
// ignored, never fatal.
type fields map[string]any

func payloadFields(payload json.RawMessage) fields {
	if len(payload) == 0 || payload[0] != '{' {
		return nil
	}
	var m fields
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

// field is m's value named name, matched as encoding/json matches a
// struct's fields (the decoding these fields replaced): exactly, else
// without regard to case.
func field(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// scalar returns a JSON string or number as text, "" for anything else.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// deviceObject reads {"deviceSerialNumber","deviceType"}.
func deviceObject(v any) Device {
	m, ok := v.(map[string]any)
	if !ok {
		return Device{}
	}
	return Device{SerialNumber: scalar(field(m, "deviceSerialNumber")), DeviceType: scalar(field(m, "deviceType"))}
}

// device finds the Echo in the payload: dopplerId (most commands), dsn
// (newer payloads, a serial string or an object), top-level
// deviceSerialNumber/deviceType (device setup), or PUSH_ACTIVITY's
// key.entryId "ts#deviceType#serial".
func device(f fields) Device {
	if f == nil {
		return Device{}
	}
	if d := deviceObject(field(f, "dopplerId")); d != (Device{}) {
		return d
	}
	topType := scalar(field(f, "deviceType"))
	if s := scalar(field(f, "dsn")); s != "" {
		return Device{SerialNumber: s, DeviceType: topType}
	}
	if d := deviceObject(field(f, "dsn")); d != (Device{}) {
		return d
	}
	if s := scalar(field(f, "deviceSerialNumber")); s != "" || topType != "" {
		return Device{SerialNumber: s, DeviceType: topType}
	}
	if k, ok := field(f, "key").(map[string]any); ok {
		if id, ok := field(k, "entryId").(string); ok {
			if parts := strings.Split(id, "#"); len(parts) == 3 {
				return Device{SerialNumber: parts[2], DeviceType: parts[1]}
			}
		}
	}
	return Device{}
}

// key builds Push.Key. Notification and list item changes are keyed by id
// and version, so the copy Amazon sends to each household member collapses
// into one. Other commands are keyed by a hash of command, payload (without
// destinationUserId) and time stamp; without a time stamp two equal
// payloads cannot be told from a real repeat (volume 30→40→30), so they get
// no key.
func key(p Push, f fields) string {
	switch p.Command {
	case "PUSH_NOTIFICATION_CHANGE":
		if id, ver := scalar(field(f, "notificationId")), scalar(field(f, "notificationVersion")); id != "" && ver != "" {
			return "notification|" + id + "|" + ver
		}
	case "PUSH_LIST_ITEM_CHANGE":
		if list, item, ver := scalar(field(f, "listId")), scalar(field(f, "listItemId")), scalar(field(f, "version")); item != "" && ver != "" {
			return "listitem|" + list + "|" + item + "|" + ver + "|" + scalar(field(f, "eventName"))
		}
	}
	if p.Time.IsZero() {
		return ""
	}
	return "hash|" + contentHash(p, f)
}

// contentHash hashes the command, the time stamp and the payload in a
// canonical form (sorted keys, without destinationUserId); a payload that
// is not an object is hashed as it came.
func contentHash(p Push, f fields) string {
	payload := []byte(p.Payload)
	if f != nil {
		uid, had := f["destinationUserId"]
		delete(f, "destinationUserId")
		if b, err := json.Marshal(f); err == nil { // sorted keys: a canonical form
			payload = b
		}
		if had {
			f["destinationUserId"] = uid
		}
	}
	h := sha256.New()
	var head [64]byte
	h.Write(strconv.AppendInt(append(append(head[:0], p.Command...), 0), p.Time.UnixMilli(), 10))
	h.Write([]byte{0})
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// dedupSize is how many recent keys a source remembers.
const dedupSize = 4096

// recent is a bounded set of the last dedupSize distinct keys.
type recent struct {
	seen map[string]struct{}
	ring []string
	next int
}

// add records key and reports whether it was already present.
func (r *recent) add(key string) bool {
	if r.seen == nil {
		r.seen = make(map[string]struct{}, dedupSize)
		r.ring = make([]string, dedupSize)
	}
	if _, ok := r.seen[key]; ok {
		return true
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.seen, old)
	}
	r.ring[r.next] = key
	r.next = (r.next + 1) % len(r.ring)
	r.seen[key] = struct{}{}
	return false
}

// core is what both sources share: counters, dedup, last error, logging.
type core struct {
	logger *slog.Logger

	delivered, unknown, malformed, duplicates, reconnects, keepAlives atomic.Uint64

	mu      sync.Mutex
	recent  recent
	lastErr error
	opened  bool // a connection has been opened before (for Reconnects)
}

func newCore(logger *slog.Logger) core {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return core{logger: logger}
}

// Stats returns the counters so far.
func (c *core) Stats() Stats {
	return Stats{
		Delivered:  c.delivered.Load(),
		Unknown:    c.unknown.Load(),
		Malformed:  c.malformed.Load(),
		Duplicates: c.duplicates.Load(),
		Reconnects: c.reconnects.Load(),
		KeepAlives: c.keepAlives.Load(),
	}
}

// LastError is why the last connection failed or ended; nil while connected.
func (c *core) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

func (c *core) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// onOpen records a successful connect and tells the caller.
func (c *core) onOpen(ctx context.Context, transport string, connected func()) {
	c.mu.Lock()
	again := c.opened
	c.opened = true
	c.lastErr = nil
	c.mu.Unlock()
	if again {
		c.reconnects.Add(1)
	}
	c.logger.InfoContext(ctx, "push connected", "transport", transport, "reconnect", again)
	if connected != nil {
		connected()
	}
}

// deliver filters unknown commands and duplicates, then calls handle.
func (c *core) deliver(ctx context.Context, p Push, handle func(Push)) {
	if !Known(p.Command) {
		c.unknown.Add(1)
		c.logger.DebugContext(ctx, "push: unknown command skipped", "command", p.Command)
		return
	}
	if p.Key != "" {
		c.mu.Lock()
		dup := c.recent.add(p.Key)
		c.mu.Unlock()
		if dup {
			c.duplicates.Add(1)
			c.logger.DebugContext(ctx, "push: duplicate dropped", "command", p.Command, "key", p.Key)
			return
		}
	}
	c.delivered.Add(1)
	handle(p)
}

// malformedInput counts and logs input that did not decode.
func (c *core) malformedInput(ctx context.Context, what string, err error) {
	c.malformed.Add(1)
	c.logger.DebugContext(ctx, "push: "+what+" skipped", "err", err)
}

// notPush counts a message that decoded but carries no push.
func (c *core) notPush(ctx context.Context, what string) {
	c.unknown.Add(1)
	c.logger.DebugContext(ctx, "push: "+what+" without a push skipped")
}
