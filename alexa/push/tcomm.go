package push

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
)

// Protocol is a tcomm framing: "A:H" (text headers, 2018–2021) or "A:F"
// (binary headers, signed connect, 2021–2023).
type Protocol string

// The two tcomm protocols.
const (
	ProtocolAH Protocol = "A:H"
	ProtocolAF Protocol = "A:F"
)

// tcomm channels.
const (
	ChannelHeartbeat uint32 = 0x65  // PIN / PON
	ChannelHandshake uint32 = 0x361 // INI / ACK
	ChannelGateway   uint32 = 0x362 // GWM messages
	// ChannelMessaging is the GWM inner channel of Alexa pushes
	// (DEE_WEBSITE_MESSAGING).
	ChannelMessaging uint32 = 0xb479
)

// Frame services, the frames' last four bytes.
const (
	ServiceTune = "TUNE"
	ServiceFABE = "FABE"
)

const (
	textHeaderLen   = 61 // "MSG 0x%08x 0x%08x f 0x%08x 0x%08x 0x%08x "
	binaryHeaderLen = 24 // "MSG" channel id 'f' seq checksum length
	tuneHeaderLen   = 22 // "0x%08x 0x%08x "
)

// Frame is one tcomm frame (one websocket binary message).
type Frame struct {
	Service   string   // ServiceTune or ServiceFABE
	Framing   Protocol // framing of a FABE frame (A:H text or A:F binary); "" for TUNE
	Channel   uint32   // FABE only
	MessageID uint32   // FABE only
	Seq       uint32   // FABE only; always 1 in practice
	Checksum  uint32   // as stated in the frame
	Length    uint32   // as stated: the whole frame, header and trailer included
	Content   []byte   // between header and trailer; aliases the input
}

// Type is the content's three-letter type: "GWM", "PIN", "PON", "INI",
// "ACK", or "" if the content is shorter.
func (f Frame) Type() string {
	if len(f.Content) < 3 {
		return ""
	}
	return string(f.Content[:3])
}

// ParseFrame parses a tcomm frame in any of the three framings (TUNE, A:H
// text FABE, A:F binary FABE) and checks its stated length. A FABE frame's
// checksum must match (ErrChecksum); a TUNE frame's is not checked, because
// the A:F protocol TUNE every real client sends carries a wrong one
// (0xfe88bc52) and Amazon's server evidently ignores it.
func ParseFrame(b []byte) (Frame, error) {
	f, lo, hi, err := parseHeader(b)
	if err != nil {
		return Frame{}, err
	}
	if int(f.Length) != len(b) {
		return Frame{}, fmt.Errorf("push: frame: %w: stated length %d, got %d bytes", ErrMalformed, f.Length, len(b))
	}
	if f.Service == ServiceFABE {
		if sum := checksum(b, lo, hi); sum != f.Checksum {
			return Frame{}, fmt.Errorf("push: frame: %w: stated %#08x, computed %#08x", ErrChecksum, f.Checksum, sum)
		}
	}
	return f, nil
}

// parseHeader reads a frame's header and returns it with the checksum
// window [lo, hi).
func parseHeader(b []byte) (f Frame, lo, hi int, err error) {
	bad := func(why string) (Frame, int, int, error) {
		return Frame{}, 0, 0, fmt.Errorf("push: frame: %w: %s", ErrMalformed, why)
	}
	switch {
	case bytes.HasPrefix(b, []byte("MSG 0x")):
		if len(b) < textHeaderLen+4 || !bytes.HasSuffix(b, []byte(ServiceFABE)) {
			return bad("short text frame or no FABE trailer")
		}
		h := b[:textHeaderLen]
		if string(h[25:28]) != " f " || h[14] != ' ' || h[38] != ' ' || h[49] != ' ' || h[60] != ' ' {
			return bad("text header layout")
		}
		var fields [5]uint32
		for i, at := range [5]int{4, 15, 28, 39, 50} {
			v, ok := hex32(h[at : at+10])
			if !ok {
				return bad("text header number")
			}
			fields[i] = v
		}
		f = Frame{Service: ServiceFABE, Framing: ProtocolAH, Channel: fields[0], MessageID: fields[1],
			Seq: fields[2], Checksum: fields[3], Length: fields[4]}
		f.Content = b[textHeaderLen : len(b)-4]
		return f, 39, 50, nil
	case bytes.HasPrefix(b, []byte("MSG")):
		if len(b) < binaryHeaderLen+4 || !bytes.HasSuffix(b, []byte(ServiceFABE)) {
			return bad("short binary frame or no FABE trailer")
		}
		if b[11] != 'f' {
			return bad("binary header layout")
		}
		be := binary.BigEndian
		f = Frame{Service: ServiceFABE, Framing: ProtocolAF, Channel: be.Uint32(b[3:]), MessageID: be.Uint32(b[7:]),
			Seq: be.Uint32(b[12:]), Checksum: be.Uint32(b[16:]), Length: be.Uint32(b[20:])}
		f.Content = b[binaryHeaderLen : len(b)-4]
		return f, 16, 20, nil
	case bytes.HasPrefix(b, []byte("0x")):
		if len(b) < tuneHeaderLen+4 || !bytes.HasSuffix(b, []byte(ServiceTune)) {
			return bad("short TUNE frame or no TUNE trailer")
		}
		if b[10] != ' ' || b[21] != ' ' {
			return bad("TUNE header layout")
		}
		sum, ok1 := hex32(b[0:10])
		n, ok2 := hex32(b[11:21])
		if !ok1 || !ok2 {
			return bad("TUNE header number")
		}
		f = Frame{Service: ServiceTune, Checksum: sum, Length: n, Content: b[tuneHeaderLen : len(b)-4]}
		return f, 0, 11, nil
	}
	return bad("unknown framing")
}

// hex32 parses "0x" and eight hex digits.
func hex32(b []byte) (uint32, bool) {
	if len(b) != 10 || b[0] != '0' || b[1] != 'x' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[2:]), 16, 32)
	return uint32(v), err == nil
}

// Checksum computes the tcomm checksum of a complete frame in any framing,
// ignoring whatever its checksum field holds. It fails only when the framing
// is not recognised.
func Checksum(frame []byte) (uint32, error) {
	_, lo, hi, err := parseHeader(frame)
	if err != nil {
		return 0, err
	}
	return checksum(frame, lo, hi), nil
}

// checksum is the one's-complement style sum of the frame read as
// big-endian 32-bit words by position (byte i weighs 8·(3−i%4) bits),
// skipping [lo, hi), with carries folded back in.
func checksum(b []byte, lo, hi int) uint32 {
	var sum uint64
	for i, c := range b {
		if i >= lo && i < hi {
			continue
		}
		sum += uint64(c) << (8 * (3 - i%4))
		if sum>>56 != 0 { // fold early so huge inputs cannot overflow
			sum = sum&0xffffffff + sum>>32
		}
	}
	for sum>>32 != 0 {
		sum = sum&0xffffffff + sum>>32
	}
	return uint32(sum)
}

// EncodeTune builds a TUNE frame around content with a correct checksum.
func EncodeTune(content []byte) []byte {
	n := tuneHeaderLen + len(content) + 4
	b := make([]byte, 0, n)
	b = fmt.Appendf(b, "0x%08x 0x%08x ", 0, n)
	b = append(b, content...)
	b = append(b, ServiceTune...)
	copy(b, fmt.Sprintf("0x%08x", checksum(b, 0, 11)))
	return b
}

// EncodeMessage builds a FABE frame (sequence 1) in the framing of p with a
// correct checksum.
func EncodeMessage(p Protocol, channel, messageID uint32, content []byte) []byte {
	if p == ProtocolAF {
		n := binaryHeaderLen + len(content) + 4
		b := make([]byte, binaryHeaderLen, n)
		copy(b, "MSG")
		be := binary.BigEndian
		be.PutUint32(b[3:], channel)
		be.PutUint32(b[7:], messageID)
		b[11] = 'f'
		be.PutUint32(b[12:], 1)
		be.PutUint32(b[20:], uint32(n))
		b = append(b, content...)
		b = append(b, ServiceFABE...)
		be.PutUint32(b[16:], checksum(b, 16, 20))
		return b
	}
	n := textHeaderLen + len(content) + 4
	b := make([]byte, 0, n)
	b = fmt.Appendf(b, "MSG 0x%08x 0x%08x f 0x%08x 0x%08x 0x%08x ", channel, messageID, 1, 0, n)
	b = append(b, content...)
	b = append(b, ServiceFABE...)
	copy(b[39:], fmt.Sprintf("0x%08x", checksum(b, 39, 50)))
	return b
}

// HelloTune is the first frame of the A:H flow, sent right after the
// websocket opens: "0x99d4f71a 0x0000001d A:HTUNE".
func HelloTune() []byte { return EncodeTune([]byte(ProtocolAH)) }

// ProtocolTune is the client's protocol-parameters TUNE for p. For A:F it
// is the exact bytes every client has sent since 2021, including their
// wrong checksum, because that is what Amazon's server is known to accept.
func ProtocolTune(p Protocol) []byte {
	content := `{"protocolName":"` + string(p) + `","parameters":{"AlphaProtocolHandler.receiveWindowSize":"16","AlphaProtocolHandler.maxFragmentSize":"16000"}}`
	b := EncodeTune([]byte(content))
	if p == ProtocolAF {
		copy(b, "0xfe88bc52")
	}
	return b
}

// EncodeINI builds the A:H gateway handshake INI on ChannelHandshake.
func EncodeINI(p Protocol, messageID uint32, uuid string, t time.Time) []byte {
	content := fmt.Appendf(nil, "INI 0x%08x %s 0x%08x %s 0x%016x END ", 3, "1.0", len(uuid), uuid, uint64(t.UnixMilli()))
	return EncodeMessage(p, ChannelHandshake, messageID, content)
}

// registerContent is the GWM that registers the connection for pushes.
const registerContent = "GWM MSG 0x0000b479 0x0000003b urn:tcomm-endpoint:device:deviceType:0:deviceSerialNumber:0 " +
	"0x00000041 urn:tcomm-endpoint:service:serviceName:DeeWebsiteMessagingService " +
	`{"command":"REGISTER_CONNECTION"}`

// EncodeRegister builds the GWM REGISTER_CONNECTION on ChannelGateway.
func EncodeRegister(p Protocol, messageID uint32) []byte {
	return EncodeMessage(p, ChannelGateway, messageID, []byte(registerContent))
}

// HeartbeatContent is a PIN or PON body: the type, u32 0, a u64 time stamp
// (epoch ms), u32 7 and "Regular" in UTF-16BE.
func HeartbeatContent(typ string, stamp uint64) []byte {
	b := make([]byte, 0, 3+4+8+4+14)
	b = append(b, typ...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, stamp)
	b = binary.BigEndian.AppendUint32(b, 7)
	for _, u := range utf16.Encode([]rune("Regular")) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

// EncodePing builds a heartbeat PIN on ChannelHeartbeat with t as its time
// stamp (the JavaScript client writes the low 32 bits twice; the server
// echoes whatever it gets).
func EncodePing(p Protocol, messageID uint32, t time.Time) []byte {
	return EncodeMessage(p, ChannelHeartbeat, messageID, HeartbeatContent("PIN", uint64(t.UnixMilli())))
}

// DecodeGWM extracts the push from a GWM message on the gateway channel:
//
//	GWM MSG 0x0000b479 0x%08x <urn-1> 0x%08x <urn-2> {"command":…,"payload":"{…}","timeStamp":…}
//
// msg is either that content or a whole FABE frame carrying it (which is
// then parsed and checked first). A GWM on another inner channel carries no
// push: it yields none and no error.
func DecodeGWM(msg []byte) ([]Push, error) {
	content := msg
	if bytes.HasPrefix(msg, []byte("MSG")) {
		f, err := ParseFrame(msg)
		if err != nil {
			return nil, err
		}
		if f.Channel != ChannelGateway {
			return nil, fmt.Errorf("push: gwm: %w: frame on channel %#x", ErrMalformed, f.Channel)
		}
		content = f.Content
	}
	rest, ok := bytes.CutPrefix(content, []byte("GWM MSG "))
	if !ok || len(rest) < 11 || rest[10] != ' ' {
		return nil, fmt.Errorf("push: gwm: %w: header", ErrMalformed)
	}
	inner, ok := hex32(rest[:10])
	if !ok {
		return nil, fmt.Errorf("push: gwm: %w: inner channel", ErrMalformed)
	}
	if inner != ChannelMessaging {
		return nil, nil
	}
	rest = rest[11:]
	body, ok := gwmBody(rest)
	if !ok {
		// Lengths that do not add up: the URNs never contain '{', so the
		// JSON starts at the first one.
		i := bytes.IndexByte(rest, '{')
		if i < 0 {
			return nil, fmt.Errorf("push: gwm: %w: no JSON", ErrMalformed)
		}
		body = rest[i:]
	}
	p, err := decodeCommand(body, "")
	if err != nil {
		return nil, err
	}
	return []Push{p}, nil
}

// gwmBody skips the two length-prefixed URNs and returns the JSON after them.
func gwmBody(b []byte) ([]byte, bool) {
	for range 2 {
		if len(b) < 11 || b[10] != ' ' {
			return nil, false
		}
		n, ok := hex32(b[:10])
		if !ok || uint64(n) > uint64(len(b)-11) {
			return nil, false
		}
		b = b[11+int(n):]
		if len(b) == 0 || b[0] != ' ' {
			return nil, false
		}
		b = b[1:]
	}
	return b, len(b) > 0 && b[0] == '{'
}
