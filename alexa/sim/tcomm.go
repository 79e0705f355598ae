package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// The legacy websocket push ("tcomm", dp-gw-na.amazon.*) frames every
// message in one of three ways, told apart by the last four bytes and the
// start (research/alexa-protocol.md §1.2):
//
//   - TUNE, the protocol negotiation: "0x%08x 0x%08x " checksum and total
//     length, the content, then "TUNE".
//   - A:H: a 61-byte ASCII header "MSG 0x%08x 0x%08x f 0x%08x 0x%08x 0x%08x "
//     (channel, message id, sequence, checksum, total length), the content,
//     then "FABE".
//   - A:F: a 24-byte binary header "MSG", u32 channel, u32 message id, "f",
//     u32 sequence, u32 checksum, u32 total length (big endian), the content,
//     then "FABE".
//
// The total length always counts the whole frame.

// Channels of the tcomm protocol.
const (
	channelHandshake = 0x361 // GW_HANDSHAKE: INI / ACK
	channelGateway   = 0x362 // GW_CHANNEL: GWM messages
	channelHeartbeat = 0x65  // PIN / PON
)

// gwmWebsiteMessaging is the inner GWM channel of DEE_WEBSITE_MESSAGING,
// the one pushes and the register use.
const gwmWebsiteMessaging = 0xb479

// Framing protocols a connection negotiates.
const (
	protocolAH = "A:H"
	protocolAF = "A:F"
)

const (
	tuneTrailer = "TUNE"
	msgTrailer  = "FABE"
	ahHeaderLen = 61
	afHeaderLen = 24
)

// tcommFrame is one decoded frame.
type tcommFrame struct {
	// tune is true for a TUNE frame; only content is set then.
	tune bool
	// protocol is protocolAH or protocolAF for MSG frames.
	protocol  string
	channel   uint32
	messageID uint32
	seq       uint32
	checksum  uint32
	// content is everything between the header and the trailer.
	content []byte
}

// tcommChecksum is the tcomm frame checksum: the frame read as big-endian
// 32-bit words by position (byte i shifted left by 8·(3 − i mod 4)),
// skipping bytes [skipFrom, skipTo), summed with the carries folded back in
// (one's-complement style), as alexa-remote's computeChecksum does.
func tcommChecksum(b []byte, skipFrom, skipTo int) uint32 {
	var sum uint64
	for i, c := range b {
		if i >= skipFrom && i < skipTo {
			continue
		}
		sum += uint64(c) << (8 * (3 - uint(i)%4))
	}
	for sum>>32 != 0 {
		sum = sum&0xffffffff + sum>>32
	}
	return uint32(sum)
}

// encodeTune frames content as a TUNE message. The checksum skips the
// checksum field and its space, as in the TUNE frames clients send.
func encodeTune(content []byte) []byte {
	total := 22 + len(content) + len(tuneTrailer)
	b := make([]byte, 0, total)
	b = fmt.Appendf(b, "0x%08x 0x%08x ", 0, total)
	b = append(b, content...)
	b = append(b, tuneTrailer...)
	copy(b[0:10], fmt.Sprintf("0x%08x", tcommChecksum(b, 0, 11)))
	return b
}

// encodeMsg frames content on channel in protocol's framing, sequence 1.
func encodeMsg(protocol string, channel, messageID uint32, content []byte) []byte {
	if protocol == protocolAH {
		total := ahHeaderLen + len(content) + len(msgTrailer)
		b := make([]byte, 0, total)
		b = fmt.Appendf(b, "MSG 0x%08x 0x%08x f 0x%08x 0x%08x 0x%08x ", channel, messageID, 1, 0, total)
		b = append(b, content...)
		b = append(b, msgTrailer...)
		copy(b[39:49], fmt.Sprintf("0x%08x", tcommChecksum(b, 39, 50)))
		return b
	}
	total := afHeaderLen + len(content) + len(msgTrailer)
	b := make([]byte, afHeaderLen, total)
	copy(b, "MSG")
	binary.BigEndian.PutUint32(b[3:], channel)
	binary.BigEndian.PutUint32(b[7:], messageID)
	b[11] = 'f'
	binary.BigEndian.PutUint32(b[12:], 1)
	binary.BigEndian.PutUint32(b[20:], uint32(total))
	b = append(b, content...)
	b = append(b, msgTrailer...)
	binary.BigEndian.PutUint32(b[16:], tcommChecksum(b, 16, 20))
	return b
}

var errShortFrame = errors.New("frame too short")

// decodeTcomm decodes one frame. The checksum of MSG frames must verify;
// the one of TUNE frames is not checked, because the A:F parameters TUNE
// every client sends carries a constant that does not match (fixtures
// README) and Amazon evidently accepts it.
func decodeTcomm(b []byte) (tcommFrame, error) {
	switch {
	case bytes.HasSuffix(b, []byte(tuneTrailer)):
		if len(b) < 22+len(tuneTrailer) || b[10] != ' ' || b[21] != ' ' {
			return tcommFrame{}, fmt.Errorf("TUNE: %w", errShortFrame)
		}
		sum, err1 := parseHex32(b[0:10])
		total, err2 := parseHex32(b[11:21])
		if err := errors.Join(err1, err2); err != nil {
			return tcommFrame{}, fmt.Errorf("TUNE header: %w", err)
		}
		if int(total) != len(b) {
			return tcommFrame{}, fmt.Errorf("TUNE: length field %d, frame has %d bytes", total, len(b))
		}
		return tcommFrame{tune: true, checksum: sum, content: b[22 : len(b)-len(tuneTrailer)]}, nil
	case !bytes.HasSuffix(b, []byte(msgTrailer)) || !bytes.HasPrefix(b, []byte("MSG")):
		return tcommFrame{}, errors.New("neither a TUNE nor a MSG … FABE frame")
	case bytes.HasPrefix(b, []byte("MSG 0x")):
		return decodeAH(b)
	default:
		return decodeAF(b)
	}
}

func decodeAH(b []byte) (tcommFrame, error) {
	if len(b) < ahHeaderLen+len(msgTrailer) {
		return tcommFrame{}, fmt.Errorf("A:H: %w", errShortFrame)
	}
	h := b[:ahHeaderLen]
	// Fields start at 4, 15, 28, 39, 50, each 10 characters and a space;
	// "f" and a space sit at 26.
	var fields [5]uint32
	var errs []error
	for i, at := range []int{4, 15, 28, 39, 50} {
		v, err := parseHex32(h[at : at+10])
		fields[i] = v
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil || h[26] != 'f' {
		return tcommFrame{}, fmt.Errorf("A:H header %q: %w", h, errors.Join(err, errors.New("malformed")))
	}
	f := tcommFrame{protocol: protocolAH, channel: fields[0], messageID: fields[1], seq: fields[2],
		checksum: fields[3], content: b[ahHeaderLen : len(b)-len(msgTrailer)]}
	if int(fields[4]) != len(b) {
		return tcommFrame{}, fmt.Errorf("A:H: length field %d, frame has %d bytes", fields[4], len(b))
	}
	if want := tcommChecksum(b, 39, 50); want != f.checksum {
		return tcommFrame{}, fmt.Errorf("A:H: checksum 0x%08x, computed 0x%08x", f.checksum, want)
	}
	return f, nil
}

func decodeAF(b []byte) (tcommFrame, error) {
	if len(b) < afHeaderLen+len(msgTrailer) {
		return tcommFrame{}, fmt.Errorf("A:F: %w", errShortFrame)
	}
	f := tcommFrame{
		protocol:  protocolAF,
		channel:   binary.BigEndian.Uint32(b[3:]),
		messageID: binary.BigEndian.Uint32(b[7:]),
		seq:       binary.BigEndian.Uint32(b[12:]),
		checksum:  binary.BigEndian.Uint32(b[16:]),
		content:   b[afHeaderLen : len(b)-len(msgTrailer)],
	}
	if total := binary.BigEndian.Uint32(b[20:]); int(total) != len(b) {
		return tcommFrame{}, fmt.Errorf("A:F: length field %d, frame has %d bytes", total, len(b))
	}
	if want := tcommChecksum(b, 16, 20); want != f.checksum {
		return tcommFrame{}, fmt.Errorf("A:F: checksum 0x%08x, computed 0x%08x", f.checksum, want)
	}
	return f, nil
}

// parseHex32 parses "0x" and eight hex digits.
func parseHex32(b []byte) (uint32, error) {
	if len(b) != 10 || b[0] != '0' || b[1] != 'x' {
		return 0, fmt.Errorf("%q is not 0x and 8 hex digits", b)
	}
	v, err := strconv.ParseUint(string(b[2:]), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", b, err)
	}
	return uint32(v), nil
}

// gwmMessage builds the content of a GWM message on the website-messaging
// channel: two length-prefixed URNs, a space, then the JSON. As in the
// pushes observed from Amazon, the second length covers the URN only.
func gwmMessage(urn1, urn2 string, json []byte) []byte {
	b := fmt.Appendf(nil, "GWM MSG 0x%08x 0x%08x %s 0x%08x %s ", gwmWebsiteMessaging, len(urn1), urn1, len(urn2), urn2)
	return append(b, json...)
}

// gwmJSON extracts the JSON of a GWM content on the website-messaging
// channel (the register's {"command":"REGISTER_CONNECTION"}).
func gwmJSON(content []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(content, []byte("GWM MSG "))
	if !ok {
		return nil, errors.New("not a GWM MSG")
	}
	if len(rest) < 11 {
		return nil, errShortFrame
	}
	ch, err := parseHex32(rest[:10])
	if err != nil {
		return nil, fmt.Errorf("GWM channel: %w", err)
	}
	if ch != gwmWebsiteMessaging {
		return nil, fmt.Errorf("GWM channel 0x%x is not website messaging", ch)
	}
	rest = rest[11:]
	// Two length-prefixed identity URNs follow.
	for range 2 {
		if len(rest) < 11 {
			return nil, errShortFrame
		}
		n, err := parseHex32(rest[:10])
		if err != nil {
			return nil, fmt.Errorf("GWM URN length: %w", err)
		}
		rest = rest[11:]
		if int(n) > len(rest) {
			return nil, fmt.Errorf("GWM URN length %d exceeds the message", n)
		}
		rest = rest[n:]
		rest = bytes.TrimPrefix(rest, []byte(" "))
	}
	return rest, nil
}

// heartbeatReply returns the PON content answering a PIN content: PON followed
// by the PIN's own payload, which Amazon echoes (fixture ws_af_s2c_pong).
func heartbeatReply(pin []byte) ([]byte, bool) {
	payload, ok := bytes.CutPrefix(pin, []byte("PIN"))
	if !ok {
		return nil, false
	}
	return append([]byte("PON"), payload...), true
}
