package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/alexarules/alexarules/internal/jsonenc"
)

// decodeEvent reads a POST /api/events body into req. The common body,
// one object of "name", "data" and "partition" in plain JSON, is parsed
// by plainEvent without reflection (encoding/json's decoder was 5-8% of
// the engine's CPU per event); any other body (escapes, unknown or
// repeated fields, a syntax error, more than 1 MiB...) goes through
// decodeEventJSON, so its result and error are encoding/json's, as before.
func decodeEvent(w http.ResponseWriter, r *http.Request, req *publishRequest) error {
	body, err := readBody(http.MaxBytesReader(w, r.Body, maxEventBody), r.ContentLength)
	if err != nil {
		// The decoder sees the same bytes, then the same error, as it
		// would have reading the body itself.
		return decodeEventJSON(io.MultiReader(bytes.NewReader(body), errReader{err}), req)
	}
	if plainEvent(body, req) {
		return nil
	}
	*req = publishRequest{}
	return decodeEventJSON(bytes.NewReader(body), req)
}

// decodeEventJSON is the reference reading of a body: one object with
// the known fields only, nothing after it.
func decodeEventJSON(body io.Reader, req *publishRequest) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(req)
	if err == nil {
		// A second value after the event would be answered 202 and lost.
		if _, terr := dec.Token(); terr != io.EOF {
			err = fmt.Errorf("offset %d: unexpected data after the event object", dec.InputOffset())
		}
	}
	return err
}

// readAhead is the most readBody allocates before the body arrives.
const readAhead = 16 << 10

// readBody reads r to its end into one buffer sized by the request's
// Content-Length (when it is sane), returning what it read with the error.
// The first buffer holds at most readAhead bytes: a client that claims a
// megabyte and sends eight bytes must not hold a megabyte of the engine's
// memory while it waits (the server sets no read timeout for bodies).
func readBody(r io.Reader, length int64) ([]byte, error) {
	size := 512
	if length >= 0 && length < maxEventBody {
		size = min(int(length)+1, readAhead) // +1: EOF is seen without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// errReader returns err on every read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// plainEvent parses body as {"name": string, "data": object or null,
// "partition": string}, each field at most once, in any order, and
// reports whether it could. It says no to anything encoding/json might
// read differently or refuse: strings with escapes, control characters
// or invalid UTF-8, numbers out of float64's range, nesting deeper than
// maxPlainDepth, other fields. What it accepts, it decodes exactly as
// encoding/json does (numbers as float64, objects as map[string]any,
// arrays as []any).
func plainEvent(body []byte, req *publishRequest) bool {
	p := plainParser{Cursor: jsonenc.Cursor{B: body}}
	if !p.Next('{') {
		return false
	}
	var seen [3]bool
	for first := true; !p.Next('}'); first = false {
		if !first && !p.Next(',') || !p.field(req, &seen) {
			return false
		}
	}
	return p.End()
}

// field parses one `"key": value` of the event object into req.
func (p *plainParser) field(req *publishRequest, seen *[3]bool) bool {
	key, found := p.str()
	if !found || !p.Next(':') {
		return false
	}
	i, ok := 0, false
	switch key {
	case "name":
		req.Name, ok = p.str()
	case "partition":
		i = 1
		req.Partition, ok = p.str()
	case "data":
		i = 2
		if p.Literal("null") {
			req.Data, ok = nil, true
		} else if p.Next('{') {
			req.Data, ok = p.object()
		}
	default:
		return false
	}
	if !ok || seen[i] {
		return false
	}
	seen[i] = true
	return true
}

// maxPlainDepth bounds the nesting plainParser takes on (encoding/json
// allows 10,000 levels: deeper bodies go to it).
const maxPlainDepth = 64

// plainParser reads the plain JSON subset plainEvent accepts; each method
// reports false for anything outside it.
type plainParser struct {
	jsonenc.Cursor
	depth int
}

// str reads a string without escapes or control characters, valid UTF-8.
func (p *plainParser) str() (string, bool) {
	if !p.Next('"') {
		return "", false
	}
	start := p.I
	ascii := true
	for ; p.I < len(p.B); p.I++ {
		switch c := p.B[p.I]; {
		case c == '"':
			s := p.B[start:p.I]
			p.I++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// value reads any JSON value.
func (p *plainParser) value() (any, bool) {
	switch c := p.Peek(); {
	case c == '"':
		return p.str()
	case c == '{':
		p.I++
		return p.object()
	case c == '[':
		p.I++
		return p.array()
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case p.Literal("true"):
		return true, true
	case p.Literal("false"):
		return false, true
	case p.Literal("null"):
		return nil, true
	}
	return nil, false
}

// object reads the members of an object whose '{' was consumed.
func (p *plainParser) object() (map[string]any, bool) {
	if p.depth++; p.depth > maxPlainDepth {
		return nil, false
	}
	m := make(map[string]any)
	for first := true; !p.Next('}'); first = false {
		if !first && !p.Next(',') {
			return nil, false
		}
		k, ok := p.str()
		if !ok || !p.Next(':') {
			return nil, false
		}
		if m[k], ok = p.value(); !ok {
			return nil, false
		}
	}
	p.depth--
	return m, true
}

// array reads the elements of an array whose '[' was consumed.
func (p *plainParser) array() ([]any, bool) {
	if p.depth++; p.depth > maxPlainDepth {
		return nil, false
	}
	a := make([]any, 0)
	for first := true; !p.Next(']'); first = false {
		if !first && !p.Next(',') {
			return nil, false
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
	}
	p.depth--
	return a, true
}

// number reads a JSON number as encoding/json does into an interface: a
// float64 (one out of its range is left to encoding/json's error).
func (p *plainParser) number() (any, bool) {
	start := p.I
	if p.I < len(p.B) && p.B[p.I] == '-' {
		p.I++
	}
	switch {
	case p.I < len(p.B) && p.B[p.I] == '0':
		p.I++
	case !p.digits():
		return nil, false
	}
	if n, ok := smallInt(p.B[start:p.I]); ok && !p.fractionNext() {
		return n, true
	}
	if p.I < len(p.B) && p.B[p.I] == '.' {
		if p.I++; !p.digits() {
			return nil, false
		}
	}
	if p.I < len(p.B) && (p.B[p.I] == 'e' || p.B[p.I] == 'E') {
		if p.I++; p.I < len(p.B) && (p.B[p.I] == '+' || p.B[p.I] == '-') {
			p.I++
		}
		if !p.digits() {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(p.B[start:p.I]), 64)
	return f, err == nil
}

// smallInt converts an integer of at most 18 digits without the string
// strconv.ParseFloat needs: int64 holds it exactly and its conversion to
// float64 rounds as ParseFloat does. -0 is left to ParseFloat (it is -0.0).
func smallInt(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 18 || b[0] == '0' && neg {
		return 0, false
	}
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return float64(n), true
}

// fractionNext reports whether a fraction or an exponent follows.
func (p *plainParser) fractionNext() bool {
	return p.I < len(p.B) && (p.B[p.I] == '.' || p.B[p.I] == 'e' || p.B[p.I] == 'E')
}

// digits consumes one or more decimal digits.
func (p *plainParser) digits() bool {
	start := p.I
	for p.I < len(p.B) && '0' <= p.B[p.I] && p.B[p.I] <= '9' {
		p.I++
	}
	return p.I > start
}
