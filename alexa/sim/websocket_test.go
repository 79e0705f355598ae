package sim_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/alexa/sim"
)

func TestTcommFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/ws_*.bin")
	if err != nil || len(files) < 10 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := sim.DecodeTcomm(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		base := filepath.Base(name)
		switch {
		case strings.Contains(base, "tune"):
			if !f.Tune {
				t.Errorf("%s: not a TUNE", base)
			}
		case strings.HasPrefix(base, "ws_ah_"):
			if f.Protocol != "A:H" {
				t.Errorf("%s: protocol %q", base, f.Protocol)
			}
		default:
			if f.Protocol != "A:F" {
				t.Errorf("%s: protocol %q", base, f.Protocol)
			}
		}
		// Re-encoding a MSG frame's content reproduces the frame.
		if !f.Tune {
			if got := sim.EncodeMsg(f.Protocol, f.Channel, f.MessageID, f.Content); !bytes.Equal(got, b) {
				t.Errorf("%s: re-encoded\n%x\nwant\n%x", base, got, b)
			}
		}
	}
	// Amazon's push: the GWM content the simulator builds is the captured
	// one.
	push := readFile(t, "testdata/ws_af_s2c_push_volume_change.bin")
	f, _ := sim.DecodeTcomm(push)
	js, err := sim.GWMJSON(f.Content)
	if err != nil || !bytes.HasPrefix(js, []byte(`{"command":"PUSH_VOLUME_CHANGE"`)) {
		t.Fatalf("GWM JSON %q: %v", js, err)
	}
	urn2 := "urn:tcomm-endpoint:device:customerId:A1ENBTN1L78ELS:deviceType:A2IVLV5VM2W81:deviceSerialNumber:78bec8cc860ac3a1bc3747a1ab766f3a"
	if got := sim.GWMMessage(sim.PushServiceURN, urn2, js); !bytes.Equal(got, f.Content) {
		t.Errorf("GWM content\n%q\nwant\n%q", got, f.Content)
	}
	// The A:F parameters TUNE every client sends has a checksum that does
	// not verify; it is accepted. The simulator's own TUNEs verify.
	tune := sim.EncodeTune([]byte(`{"protocolName":"A:H"}`))
	if got := string(tune[:10]); got != "0x"+hex.EncodeToString(be32(sim.TcommChecksum(tune, 0, 11))) {
		t.Errorf("TUNE checksum %s", got)
	}
	if got := readFile(t, "testdata/ws_ah_c2s_1_tune_hello.bin"); !bytes.Equal(sim.EncodeTune([]byte("A:H")), got) {
		t.Errorf("hello TUNE %q, want %q", sim.EncodeTune([]byte("A:H")), got)
	}
	// A corrupted MSG frame is refused.
	bad := bytes.Clone(readFile(t, "testdata/ws_af_c2s_gw_register_alexa-remote2.bin"))
	bad[40] ^= 1
	if _, err := sim.DecodeTcomm(bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted frame: %v", err)
	}
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// dialTcomm opens the websocket push with the headers alexa-remote2 sends.
func dialTcomm(t *testing.T, e *env, path string, header http.Header) *websocket.Conn {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Cookie") == "" {
		header.Set("Cookie", webCookie)
	}
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: maxWait}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(e.ts.URL, "http")+path, header)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", path, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readMessage reads the next message. A message (or close) that does not
// come within maxWait fails the test rather than hanging it.
func readMessage(t *testing.T, conn *websocket.Conn) (int, []byte, error) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(maxWait))
	typ, b, err := conn.ReadMessage()
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("websocket: nothing within %v", maxWait)
	}
	return typ, b, err
}

// readFrame reads one binary message and decodes it.
func readFrame(t *testing.T, conn *websocket.Conn) (sim.TcommFrame, []byte) {
	t.Helper()
	typ, b, err := readMessage(t, conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.BinaryMessage {
		t.Fatalf("message type %d", typ)
	}
	f, err := sim.DecodeTcomm(b)
	if err != nil {
		t.Fatalf("server frame %q: %v", b, err)
	}
	return f, b
}

func send(t *testing.T, conn *websocket.Conn, b []byte) {
	t.Helper()
	if err := conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		t.Fatal(err)
	}
}

// checkPong sends a PIN and expects the PON echoing its payload.
func checkPong(t *testing.T, conn *websocket.Conn, ping []byte, protocol string) {
	t.Helper()
	send(t, conn, ping)
	pin, _ := sim.DecodeTcomm(ping)
	f, _ := readFrame(t, conn)
	if f.Protocol != protocol || f.Channel != 0x65 || !bytes.Equal(f.Content, append([]byte("PON"), pin.Content[3:]...)) {
		t.Fatalf("PON %+v", f)
	}
}

// pushedGWM reads a push and returns its command and payload string.
func pushedGWM(t *testing.T, conn *websocket.Conn, protocol string) (string, string) {
	t.Helper()
	f, _ := readFrame(t, conn)
	if f.Protocol != protocol || f.Channel != 0x362 {
		t.Fatalf("push frame %+v", f)
	}
	js, err := sim.GWMJSON(f.Content)
	if err != nil {
		t.Fatal(err)
	}
	var m metadata
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatalf("GWM JSON %q: %v", js, err)
	}
	return m.Command, m.Payload
}

// TestWebsocketAF is the type 2 (signed, /tcomm/) handshake with the frames
// alexa-remote2 sends.
func TestWebsocketAF(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	conn := dialTcomm(t, e, "/tcomm/", http.Header{"X-Dp-Comm-Tuning": {"A:F;A:H"}, "X-Dp-Reason": {"ClientInitiated;1"}})

	f, _ := readFrame(t, conn)
	var tune struct{ ProtocolName string }
	if !f.Tune || json.Unmarshal(f.Content, &tune) != nil || tune.ProtocolName != "A:F" {
		t.Fatalf("first server frame %+v", f)
	}
	send(t, conn, readFile(t, "testdata/ws_af_c2s_1_tune_protocol_af.bin"))
	send(t, conn, readFile(t, "testdata/ws_af_c2s_gw_register_alexa-remote2.bin"))
	checkPong(t, conn, readFile(t, "testdata/ws_af_c2s_ping_SYNTHETIC.bin"), "A:F")

	// Registered: pushes arrive as GWM messages.
	payload := `{"destinationUserId":"A1PY8QQU9P0FJP","dopplerId":{"deviceSerialNumber":"G000AA0000000000","deviceType":"A3S5BH2HU6VAYF"},"isMuted":false,"volumeSetting":42}`
	if n := e.postPush(`{"command":"PUSH_VOLUME_CHANGE","payload":` + payload + `}`); n != 1 {
		t.Fatalf("pushed to %d clients", n)
	}
	if cmd, p := pushedGWM(t, conn, "A:F"); cmd != "PUSH_VOLUME_CHANGE" || p != payload {
		t.Errorf("push %s %s", cmd, p)
	}

	// raw_hex goes out byte for byte; raw is for the downchannel only.
	frame := readFile(t, "testdata/ws_af_s2c_push_volume_change.bin")
	if n := e.postPush(`{"raw_hex":"` + hex.EncodeToString(frame) + `"}`); n != 1 {
		t.Fatalf("raw_hex pushed to %d clients", n)
	}
	if _, got := readFrame(t, conn); !bytes.Equal(got, frame) {
		t.Errorf("raw frame %x", got)
	}
	if n := e.postPush(`{"raw":"{}"}`); n != 0 {
		t.Errorf("raw reached %d websocket clients", n)
	}

	// The control routes push here too.
	var added struct{ Clients int }
	e.do(http.MethodPost, "/_sim/lists/"+shoppingList+"/items", "", `{"text":"jam"}`).decode(t, http.StatusOK, &added)
	if added.Clients != 1 {
		t.Fatalf("list item pushed to %d clients", added.Clients)
	}
	if cmd, p := pushedGWM(t, conn, "A:F"); cmd != "PUSH_LIST_ITEM_CHANGE" || !strings.Contains(p, `"eventName":"itemCreated"`) {
		t.Errorf("list push %s %s", cmd, p)
	}
	checkPong(t, conn, readFile(t, "testdata/ws_af_c2s_ping_SYNTHETIC.bin"), "A:F")
}

// TestWebsocketAH is the type 1 (cookie only) handshake: the client opens
// with an A:H TUNE, the server names A:H, INI is answered with ACK.
func TestWebsocketAH(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	conn := dialTcomm(t, e, "/?x-amz-device-type=ALEGCNGL9K0HM&x-amz-device-serial=000-0000000-0000000-1700000000000", nil)
	// Logged at the upgrade: before the client has its connection.
	if reqs := e.sim.Requests(); len(reqs) != 1 || reqs[0].Path != "/" || reqs[0].Status != http.StatusSwitchingProtocols ||
		reqs[0].Query != "x-amz-device-type=ALEGCNGL9K0HM&x-amz-device-serial=000-0000000-0000000-1700000000000" {
		t.Errorf("request log after the upgrade: %+v", reqs)
	}

	send(t, conn, readFile(t, "testdata/ws_ah_c2s_1_tune_hello.bin"))
	f, _ := readFrame(t, conn)
	var tune struct{ ProtocolName string }
	if !f.Tune || json.Unmarshal(f.Content, &tune) != nil || tune.ProtocolName != "A:H" {
		t.Fatalf("server TUNE %+v", f)
	}
	send(t, conn, readFile(t, "testdata/ws_ah_c2s_2_tune_protocol_ah.bin"))
	send(t, conn, readFile(t, "testdata/ws_ah_c2s_3_gw_handshake_ini.bin"))
	f, _ = readFrame(t, conn)
	fields := strings.Fields(string(f.Content))
	if f.Protocol != "A:H" || f.Channel != 0x361 || len(fields) != 9 || fields[0] != "ACK" || fields[2] != "1.0" ||
		fields[6] != "0x00000164d106ce6b" || fields[8] != "END" {
		t.Fatalf("ACK %q", f.Content)
	}
	send(t, conn, readFile(t, "testdata/ws_ah_c2s_4_gw_register.bin"))
	checkPong(t, conn, readFile(t, "testdata/ws_ah_c2s_5_ping.bin"), "A:H")

	if n := e.postPush(`{"command":"PUSH_DOPPLER_CONNECTION_CHANGE","payload":{"dopplerConnectionState":"OFFLINE"}}`); n != 1 {
		t.Fatalf("pushed to %d clients", n)
	}
	if cmd, p := pushedGWM(t, conn, "A:H"); cmd != "PUSH_DOPPLER_CONNECTION_CHANGE" || p != `{"dopplerConnectionState":"OFFLINE"}` {
		t.Errorf("push %s %s", cmd, p)
	}
	// The device URN names the serial from the URL.
	if n := e.postPush(`{"command":"PUSH_X","payload":{}}`); n != 1 {
		t.Fatalf("pushed to %d clients", n)
	}
	f, _ = readFrame(t, conn)
	if !bytes.Contains(f.Content, []byte("deviceSerialNumber:000-0000000-0000000-1700000000000 ")) {
		t.Errorf("device URN in %q", f.Content)
	}
}

func TestWebsocketRefusals(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())

	t.Run("unregistered clients get no pushes", func(t *testing.T) {
		conn := dialTcomm(t, e, "/tcomm/", nil)
		readFrame(t, conn) // TUNE
		checkPong(t, conn, readFile(t, "testdata/ws_af_c2s_ping_SYNTHETIC.bin"), "A:F")
		if n := e.postPush(`{"command":"PUSH_X","payload":{}}`); n != 0 {
			t.Errorf("pushed to %d clients", n)
		}
	})
	t.Run("bad checksum closes", func(t *testing.T) {
		conn := dialTcomm(t, e, "/tcomm/", nil)
		readFrame(t, conn)
		bad := bytes.Clone(readFile(t, "testdata/ws_af_c2s_gw_register_alexa-remote2.bin"))
		bad[100] ^= 1
		send(t, conn, bad)
		_, _, err := readMessage(t, conn)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseProtocolError {
			t.Errorf("after a bad frame: %v", err)
		}
	})
	t.Run("no cookie", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: maxWait}
		conn, _, err := d.Dial("ws"+strings.TrimPrefix(e.ts.URL, "http")+"/tcomm/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _, err = readMessage(t, conn)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || !strings.HasPrefix(ce.Text, "before - Could not find any") {
			t.Errorf("without a cookie: %v", err)
		}
	})
	t.Run("expired session cookies", func(t *testing.T) {
		refresh := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.RefreshToken
		got, _ := e.exchange("/ap/exchangetoken/cookies", refresh, ".amazon.com")
		header := http.Header{"Cookie": {cookieHeader(got[".amazon.com"])}}
		live := dialTcomm(t, e, "/tcomm/", header)
		if _, _, err := readMessage(t, live); err != nil {
			t.Fatalf("a live session gets no TUNE: %v", err)
		}
		e.do(http.MethodPost, "/_sim/auth/expire", "", map[string]any{"cookies": true})
		_, _, err := readMessage(t, dialTcomm(t, e, "/tcomm/", header))
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 {
			t.Errorf("with expired session cookies: %v", err)
		}
	})
	t.Run("plain GET", func(t *testing.T) {
		if r := e.do(http.MethodGet, "/", "", nil); r.status != http.StatusNotFound {
			t.Errorf("GET / without upgrade: %d", r.status)
		}
	})
}

// TestPushDrop checks the push=drop fault: open push connections on both
// transports break, new ones are refused until the faults are cleared.
func TestPushDrop(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	resp := openDirectives(t, e, testToken)
	conn := dialTcomm(t, e, "/tcomm/", nil)
	readFrame(t, conn)
	send(t, conn, readFile(t, "testdata/ws_af_c2s_gw_register_alexa-remote2.bin"))
	checkPong(t, conn, readFile(t, "testdata/ws_af_c2s_ping_SYNTHETIC.bin"), "A:F")
	if n := e.postPush(`{"command":"PUSH_X","payload":{}}`); n != 2 {
		t.Fatalf("pushed to %d clients, want 2", n)
	}
	readChunk(t, resp.Body)
	readFrame(t, conn)

	if r := e.do(http.MethodPost, "/_sim/faults", "", `{"push":"drop"}`); r.status != http.StatusOK {
		t.Fatalf("fault: %d %s", r.status, r.raw)
	}
	if got, err := readBody(t, resp.Body); err == nil {
		t.Errorf("downchannel still open after drop: %q", got)
	}
	if _, _, err := readMessage(t, conn); err == nil {
		t.Error("websocket still open after drop")
	}
	if n := e.postPush(`{"command":"PUSH_X","payload":{}}`); n != 0 {
		t.Errorf("pushed to %d clients after drop", n)
	}
	if resp := getDirectives(t, e, testToken); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("directives while dropped: %d", resp.StatusCode)
	}
	if _, resp, err := (&websocket.Dialer{HandshakeTimeout: maxWait}).Dial("ws"+strings.TrimPrefix(e.ts.URL, "http")+"/tcomm/", http.Header{"Cookie": {webCookie}}); err == nil ||
		resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("websocket while dropped: %v %v", err, resp)
	}

	e.do(http.MethodDelete, "/_sim/faults", "", nil)
	resp = openDirectives(t, e, testToken)
	if n := e.postPush(`{"command":"PUSH_X","payload":{}}`); n != 1 {
		t.Fatalf("after clearing: pushed to %d clients", n)
	}
	readChunk(t, resp.Body)
}
