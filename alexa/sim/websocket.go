package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ackDelay is how long the simulator waits before answering an A:H INI:
// alexa-remote's client re-sends TUNE and INI when the ACK arrives within
// about 50 ms of its INI (research/alexa-protocol.md §1.3).
const ackDelay = 100 * time.Millisecond

// The identity URNs of the pushes Amazon sends (fixture
// ws_af_s2c_push_volume_change): the service, then the app device the
// client registered as.
const (
	pushServiceURN = "urn:tcomm-endpoint:service:serviceName:DeeWebsiteMessagingService:domain:prod:realm:USAmazon"
	appDeviceType  = "A2IVLV5VM2W81"
)

// tuneParameters are the protocol parameters the simulator's TUNE names,
// the values clients ask for.
const tuneParameters = `"parameters":{"AlphaProtocolHandler.maxFragmentSize":"16000","AlphaProtocolHandler.receiveWindowSize":"16"}`

// closeInvalidCredentials is the close Amazon's gateway sends when it
// rejects the cookie; alexa-remote stops reconnecting on it.
const (
	closeInvalidCredentials       = 4001
	closeInvalidCredentialsReason = "before - Could not find any valid credentials"
)

// tcommConn is one legacy websocket push connection.
type tcommConn struct {
	s    *Server
	conn *websocket.Conn
	// deviceURN identifies the client's app device in pushes.
	deviceURN string

	mu         sync.Mutex // serializes writes and guards the fields below
	protocol   string     // negotiated framing; "" before TUNE
	messageID  uint32
	registered bool
	closed     bool
}

// write sends one binary message.
func (c *tcommConn) write(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(b)
}

func (c *tcommConn) writeLocked(b []byte) bool {
	if c.closed {
		return false
	}
	c.conn.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
	return c.conn.WriteMessage(websocket.BinaryMessage, b) == nil
}

// writeMsg frames content in the connection's protocol and sends it.
func (c *tcommConn) writeMsg(channel uint32, content []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messageID++
	return c.writeLocked(encodeMsg(c.protocol, channel, c.messageID, content))
}

func (c *tcommConn) sendCommand(metadata []byte, _ string) bool {
	return c.writeMsg(channelGateway, gwmMessage(pushServiceURN, c.deviceURN, metadata))
}

func (c *tcommConn) sendRaw(_, frame []byte) (bool, bool) {
	if frame == nil {
		return false, false
	}
	return c.write(frame), true
}

// drop closes the network connection without a close frame, like a
// connection that broke; the read loop then ends.
func (c *tcommConn) drop() { c.conn.Close() }

func (c *tcommConn) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func (c *tcommConn) setProtocol(p string) {
	c.mu.Lock()
	c.protocol = p
	c.mu.Unlock()
}

func (c *tcommConn) getProtocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.protocol
}

// handleTcomm serves the legacy websocket push: type 1 clients
// (GET /?x-amz-device-type=…&x-amz-device-serial=…) open with an A:H TUNE
// and the simulator answers; type 2 clients (GET /tcomm/ with
// x-dp-comm-tuning) wait for the simulator's TUNE naming A:F.
func (s *Server) handleTcomm(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, &apiError{status: http.StatusNotFound, Type: errNotFound,
			Message: fmt.Sprintf("no route for %s %s (websocket push needs an upgrade)", r.Method, r.URL.Path)})
		return
	}
	if s.pushDropped() {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, Type: errUnavailable,
			Message: "push connections are dropped (fault push=drop)"})
		return
	}
	if err := s.checkADPSignature(r); err != nil {
		writeError(w, &apiError{status: http.StatusUnauthorized, Type: errInvalidCredential, Message: err.Error()})
		return
	}
	upgrader := websocket.Upgrader{
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: true,
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered with the error.
		s.opts.Logger.Debug("websocket upgrade", "err", err)
		return
	}
	defer conn.Close()

	serial := r.URL.Query().Get("x-amz-device-serial")
	if serial == "" {
		serial = randomHex(16)
	}
	c := &tcommConn{s: s, conn: conn,
		deviceURN: fmt.Sprintf("urn:tcomm-endpoint:device:customerId:%s:deviceType:%s:deviceSerialNumber:%s", simCustomerID, appDeviceType, serial),
		messageID: rand.Uint32() >> 1,
	}
	defer func() {
		c.close()
		s.hub.remove(c)
	}()
	// Close the connection when the server shuts down: a hijacked
	// connection is not Shutdown's to close.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-r.Context().Done():
			conn.Close()
		case <-stop:
		}
	}()

	// No cookie, or issued session cookies that expired (the legacy
	// static session has no at-* cookie and is always let in).
	if sess, issued := s.liveSession(requestCookies(r)); r.Header.Get("Cookie") == "" || issued && sess == nil {
		conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(closeInvalidCredentials, closeInvalidCredentialsReason), time.Now().Add(time.Second))
		return
	}
	if tuning := r.Header.Get("x-dp-comm-tuning"); r.URL.Path == "/tcomm/" || tuning != "" {
		p := protocolAF
		if !strings.Contains(tuning, protocolAF) && strings.Contains(tuning, protocolAH) {
			p = protocolAH
		}
		c.setProtocol(p)
		c.write(serverTune(p))
	}
	conn.SetReadLimit(maxBody)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if !c.handle(r, data) {
			return
		}
	}
}

// serverTune is the TUNE frame that tells the client which framing to use;
// clients read only its protocolName.
func serverTune(protocol string) []byte {
	return encodeTune(fmt.Appendf(nil, `{"protocolName":%q,%s}`, protocol, tuneParameters))
}

// handle answers one client frame; false ends the connection.
func (c *tcommConn) handle(r *http.Request, data []byte) bool {
	log := c.s.opts.Logger
	f, err := decodeTcomm(data)
	if err != nil {
		log.Debug("tcomm: bad frame", "err", err)
		c.mu.Lock()
		c.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseProtocolError, truncate(err.Error(), 120)), time.Now().Add(time.Second))
		c.mu.Unlock()
		return false
	}
	if f.tune {
		c.handleTune(f.content)
		return true
	}
	if c.getProtocol() == "" {
		c.setProtocol(f.protocol)
	}
	switch {
	case f.channel == channelHandshake && bytes.HasPrefix(f.content, []byte("INI ")):
		t := time.NewTimer(ackDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
		c.writeMsg(channelHandshake, ackContent(f.content, c.s.opts.Now()))
	case f.channel == channelGateway:
		js, err := gwmJSON(f.content)
		if err != nil {
			log.Debug("tcomm: GWM", "err", err)
			return true
		}
		var msg struct {
			Command string `json:"command"`
		}
		if json.Unmarshal(js, &msg) == nil && msg.Command == "REGISTER_CONNECTION" {
			c.mu.Lock()
			first := !c.registered
			c.registered = true
			c.mu.Unlock()
			if first {
				c.s.hub.add(c)
				if c.s.pushDropped() {
					// The fault came while this client registered.
					c.drop()
				}
			}
		}
	case f.channel == channelHeartbeat:
		if pon, ok := heartbeatReply(f.content); ok {
			c.writeMsg(channelHeartbeat, pon)
		}
	default:
		log.Debug("tcomm: ignored frame", "channel", f.channel)
	}
	return true
}

// handleTune answers the A:H opening TUNE ("A:H") with the simulator's
// TUNE, and takes note of the protocol a parameters TUNE names.
func (c *tcommConn) handleTune(content []byte) {
	if bytes.HasPrefix(content, []byte("{")) {
		var t struct {
			ProtocolName string `json:"protocolName"`
		}
		if json.Unmarshal(content, &t) == nil && (t.ProtocolName == protocolAH || t.ProtocolName == protocolAF) {
			c.setProtocol(t.ProtocolName)
		}
		return
	}
	p := protocolAH
	if bytes.Contains(content, []byte(protocolAF)) && !bytes.Contains(content, []byte(protocolAH)) {
		p = protocolAF
	}
	c.setProtocol(p)
	c.write(serverTune(p))
}

// ackContent answers an INI ("INI 0x00000003 1.0 0x00000024 {uuid}
// 0x{ts} END") with an ACK: protocol version, connection UUID,
// established flag, the INI's timestamp and the ACK's.
func ackContent(ini []byte, now time.Time) []byte {
	fields := strings.Fields(string(ini))
	var iniTS uint64
	if len(fields) > 5 {
		iniTS, _ = strconv.ParseUint(strings.TrimPrefix(fields[5], "0x"), 16, 64)
	}
	id := newUUID()
	return fmt.Appendf(nil, "ACK 0x%08x 1.0 0x%08x %s 0x%08x 0x%016x 0x%016x END",
		3, len(id), id, 1, iniTS, now.UnixMilli())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
