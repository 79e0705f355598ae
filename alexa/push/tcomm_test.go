package push_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/push"
)

// fixture reads a file copied from ../shared/fixtures/alexa (see testdata/README.md).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFrameFixtures(t *testing.T) {
	tests := []struct {
		file      string
		service   string
		framing   push.Protocol
		channel   uint32
		messageID uint32
		typ       string
		// stated is the checksum written in the frame when it differs from
		// the computed one (only the A:F protocol TUNE, see the fixture README).
		stated uint32
	}{
		{file: "ws_ah_c2s_1_tune_hello.bin", service: "TUNE", typ: "A:H"},
		{file: "ws_ah_c2s_2_tune_protocol_ah.bin", service: "TUNE", typ: `{"p`},
		{file: "ws_af_c2s_1_tune_protocol_af.bin", service: "TUNE", typ: `{"p`, stated: 0xfe88bc52},
		{file: "ws_ah_c2s_3_gw_handshake_ini.bin", service: "FABE", framing: push.ProtocolAH, channel: 0x361, messageID: 0x0e414e45, typ: "INI"},
		{file: "ws_ah_c2s_4_gw_register.bin", service: "FABE", framing: push.ProtocolAH, channel: 0x362, messageID: 0x0e414e46, typ: "GWM"},
		{file: "ws_ah_c2s_5_ping.bin", service: "FABE", framing: push.ProtocolAH, channel: 0x65, messageID: 0x0e414e47, typ: "PIN"},
		{file: "ws_af_c2s_gw_register_SYNTHETIC.bin", service: "FABE", framing: push.ProtocolAF, channel: 0x362, messageID: 1, typ: "GWM"},
		{file: "ws_af_c2s_gw_register_alexa-remote2.bin", service: "FABE", framing: push.ProtocolAF, channel: 0x362, messageID: 0x2bb480b7, typ: "GWM"},
		{file: "ws_af_c2s_ping_SYNTHETIC.bin", service: "FABE", framing: push.ProtocolAF, channel: 0x65, messageID: 2, typ: "PIN"},
		{file: "ws_af_s2c_pong.bin", service: "FABE", framing: push.ProtocolAF, channel: 0x65, messageID: 0x092f48c9, typ: "PON"},
		{file: "ws_af_s2c_push_volume_change.bin", service: "FABE", framing: push.ProtocolAF, channel: 0x362, messageID: 0x07fd783f, typ: "GWM"},
	}
	files, _ := filepath.Glob("testdata/ws_*.bin")
	if len(files) != len(tests) {
		t.Fatalf("%d ws fixtures, %d cases: cover every fixture", len(files), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b := fixture(t, tc.file)
			f, err := push.ParseFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.Service != tc.service || f.Framing != tc.framing || f.Channel != tc.channel || f.MessageID != tc.messageID {
				t.Errorf("got %s %s channel %#x id %#x", f.Service, f.Framing, f.Channel, f.MessageID)
			}
			if got := f.Type(); got != tc.typ {
				t.Errorf("type %q, want %q", got, tc.typ)
			}
			if int(f.Length) != len(b) {
				t.Errorf("length %d, file %d", f.Length, len(b))
			}
			sum, err := push.Checksum(b)
			if err != nil {
				t.Fatal(err)
			}
			want := f.Checksum
			if tc.stated != 0 {
				if f.Checksum != tc.stated {
					t.Errorf("stated checksum %#x, want %#x", f.Checksum, tc.stated)
				}
				want = 0xa6f4a951 // what the algorithm gives; real clients send the wrong one
			}
			if sum != want {
				t.Errorf("checksum %#08x, want %#08x", sum, want)
			}
		})
	}
}

func TestEncodeReproducesFixtures(t *testing.T) {
	iniTime := time.UnixMilli(0x00000164d106ce6b)
	ahPing := fixture(t, "ws_ah_c2s_5_ping.bin")
	ahPingContent := ahPing[61 : len(ahPing)-4] // the JS client's odd time stamp cannot come from a time.Time
	tests := []struct {
		file string
		got  []byte
	}{
		{"ws_ah_c2s_1_tune_hello.bin", push.HelloTune()},
		{"ws_ah_c2s_2_tune_protocol_ah.bin", push.ProtocolTune(push.ProtocolAH)},
		{"ws_af_c2s_1_tune_protocol_af.bin", push.ProtocolTune(push.ProtocolAF)},
		{"ws_ah_c2s_3_gw_handshake_ini.bin", push.EncodeINI(push.ProtocolAH, 0x0e414e45, "ff1c4525-c036-4942-bf6c-a098755ac82f", iniTime)},
		{"ws_ah_c2s_4_gw_register.bin", push.EncodeRegister(push.ProtocolAH, 0x0e414e46)},
		{"ws_ah_c2s_5_ping.bin", push.EncodeMessage(push.ProtocolAH, push.ChannelHeartbeat, 0x0e414e47, ahPingContent)},
		{"ws_af_c2s_gw_register_SYNTHETIC.bin", push.EncodeRegister(push.ProtocolAF, 1)},
		{"ws_af_c2s_gw_register_alexa-remote2.bin", push.EncodeRegister(push.ProtocolAF, 0x2bb480b7)},
		{"ws_af_c2s_ping_SYNTHETIC.bin", push.EncodePing(push.ProtocolAF, 2, time.UnixMilli(1700000000000))},
		{"ws_af_s2c_pong.bin", push.EncodeMessage(push.ProtocolAF, push.ChannelHeartbeat, 0x092f48c9, push.HeartbeatContent("PON", 0x6c821f6d6c821f6d))},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if want := fixture(t, tc.file); !bytes.Equal(tc.got, want) {
				t.Errorf("encoded\n%q\nwant\n%q", tc.got, want)
			}
		})
	}
}

func TestDecodeGWMVolumeChange(t *testing.T) {
	frame := fixture(t, "ws_af_s2c_push_volume_change.bin")
	f, err := push.ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range map[string][]byte{"frame": frame, "content": f.Content} {
		t.Run(name, func(t *testing.T) {
			pushes, err := push.DecodeGWM(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(pushes) != 1 {
				t.Fatalf("got %d pushes", len(pushes))
			}
			p := pushes[0]
			if p.Command != "PUSH_VOLUME_CHANGE" {
				t.Errorf("command %q", p.Command)
			}
			if want := (push.Device{SerialNumber: "G091EV0805250VTN", DeviceType: "A2U21SRK4QGSE1"}); p.Device != want {
				t.Errorf("device %+v", p.Device)
			}
			if !p.Time.Equal(time.UnixMilli(1636996481225)) {
				t.Errorf("time %v", p.Time)
			}
			var payload struct {
				VolumeSetting int  `json:"volumeSetting"`
				IsMuted       bool `json:"isMuted"`
			}
			if err := json.Unmarshal(p.Payload, &payload); err != nil || payload.VolumeSetting != 30 || payload.IsMuted {
				t.Errorf("payload %s (%v)", p.Payload, err)
			}
			if p.Key == "" {
				t.Error("a time-stamped push needs a dedup key")
			}
		})
	}
}

func TestDecodeGWMRegister(t *testing.T) {
	// The client's own register is a GWM too; it decodes to its command.
	for _, file := range []string{"ws_ah_c2s_4_gw_register.bin", "ws_af_c2s_gw_register_alexa-remote2.bin"} {
		pushes, err := push.DecodeGWM(fixture(t, file))
		if err != nil || len(pushes) != 1 || pushes[0].Command != "REGISTER_CONNECTION" {
			t.Errorf("%s: %+v, %v", file, pushes, err)
		}
		if push.Known(pushes[0].Command) {
			t.Errorf("REGISTER_CONNECTION must not count as a push")
		}
	}
}

func TestDecodeGWMLengthsThatDoNotAddUp(t *testing.T) {
	content := []byte(`GWM MSG 0x0000b479 0x00000999 urn:a 0x00000001 urn:b {"command":"PUSH_DND_STATE_CHANGE","payload":"{\"enabled\":true}"}`)
	pushes, err := push.DecodeGWM(content)
	if err != nil || len(pushes) != 1 || pushes[0].Command != "PUSH_DND_STATE_CHANGE" {
		t.Fatalf("%+v, %v", pushes, err)
	}
}

func TestDecodeGWMOtherChannel(t *testing.T) {
	pushes, err := push.DecodeGWM([]byte(`GWM MSG 0x00001234 0x00000001 a 0x00000001 b {"command":"X"}`))
	if err != nil || len(pushes) != 0 {
		t.Fatalf("another inner channel carries no push: %+v, %v", pushes, err)
	}
}

func TestParseFrameRejects(t *testing.T) {
	good := fixture(t, "ws_af_s2c_push_volume_change.bin")
	goodText := fixture(t, "ws_ah_c2s_4_gw_register.bin")
	flipped := bytes.Clone(good)
	flipped[300] ^= 1
	flippedText := bytes.Clone(goodText)
	flippedText[100] ^= 1
	longer := bytes.Clone(good)
	binary.BigEndian.PutUint32(longer[20:], uint32(len(good)+1))
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, push.ErrMalformed},
		{"garbage", []byte("hello world, not a frame"), push.ErrMalformed},
		{"truncated binary", good[:len(good)-1], push.ErrMalformed},
		{"truncated header", good[:20], push.ErrMalformed},
		{"stated length differs", longer, push.ErrMalformed},
		{"binary checksum", flipped, push.ErrChecksum},
		{"text checksum", flippedText, push.ErrChecksum},
		{"text header layout", append([]byte("MSG 0xZZZZZZZZ"), goodText[14:]...), push.ErrMalformed},
		{"tune without trailer", []byte("0x99d4f71a 0x0000001d A:HTUNX"), push.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := push.ParseFrame(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeGWMRejects(t *testing.T) {
	for _, msg := range []string{
		"",
		"GWM",
		"GWM MSG 0x0000b479",
		"GWM MSG 0x0000b479 0x00000001 a 0x00000001 b no json",
		`GWM MSG 0x0000b479 0x00000001 a 0x00000001 b {"payload":"{}"}`,
		`GWM MSG 0x0000b479 0x00000001 a 0x00000001 b {"command":"PUSH_X","payload":"{not json"}`,
		"PIN....",
	} {
		if pushes, err := push.DecodeGWM([]byte(msg)); !errors.Is(err, push.ErrMalformed) {
			t.Errorf("%q: %+v, %v; want ErrMalformed", msg, pushes, err)
		}
	}
}

// FuzzParseFrame: no panic on any input, and a frame that parses is exactly
// what the encoder produces from its fields.
func FuzzParseFrame(f *testing.F) {
	files, _ := filepath.Glob("testdata/ws_*.bin")
	for _, file := range files {
		f.Add(fixture(f, filepath.Base(file)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := push.ParseFrame(b)
		if err != nil {
			return
		}
		var again []byte
		switch {
		case fr.Service == push.ServiceTune:
			again = push.EncodeTune(fr.Content)
			if sum, _ := push.Checksum(b); sum != fr.Checksum {
				return // TUNE checksums are not checked; nothing to compare
			}
		case fr.Seq == 1:
			again = push.EncodeMessage(fr.Framing, fr.Channel, fr.MessageID, fr.Content)
		default:
			return
		}
		// Headers may use upper-case hex; the encoder writes lower case.
		if !bytes.EqualFold(again, b) || !bytes.Equal(again[len(again)-len(fr.Content)-4:], b[len(b)-len(fr.Content)-4:]) {
			t.Fatalf("re-encoded\n%q\ninput\n%q", again, b)
		}
	})
}

// FuzzDecodeGWM: no panic, and whatever decodes has a command and a JSON payload.
func FuzzDecodeGWM(f *testing.F) {
	frame := fixture(f, "ws_af_s2c_push_volume_change.bin")
	f.Add(frame)
	f.Add(frame[24 : len(frame)-4])
	f.Add(fixture(f, "ws_ah_c2s_4_gw_register.bin"))
	f.Add([]byte(`GWM MSG 0x0000b479 0x00000999 urn:a 0x00000001 urn:b {"command":"PUSH_X","payload":{"dsn":"S"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pushes, err := push.DecodeGWM(b)
		if err != nil {
			return
		}
		checkPushes(t, pushes)
	})
}

func checkPushes(t *testing.T, pushes []push.Push) {
	t.Helper()
	for _, p := range pushes {
		if p.Command == "" {
			t.Fatalf("push without command: %+v", p)
		}
		if p.Payload != nil && !json.Valid(p.Payload) {
			t.Fatalf("payload is not JSON: %q", p.Payload)
		}
	}
}
