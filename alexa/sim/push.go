package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The HTTP/2 downchannel framing (research/alexa-protocol.md §3.3,
// fixtures/alexa/http2_downchannel_*): Amazon's boundary, its delimiter
// line, and the header every part starts with.
const (
	directivesBoundary    = "------abcde123"
	directivesContentType = "multipart/related; boundary=" + directivesBoundary + "; type=application/json"
	directivesDelimiter   = "--" + directivesBoundary + "\r\n"
	directivesPartHeader  = "Content-Type: application/json\r\n\r\n"
)

// DefaultPushKeepAlive is how often an idle downchannel gets a bare
// delimiter when Options.PushKeepAlive is zero.
const DefaultPushKeepAlive = 2 * time.Minute

// pushWriteTimeout bounds one write to a push client, so that a client that
// stopped reading cannot stall every push.
const pushWriteTimeout = 10 * time.Second

// simCustomerID is the Amazon customer id of the simulated account:
// destinationUserId in pushes, customerId in the web API.
const simCustomerID = "A1SIMCUSTOMER1"

// pushClient is one open push connection, on either transport.
type pushClient interface {
	// sendCommand delivers a push (a resourceMetadata JSON); false when
	// the client is gone or the write failed.
	sendCommand(metadata []byte, command string) bool
	// sendRaw writes b as is when it is meant for this transport; ok
	// reports whether it was.
	sendRaw(raw []byte, rawFrame []byte) (sent, ok bool)
	// drop closes the connection at once.
	drop()
}

// pushHub tracks the connected push clients. Broadcasts are serialized so
// every client sees the pushes in the same order.
type pushHub struct {
	broadcastMu sync.Mutex // held for a whole broadcast

	mu      sync.Mutex
	clients map[pushClient]bool
}

func (h *pushHub) add(c pushClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients == nil {
		h.clients = map[pushClient]bool{}
	}
	h.clients[c] = true
}

func (h *pushHub) remove(c pushClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

func (h *pushHub) snapshot() []pushClient {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := make([]pushClient, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	return cs
}

// dropAll closes every push connection.
func (h *pushHub) dropAll() {
	for _, c := range h.snapshot() {
		c.drop()
		h.remove(c)
	}
}

// pushMetadata is the JSON both transports carry (the resourceMetadata of
// a directive, the JSON of a GWM message): the payload is itself a JSON
// string.
type pushMetadata struct {
	Command   string `json:"command"`
	Payload   string `json:"payload"`
	TimeStamp int64  `json:"timeStamp"`
}

// sendPush sends command with payload (JSON, passed through compacted but
// otherwise unchanged) to every connected client and returns how many got
// it.
func (s *Server) sendPush(command string, payload []byte) int {
	var buf bytes.Buffer
	if err := json.Compact(&buf, payload); err != nil {
		// Callers hand in JSON they marshalled or validated.
		panic(fmt.Sprintf("sim: push payload is not JSON: %v", err))
	}
	return s.sendPushString(command, buf.String())
}

// sendPushString sends command with payload as the payload string itself.
func (s *Server) sendPushString(command, payload string) int {
	meta, err := json.Marshal(pushMetadata{Command: command, Payload: payload, TimeStamp: s.opts.Now().UnixMilli()})
	if err != nil {
		panic(fmt.Sprintf("sim: marshal push: %v", err))
	}
	s.hub.broadcastMu.Lock()
	defer s.hub.broadcastMu.Unlock()
	n := 0
	for _, c := range s.hub.snapshot() {
		if c.sendCommand(meta, command) {
			n++
		}
	}
	return n
}

// pushRaw sends a raw directive JSON to the downchannel clients and a raw
// websocket frame to the websocket clients (either may be nil) and returns
// how many clients got one.
func (s *Server) sendPushRaw(directive, frame []byte) int {
	s.hub.broadcastMu.Lock()
	defer s.hub.broadcastMu.Unlock()
	n := 0
	for _, c := range s.hub.snapshot() {
		if sent, _ := c.sendRaw(directive, frame); sent {
			n++
		}
	}
	return n
}

// pushJSON marshals a payload struct and pushes it; the simulator's own
// pushes go through it.
func (s *Server) pushJSON(command string, payload any) int {
	b, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal %s payload: %v", command, err))
	}
	return s.sendPush(command, b)
}

// dopplerID names the Echo a device-scoped push is about. alexa-remote2
// reads it unguarded, so every device-scoped push the simulator makes
// carries it.
type dopplerID struct {
	DeviceSerialNumber string `json:"deviceSerialNumber"`
	DeviceType         string `json:"deviceType"`
}

// listItemChange is the PUSH_LIST_ITEM_CHANGE payload: ids only, like
// Amazon's (field order as observed).
type listItemChange struct {
	DestinationUserID string `json:"destinationUserId"`
	ListID            string `json:"listId"`
	ListItemID        string `json:"listItemId"`
	Version           int    `json:"version"`
	EventName         string `json:"eventName"`
}

// notificationChange is the PUSH_NOTIFICATION_CHANGE payload: id and
// version, no times.
type notificationChange struct {
	DestinationUserID   string    `json:"destinationUserId"`
	DopplerID           dopplerID `json:"dopplerId"`
	EventType           string    `json:"eventType"`
	NotificationID      string    `json:"notificationId"`
	NotificationVersion int       `json:"notificationVersion"`
}

func (s *Server) pushListItemChange(listID, itemID string, version int, event string) int {
	return s.pushJSON("PUSH_LIST_ITEM_CHANGE", listItemChange{
		DestinationUserID: simCustomerID, ListID: listID, ListItemID: itemID, Version: version, EventName: event,
	})
}

func (s *Server) pushNotificationChange(n notificationInfo, event string) int {
	return s.pushJSON("PUSH_NOTIFICATION_CHANGE", notificationChange{
		DestinationUserID:   simCustomerID,
		DopplerID:           dopplerID{DeviceSerialNumber: n.serial, DeviceType: n.deviceType},
		EventType:           event,
		NotificationID:      n.index,
		NotificationVersion: n.version,
	})
}

// directivePart renders one downchannel part around a directive JSON.
func directivePart(directive []byte) []byte {
	b := make([]byte, 0, len(directivesPartHeader)+len(directive)+2+len(directivesDelimiter))
	b = append(b, directivesPartHeader...)
	b = append(b, directive...)
	b = append(b, "\r\n"...)
	return append(b, directivesDelimiter...)
}

// directive wraps a push in Amazon's directive envelope.
func directive(metadata []byte, command string) []byte {
	type update struct {
		Route            string `json:"route"`
		ResourceID       string `json:"resourceId"`
		ResourceMetadata string `json:"resourceMetadata"`
	}
	var d struct {
		Directive struct {
			Header struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
				MessageID string `json:"messageId"`
			} `json:"header"`
			Payload struct {
				RenderingUpdates []update `json:"renderingUpdates"`
			} `json:"payload"`
		} `json:"directive"`
	}
	d.Directive.Header.Namespace = "DeeAppMessagingGateway"
	d.Directive.Header.Name = "ProcessNotification"
	d.Directive.Header.MessageID = newUUID()
	d.Directive.Payload.RenderingUpdates = []update{{Route: "DeeAppMessage", ResourceID: command, ResourceMetadata: string(metadata)}}
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal directive: %v", err))
	}
	return b
}

// downchannel is one open GET /v20160207/directives stream.
type downchannel struct {
	rc *http.ResponseController

	mu      sync.Mutex // serializes writes: one part per DATA frame
	w       http.ResponseWriter
	closed  bool
	dropped chan struct{}
	once    sync.Once
}

// write writes b and flushes it, so that it leaves as one DATA frame
// (alexa-remote2 parses each DATA frame on its own).
func (d *downchannel) write(b []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.rc.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
	defer d.rc.SetWriteDeadline(time.Time{})
	if _, err := d.w.Write(b); err != nil {
		return false
	}
	return d.rc.Flush() == nil
}

func (d *downchannel) sendCommand(metadata []byte, command string) bool {
	return d.write(directivePart(directive(metadata, command)))
}

func (d *downchannel) sendRaw(raw, _ []byte) (bool, bool) {
	if raw == nil {
		return false, false
	}
	return d.write(directivePart(raw)), true
}

func (d *downchannel) drop() { d.once.Do(func() { close(d.dropped) }) }

// close stops all further writes; the handler calls it before returning.
func (d *downchannel) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}

// handleDirectives serves the HTTP/2 push downchannel: an endless
// multipart/related body, one directive per part and per DATA frame,
// with a bare delimiter as keep-alive.
func (s *Server) handleDirectives(w http.ResponseWriter, r *http.Request) {
	if s.pushDropped() {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, Type: errUnavailable,
			Message: "push connections are dropped (fault push=drop)"})
		return
	}
	if e := s.checkBearer(r); e != nil {
		// alexa-remote2 refreshes its token on 403 only; Amazon's
		// downchannel answers a bad token with 403.
		e.status, e.challenge = http.StatusForbidden, ""
		writeError(w, e)
		return
	}
	w.Header().Set("Content-Type", directivesContentType)
	w.WriteHeader(http.StatusOK)
	d := &downchannel{rc: http.NewResponseController(w), w: w, dropped: make(chan struct{})}
	defer func() {
		d.close()
		s.hub.remove(d)
	}()
	// Register under the write lock so no push can precede the opening
	// delimiter.
	d.mu.Lock()
	s.hub.add(d)
	d.mu.Unlock()
	if s.pushDropped() {
		// The fault came while this stream was opening.
		d.drop()
	}
	// Logged before the first byte leaves: a client that has read the
	// opening delimiter finds the stream in /_sim/requests.
	recordNow(r, http.StatusOK)
	if !d.write([]byte(directivesDelimiter)) {
		return
	}

	keepAlive := time.NewTicker(s.opts.PushKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.dropped:
			// Reset the stream (or the HTTP/1 connection) like a
			// connection that broke, rather than ending the body.
			panic(http.ErrAbortHandler)
		case <-keepAlive.C:
			if !d.write([]byte(directivesDelimiter)) {
				return
			}
		}
	}
}

// pushDropped reports whether the push=drop fault is set.
func (s *Server) pushDropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.push == "drop"
}

// pushRequest is the body of POST /_sim/push.
type pushRequest struct {
	Command string          `json:"command"`
	Payload json.RawMessage `json:"payload"`
	RawHex  *string         `json:"raw_hex"`
	Raw     *string         `json:"raw"`
}

// pushAnswer is the answer of the control routes that push.
type pushAnswer struct {
	Clients int `json:"clients"`
}

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request) {
	var req pushRequest
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode push: %w", err))
		return
	}
	raw := req.Raw != nil || req.RawHex != nil
	switch {
	case req.Command != "" && raw:
		writeControlError(w, http.StatusBadRequest, errors.New("give either command (and payload) or raw/raw_hex, not both"))
	case req.Command != "":
		payload := req.Payload
		if len(bytes.TrimSpace(payload)) == 0 || bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
			payload = json.RawMessage("{}")
		}
		if p := bytes.TrimSpace(payload); p[0] == '"' {
			// A string payload is sent as the payload string itself,
			// so tests can push payloads that are not JSON.
			var str string
			if err := json.Unmarshal(p, &str); err != nil {
				writeControlError(w, http.StatusBadRequest, fmt.Errorf("payload: %w", err))
				return
			}
			writeJSON(w, http.StatusOK, pushAnswer{Clients: s.sendPushString(req.Command, str)})
			return
		}
		writeJSON(w, http.StatusOK, pushAnswer{Clients: s.sendPush(req.Command, payload)})
	case raw:
		if req.Payload != nil {
			writeControlError(w, http.StatusBadRequest, errors.New("payload goes with command, not with raw/raw_hex"))
			return
		}
		var directive, frame []byte
		if req.Raw != nil {
			directive = []byte(*req.Raw)
		}
		if req.RawHex != nil {
			b, err := decodeHex(*req.RawHex)
			if err != nil {
				writeControlError(w, http.StatusBadRequest, fmt.Errorf("raw_hex: %w", err))
				return
			}
			frame = b
		}
		writeJSON(w, http.StatusOK, pushAnswer{Clients: s.sendPushRaw(directive, frame)})
	default:
		writeControlError(w, http.StatusBadRequest, errors.New("command, raw or raw_hex is required"))
	}
}
