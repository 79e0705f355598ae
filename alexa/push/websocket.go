package push

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// WebsocketOptions configure the legacy tcomm websocket source.
type WebsocketOptions struct {
	// URL is the gateway, e.g. wss://dp-gw-na.amazon.de (US:
	// wss://dp-gw-na-js.amazon.com with Header "Host: dp-gw-na.amazon.com"),
	// or the --cloud base (http:// and https:// become ws:// and wss://).
	// Without a path, the protocol's is used: /tcomm/ for A:F,
	// /?x-amz-device-type=ALEGCNGL9K0HM&x-amz-device-serial={ubid}-{ms}
	// for A:H. A URL with a path or query is used unchanged.
	URL string
	// Protocol is ProtocolAF (default: the last one Amazon accepted, with
	// signed connects) or ProtocolAH (unsigned; Amazon stopped it in 2021).
	Protocol Protocol
	// Cookie is the Alexa web cookie; for A:H its ubid-* value names the
	// connection.
	Cookie string
	// CookieFunc, when set, is asked for the cookie at every (re)connect
	// instead of Cookie, so that a session whose cookies are renewed (a
	// household account's keeper) reconnects with the current ones.
	CookieFunc func() string
	// Header holds extra handshake headers, e.g. Origin
	// (https://alexa.amazon.de) or Host.
	Header http.Header
	// ADPToken and PrivateKey (mac_dms.adp_token and device_private_key
	// from the device registration) sign the A:F connect. Without them no
	// x-adp-* headers are sent (the simulator does not need them).
	ADPToken   string
	PrivateKey *rsa.PrivateKey
	// Dialer defaults to one with a 30 s handshake timeout and
	// permessage-deflate, as the real clients use.
	Dialer *websocket.Dialer
	Logger *slog.Logger // default: discard
	// PingInterval is the PIN period after the handshake (default 180 s);
	// nothing received for PingInterval+PongTimeout (default 30 s) ends the
	// connection.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// HandshakeTimeout bounds the tcomm handshake up to the first PON
	// (default 30 s).
	HandshakeTimeout time.Duration
	// HandshakePause is the gap the real clients leave between handshake
	// frames (default 50 ms; negative: none).
	HandshakePause time.Duration
	// MaxMessageSize caps one websocket message (default 1 MiB).
	MaxMessageSize int64
	HealthyAfter   time.Duration             // as in HTTP2Options (default 1 minute)
	Backoff        func(n int) time.Duration // as in HTTP2Options (default DefaultBackoff)
	// ReauthRetry is the delay between attempts once the cookie was
	// rejected (default 10 minutes).
	ReauthRetry time.Duration
	Now         func() time.Time                                 // default time.Now
	Sleep       func(ctx context.Context, d time.Duration) error // default: a timer that stops with ctx
	// Observe, when set, is told each dial's result class and time to the
	// upgrade response under the API family "push".
	Observe func(api, result string, d time.Duration)
}

// Websocket is the legacy tcomm push source ("WS-MQTT", dp-gw-na…). Amazon
// stopped delivering pushes over it in September 2023; it is kept complete
// for the simulator and for accounts where it still works.
type Websocket struct {
	core
	o WebsocketOptions
}

var _ Source = (*Websocket)(nil)

// NewWebsocket returns a websocket source; Run validates the options.
func NewWebsocket(o WebsocketOptions) *Websocket {
	if o.Protocol == "" {
		o.Protocol = ProtocolAF
	}
	if o.Dialer == nil {
		o.Dialer = &websocket.Dialer{HandshakeTimeout: 30 * time.Second, EnableCompression: true}
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 180 * time.Second
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = 30 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 30 * time.Second
	}
	if o.HandshakePause == 0 {
		o.HandshakePause = 50 * time.Millisecond
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 1 << 20
	}
	if o.HealthyAfter <= 0 {
		o.HealthyAfter = time.Minute
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.ReauthRetry <= 0 {
		o.ReauthRetry = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = retry.Sleep
	}
	return &Websocket{core: newCore(o.Logger), o: o}
}

// closeBadCredentials is the close code Amazon sends when it rejects the
// cookie ("before - Could not find any valid credentials").
const closeBadCredentials = 4001

// Run implements Source. A rejected cookie (HTTP 401/403 on the upgrade or
// close code 4001) cannot be refreshed here: LastError wraps
// ErrReauthRequired and Run retries every ReauthRetry.
func (w *Websocket) Run(ctx context.Context, handle func(Push), connected func()) error {
	if handle == nil {
		return errors.New("push: websocket: handle is required")
	}
	if w.o.Protocol != ProtocolAF && w.o.Protocol != ProtocolAH {
		return fmt.Errorf("push: websocket: unknown protocol %q", w.o.Protocol)
	}
	if _, _, err := w.target(); err != nil {
		return err
	}
	failures := 0
	reauth := false
	for ctx.Err() == nil {
		started := w.o.Now()
		opened, err := w.session(ctx, handle, connected)
		if ctx.Err() != nil {
			break
		}
		if opened {
			reauth = false
			if w.o.Now().Sub(started) >= w.o.HealthyAfter {
				failures = 0
			}
		}
		var delay time.Duration
		if errors.Is(err, ErrReauthRequired) {
			if !reauth {
				w.logger.ErrorContext(ctx, "push: cookie rejected; log in again", "err", err)
			}
			reauth = true
			delay = w.o.ReauthRetry
		} else {
			delay = w.o.Backoff(failures)
			failures++
			w.logger.WarnContext(ctx, "push: websocket down, reconnecting", "err", err, "delay", delay)
		}
		w.setErr(err)
		if w.o.Sleep(ctx, delay) != nil {
			break
		}
	}
	return nil
}

// ubidPattern finds the ubid cookie (ubid-main, ubid-acbde, ...).
var ubidPattern = regexp.MustCompile(`ubid-[a-z]+=([^;\s]+)`)

// target returns the URL to dial and the handshake headers.
func (w *Websocket) target() (string, http.Header, error) {
	u, err := url.Parse(w.o.URL)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("push: websocket: URL %q: want ws(s)://host", w.o.URL)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", nil, fmt.Errorf("push: websocket: URL %q: want ws(s)://host", w.o.URL)
	}
	cookie := w.cookie()
	if (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
		if w.o.Protocol == ProtocolAF {
			u.Path = "/tcomm/"
		} else {
			serial := ""
			if m := ubidPattern.FindStringSubmatch(cookie); m != nil {
				serial = m[1]
			} else {
				serial = randomHex(8) // no ubid cookie: any stable-looking serial will do
			}
			serial += "-" + strconv.FormatInt(w.o.Now().UnixMilli(), 10)
			u.Path = "/"
			// Written by hand: url.Values would sort the keys, and the real
			// client sends device-type first.
			u.RawQuery = "x-amz-device-type=ALEGCNGL9K0HM&x-amz-device-serial=" + url.QueryEscape(serial)
		}
	}
	h := w.o.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "no-cache")
	if w.o.Protocol == ProtocolAF {
		h.Set("x-dp-comm-tuning", "A:F;A:H")
		h.Set("x-dp-reason", "ClientInitiated;1")
		h.Set("x-dp-tcomm-purpose", "Regular")
		h.Set("x-dp-obfuscatedBssid", "-2019514039")
		h.Set("x-dp-tcomm-versionName", "2.2.443692.0")
		if w.o.ADPToken != "" && w.o.PrivateKey != nil {
			sig, err := signConnect(w.o.PrivateKey, w.o.ADPToken, u.Path, w.o.Now())
			if err != nil {
				return "", nil, err
			}
			h.Set("x-adp-token", w.o.ADPToken)
			h.Set("x-adp-alg", "SHA256WithRSA:1.0")
			h.Set("x-adp-signature", sig)
		}
	}
	return u.String(), h, nil
}

// cookie is the cookie of the next connect.
func (w *Websocket) cookie() string {
	if w.o.CookieFunc != nil {
		return w.o.CookieFunc()
	}
	return w.o.Cookie
}

// signConnect is x-adp-signature: base64(RSA PKCS#1 v1.5 SHA-256 over
// "GET\n{path}\n{time}\n\n{adp token}") + ":" + time. (alexapy notes that
// PSS padding gets the connection closed.)
func signConnect(key *rsa.PrivateKey, token, path string, now time.Time) (string, error) {
	stamp := now.UTC().Format("2006-01-02T15:04:05.000Z")
	digest := sha256.Sum256([]byte("GET\n" + path + "\n" + stamp + "\n\n" + token))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("push: websocket: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig) + ":" + stamp, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID for the A:H INI.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// handshake states of one connection.
const (
	awaitTune = iota // waiting for the server's TUNE
	awaitAck         // A:H: INI sent, waiting for ACK
	awaitPon         // register and first PIN sent, waiting for PON
	established
)

// wsConn is one websocket connection: the reader is the session goroutine,
// and every write goes through the one writer goroutine (gorilla/websocket
// allows one concurrent writer).
type wsConn struct {
	w      *Websocket
	conn   *websocket.Conn
	out    chan []byte
	pinger chan struct{} // closed when periodic PINs should start
	ids    atomic.Uint32
	cancel context.CancelFunc
	werr   atomic.Pointer[error] // why the writer stopped, if it failed
}

// session dials, runs the handshake and reads until the connection ends.
// opened reports whether the handshake completed.
func (w *Websocket) session(ctx context.Context, handle func(Push), connected func()) (opened bool, err error) {
	target, header, err := w.target()
	if err != nil {
		return false, err
	}
	start := time.Now()
	conn, resp, err := w.o.Dialer.DialContext(ctx, target, header)
	if w.o.Observe != nil {
		w.o.Observe("push", observe.Result(resp), time.Since(start))
	}
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return false, fmt.Errorf("push: websocket: %w: upgrade answered HTTP %d", ErrReauthRequired, resp.StatusCode)
		}
		return false, fmt.Errorf("push: websocket: dial: %w", err)
	}
	conn.SetReadLimit(w.o.MaxMessageSize)
	sctx, cancel := context.WithCancel(ctx)
	// ReadMessage does not observe ctx: closing the connection unblocks it.
	stop := context.AfterFunc(sctx, func() { conn.Close() })
	c := &wsConn{w: w, conn: conn, out: make(chan []byte), pinger: make(chan struct{}), cancel: cancel}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c.ids.Store(binary.BigEndian.Uint32(seed[:])) // message ids count up from a random start, as the real clients do
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(sctx) })
	defer func() {
		cancel()
		wg.Wait()
		stop()
		conn.Close()
	}()
	return c.readLoop(sctx, handle, connected)
}

func (c *wsConn) nextID() uint32 { return c.ids.Add(1) }

// send hands a frame to the writer.
func (c *wsConn) send(ctx context.Context, frame []byte) {
	select {
	case c.out <- frame:
	case <-ctx.Done():
	}
}

// pause waits the gap real clients leave between handshake frames.
func (c *wsConn) pause(ctx context.Context, n int) {
	if d := c.w.o.HandshakePause * time.Duration(n); d > 0 {
		_ = retry.Sleep(ctx, d)
	}
}

// writeLoop owns every write: handshake frames and periodic PINs.
func (c *wsConn) writeLoop(ctx context.Context) {
	var tick <-chan time.Time
	pinger := c.pinger
	write := func(b []byte) bool {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.w.o.PongTimeout))
		if err := c.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
			err = fmt.Errorf("push: websocket: write: %w", err)
			c.werr.Store(&err)
			c.cancel() // closes the connection, which ends the read loop
			return false
		}
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-c.out:
			if !write(b) {
				return
			}
		case <-pinger:
			t := time.NewTicker(c.w.o.PingInterval)
			defer t.Stop()
			tick, pinger = t.C, nil
		case <-tick:
			if !write(EncodePing(c.w.o.Protocol, c.nextID(), c.w.o.Now())) {
				return
			}
		}
	}
}

// readLoop runs the handshake and then delivers pushes.
func (c *wsConn) readLoop(ctx context.Context, handle func(Push), connected func()) (opened bool, err error) {
	w, p := c.w, c.w.o.Protocol
	state := awaitTune
	if p == ProtocolAH {
		c.send(ctx, HelloTune())
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(w.o.HandshakeTimeout))
	for {
		if state == established {
			_ = c.conn.SetReadDeadline(time.Now().Add(w.o.PingInterval + w.o.PongTimeout))
		}
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			if werr := c.werr.Load(); werr != nil {
				return opened, *werr
			}
			if ctx.Err() != nil {
				return opened, ctx.Err()
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == closeBadCredentials {
				return opened, fmt.Errorf("push: websocket: %w: %w", ErrReauthRequired, err)
			}
			return opened, fmt.Errorf("push: websocket: read: %w", err)
		}
		if state == awaitTune {
			// Clients only look for protocolName in the server's first frame.
			if !bytes.Contains(msg, []byte(`"protocolName"`)) {
				return false, fmt.Errorf("push: websocket: handshake: %w: first frame is not a TUNE", ErrMalformed)
			}
			c.send(ctx, ProtocolTune(p))
			c.pause(ctx, 1)
			if p == ProtocolAH {
				c.send(ctx, EncodeINI(p, c.nextID(), newUUID(), w.o.Now()))
				state = awaitAck
				continue
			}
			c.register(ctx)
			state = awaitPon
			continue
		}
		f, err := ParseFrame(msg)
		if err != nil {
			w.malformedInput(ctx, "websocket frame", err)
			continue
		}
		switch {
		case f.Service == ServiceFABE && f.Channel == ChannelHeartbeat && f.Type() == "PON":
			w.keepAlives.Add(1)
			if state == awaitPon {
				state, opened = established, true
				close(c.pinger)
				w.onOpen(ctx, "websocket", connected)
			}
		case f.Service == ServiceFABE && f.Channel == ChannelHandshake && f.Type() == "ACK":
			if state == awaitAck {
				c.register(ctx)
				state = awaitPon
			}
		case f.Service == ServiceFABE && f.Channel == ChannelGateway && f.Type() == "GWM":
			pushes, err := DecodeGWM(f.Content)
			switch {
			case err != nil:
				w.malformedInput(ctx, "gwm", err)
			case len(pushes) == 0:
				w.notPush(ctx, "gwm")
			}
			for _, ps := range pushes {
				w.deliver(ctx, ps, handle)
			}
		default:
			w.notPush(ctx, "frame "+f.Service+" "+f.Type())
		}
	}
}

// register sends the GWM register and, after the usual gap, the first PIN.
func (c *wsConn) register(ctx context.Context) {
	p := c.w.o.Protocol
	c.send(ctx, EncodeRegister(p, c.nextID()))
	c.pause(ctx, 2)
	c.send(ctx, EncodePing(p, c.nextID(), c.w.o.Now()))
}
