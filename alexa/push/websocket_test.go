package push_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/alexa/push"
)

// wsServer upgrades every request and runs script on the connection.
func wsServer(t *testing.T, script func(c *websocket.Conn, r *http.Request)) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // Amazon's Origin is not ours
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		script(c, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// peer is the fake gateway's side of one connection.
type peer struct {
	t  *testing.T
	c  *websocket.Conn
	p  push.Protocol
	fx map[string][]byte // fixtures, read on the test goroutine
}

// clientFixtures reads the client frames a peer compares against.
func clientFixtures(t *testing.T) map[string][]byte {
	fx := map[string][]byte{}
	for _, name := range []string{"ws_ah_c2s_1_tune_hello.bin", "ws_ah_c2s_2_tune_protocol_ah.bin",
		"ws_af_c2s_1_tune_protocol_af.bin", "ws_ah_c2s_4_gw_register.bin"} {
		fx[name] = fixture(t, name)
	}
	return fx
}

func (p peer) send(b []byte) {
	if err := p.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

// read returns the next client message; ok is false once the client is gone.
func (p peer) read() ([]byte, bool) {
	_, b, err := p.c.ReadMessage()
	return b, err == nil
}

// expectRaw reads a message that must equal want byte for byte.
func (p peer) expectRaw(name string, want []byte) {
	b, ok := p.read()
	if !ok || !bytes.Equal(b, want) {
		p.t.Errorf("%s: got %q, want %q", name, b, want)
	}
}

// expectFrame reads a frame on channel with content type typ.
func (p peer) expectFrame(channel uint32, typ string) push.Frame {
	b, ok := p.read()
	f, err := push.ParseFrame(b)
	if !ok || err != nil || f.Channel != channel || f.Type() != typ || f.Framing != p.p {
		p.t.Errorf("want %s on %#x in %s framing, got %q (%v)", typ, channel, p.p, b, err)
	}
	return f
}

// pong answers a PIN frame the way the server does: same body, type PON.
func (p peer) pong(ping push.Frame) {
	content := append([]byte("PON"), ping.Content[3:]...)
	p.send(push.EncodeMessage(p.p, push.ChannelHeartbeat, 0x1234, content))
}

// handshake plays the server side up to the first PON.
func (p peer) handshake() {
	if p.p == push.ProtocolAH {
		p.expectRaw("hello TUNE", p.fx["ws_ah_c2s_1_tune_hello.bin"])
		p.send(push.EncodeTune([]byte(`{"protocolName":"A:H"}`)))
		p.expectRaw("protocol TUNE", p.fx["ws_ah_c2s_2_tune_protocol_ah.bin"])
		ini := p.expectFrame(push.ChannelHandshake, "INI")
		if !bytes.HasPrefix(ini.Content, []byte("INI 0x00000003 1.0 0x00000024 ")) || !bytes.HasSuffix(ini.Content, []byte(" END ")) {
			p.t.Errorf("INI %q", ini.Content)
		}
		p.send(push.EncodeMessage(p.p, push.ChannelHandshake, 0x1, []byte("ACK 0x00000003 1.0 0x00000024 ff1c4525-c036-4942-bf6c-a098755ac82f 0x00000001 ")))
	} else {
		p.send(push.EncodeTune([]byte(`{"protocolName":"A:F"}`)))
		p.expectRaw("protocol TUNE", p.fx["ws_af_c2s_1_tune_protocol_af.bin"])
	}
	reg := p.expectFrame(push.ChannelGateway, "GWM")
	want, _ := push.ParseFrame(p.fx["ws_ah_c2s_4_gw_register.bin"])
	if !bytes.Equal(reg.Content, want.Content) {
		p.t.Errorf("register content %q", reg.Content)
	}
	p.pong(p.expectFrame(push.ChannelHeartbeat, "PIN"))
}

// idle answers PINs until the client goes away.
func (p peer) idle() {
	for {
		b, ok := p.read()
		if !ok {
			return
		}
		if f, err := push.ParseFrame(b); err == nil && f.Type() == "PIN" {
			p.pong(f)
		}
	}
}

// verifySignature (called from the server goroutine, so no t.Fatal) checks x-adp-signature the way Amazon would: RSA PKCS#1
// v1.5 SHA-256 over "GET\n{path}\n{time}\n\n{adp token}", then ":" and the time.
func verifySignature(t *testing.T, r *http.Request, pub *rsa.PublicKey) {
	t.Helper()
	if r.Header.Get("x-adp-token") != "adp-token" || r.Header.Get("x-adp-alg") != "SHA256WithRSA:1.0" {
		t.Errorf("adp headers %v", r.Header)
	}
	sig64, stamp, ok := strings.Cut(r.Header.Get("x-adp-signature"), ":")
	if _, err := time.Parse(time.RFC3339, stamp); !ok || err != nil {
		t.Errorf("signature %q", r.Header.Get("x-adp-signature"))
		return
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		t.Error(err)
		return
	}
	digest := sha256.Sum256([]byte("GET\n" + r.URL.Path + "\n" + stamp + "\n\nadp-token"))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("signature: %v", err)
	}
}

func TestWebsocketAF(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fx := clientFixtures(t)
	volume := fixture(t, "ws_af_s2c_push_volume_change.bin")
	badSum := bytes.Clone(volume)
	badSum[300] ^= 1
	var conns atomic.Int32
	srv := wsServer(t, func(c *websocket.Conn, r *http.Request) {
		p := peer{t, c, push.ProtocolAF, fx}
		if r.URL.Path != "/tcomm/" || r.Header.Get("x-dp-comm-tuning") != "A:F;A:H" || r.Header.Get("Cookie") != "ubid-main=1; at-main=x" {
			t.Errorf("upgrade request %s %v", r.URL, r.Header)
		}
		if r.Header.Get("Origin") != "https://alexa.amazon.de" {
			t.Errorf("Origin %q", r.Header.Get("Origin"))
		}
		verifySignature(t, r, &key.PublicKey)
		p.handshake()
		if conns.Add(1) > 1 {
			p.idle()
			return
		}
		p.send([]byte("MSG not a frame"))
		p.send(badSum)
		p.send(volume)
		p.send(volume) // duplicate
		p.send(push.EncodeMessage(push.ProtocolAF, push.ChannelGateway, 9,
			[]byte(`GWM MSG 0x0000b479 0x00000001 a 0x00000001 b {"command":"PUSH_SOMETHING_NEW","payload":"{}","timeStamp":1}`)))
		// The writer goroutine keeps sending PINs; answer one, then drop the connection.
		p.pong(p.expectFrame(push.ChannelHeartbeat, "PIN"))
	})
	sl := &sleeps{}
	src := push.NewWebsocket(push.WebsocketOptions{
		URL:            srv.URL, // http:// becomes ws://
		Cookie:         "ubid-main=1; at-main=x",
		ADPToken:       "adp-token",
		PrivateKey:     key,
		Header:         http.Header{"Origin": {"https://alexa.amazon.de"}},
		PingInterval:   5 * time.Millisecond,
		HandshakePause: -1,
		Backoff:        func(n int) time.Duration { return time.Duration(n+1) * time.Second },
		Sleep:          sl.sleep,
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder()
	done := start(t, ctx, src, rec)
	rec.waitConnected(t)
	got := rec.waitPushes(t, 1)
	if got[0].Command != "PUSH_VOLUME_CHANGE" || got[0].Device.SerialNumber != "G091EV0805250VTN" {
		t.Errorf("push %+v", got[0])
	}
	rec.waitConnected(t) // reconnected after the drop
	cancel()             // the second connection is idle: closing must not wait for a message
	waitDone(t, done)

	st := src.Stats()
	if st.Delivered != 1 || st.Duplicates != 1 || st.Malformed != 2 || st.Unknown != 1 || st.Reconnects != 1 || st.KeepAlives < 3 {
		t.Errorf("stats %+v", st)
	}
	if d := sl.get(); len(d) != 1 || d[0] != time.Second {
		t.Errorf("sleeps %v, want [1s]", d)
	}
}

func TestWebsocketAH(t *testing.T) {
	fx := clientFixtures(t)
	volume, err := push.ParseFrame(fixture(t, "ws_af_s2c_push_volume_change.bin"))
	if err != nil {
		t.Fatal(err)
	}
	srv := wsServer(t, func(c *websocket.Conn, r *http.Request) {
		p := peer{t, c, push.ProtocolAH, fx}
		q := r.URL.Query()
		if r.URL.Path != "/" || q.Get("x-amz-device-type") != "ALEGCNGL9K0HM" || !strings.HasPrefix(q.Get("x-amz-device-serial"), "262-1234567-1234567-") {
			t.Errorf("upgrade URL %s", r.URL)
		}
		if r.Header.Get("x-dp-comm-tuning") != "" {
			t.Error("A:H sends no A:F headers")
		}
		p.handshake()
		// The same push in the A:H text framing.
		p.send(push.EncodeMessage(push.ProtocolAH, push.ChannelGateway, 7, volume.Content))
		p.idle()
	})
	src := push.NewWebsocket(push.WebsocketOptions{
		URL:            strings.Replace(srv.URL, "http://", "ws://", 1),
		Protocol:       push.ProtocolAH,
		Cookie:         "session-id=1; ubid-acbde=262-1234567-1234567; x=y",
		HandshakePause: -1,
		Sleep:          (&sleeps{}).sleep,
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder()
	done := start(t, ctx, src, rec)
	rec.waitConnected(t)
	got := rec.waitPushes(t, 1)
	if got[0].Command != "PUSH_VOLUME_CHANGE" || !got[0].Time.Equal(time.UnixMilli(1636996481225)) {
		t.Errorf("push %+v", got[0])
	}
	cancel()
	waitDone(t, done)
}

func TestWebsocketFailures(t *testing.T) {
	pong := fixture(t, "ws_af_s2c_pong.bin")
	tests := []struct {
		name   string
		server http.HandlerFunc
		reauth bool
	}{
		{
			name:   "upgrade refused 401",
			server: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) },
			reauth: true,
		},
		{
			name: "close 4001",
			server: func(w http.ResponseWriter, r *http.Request) {
				c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "before - Could not find any valid credentials"))
				_, _, _ = c.ReadMessage()
			},
			reauth: true,
		},
		{
			name: "first frame is not a TUNE",
			server: func(w http.ResponseWriter, r *http.Request) {
				c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.WriteMessage(websocket.BinaryMessage, pong)
				_, _, _ = c.ReadMessage()
			},
		},
		{
			name:   "not a websocket",
			server: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusServiceUnavailable) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.server)
			defer srv.Close()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var lastErr error
			var src *push.Websocket
			sl := &sleeps{on: func(int) {
				lastErr = src.LastError()
				cancel()
			}}
			src = push.NewWebsocket(push.WebsocketOptions{
				URL: srv.URL, HandshakePause: -1, Sleep: sl.sleep,
				ReauthRetry: 7 * time.Minute,
				Backoff:     func(int) time.Duration { return time.Second },
			})
			waitDone(t, start(t, ctx, src, newRecorder()))
			want := time.Second
			if tc.reauth {
				want = 7 * time.Minute
			}
			if d := sl.get(); len(d) != 1 || d[0] != want {
				t.Errorf("sleeps %v, want [%v]", d, want)
			}
			if lastErr == nil || errors.Is(lastErr, push.ErrReauthRequired) != tc.reauth {
				t.Errorf("LastError %v, reauth %v", lastErr, tc.reauth)
			}
		})
	}
}

// A websocket whose session's cookies were renewed while it waited (the
// gateway refused the stale ones) reconnects with the current cookies:
// CookieFunc is asked at every connect.
func TestWebsocketReconnectsWithTheCurrentCookie(t *testing.T) {
	const stale, renewed = "ubid-main=1; at-main=stale", "ubid-main=1; at-main=renewed"
	fx := clientFixtures(t)
	var (
		mu   sync.Mutex
		seen []string
	)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Cookie"))
		mu.Unlock()
		if r.Header.Get("Cookie") != renewed {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		p := peer{t, c, push.ProtocolAF, fx}
		p.handshake()
		p.idle()
	}))
	defer srv.Close()
	var cookie atomic.Value
	cookie.Store(stale)
	// The keeper renews the cookies while the source waits to retry.
	sl := &sleeps{on: func(int) { cookie.Store(renewed) }}
	src := push.NewWebsocket(push.WebsocketOptions{URL: srv.URL, HandshakePause: -1, Sleep: sl.sleep,
		CookieFunc: func() string { return cookie.Load().(string) }})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder()
	done := start(t, ctx, src, rec)
	rec.waitConnected(t)
	cancel()
	waitDone(t, done)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{stale, renewed}) {
		t.Errorf("connects sent the cookies %q, want the stale one, then the renewed one", seen)
	}
	if d := sl.get(); len(d) != 1 || d[0] != 10*time.Minute {
		t.Errorf("sleeps %v, want the re-authentication wait", d)
	}
}

func TestWebsocketRunRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]push.WebsocketOptions{
		"bad scheme": {URL: "ftp://example.com"},
		"no host":    {URL: "wss://"},
		"protocol":   {URL: "wss://example.com", Protocol: "A:Z"},
	} {
		if err := push.NewWebsocket(o).Run(t.Context(), func(push.Push) {}, nil); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}
