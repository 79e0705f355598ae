package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"
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
	p := plainParser{b: body}
	if !p.next('{') {
		return false
	}
	var seen [3]bool
	for first := true; !p.next('}'); first = false {
		if !first && !p.next(',') || !p.field(req, &seen) {
			return false
		}
	}
	return p.end()
}

// field parses one `"key": value` of the event object into req.
func (p *plainParser) field(req *publishRequest, seen *[3]bool) bool {
	key, found := p.str()
	if !found || !p.next(':') {
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
		if p.literal("null") {
			req.Data, ok = nil, true
		} else if p.next('{') {
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
	b     []byte
	i     int
	depth int
}

// skip passes JSON white space.
func (p *plainParser) skip() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (p *plainParser) peek() byte {
	p.skip()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// next consumes c if it comes next.
func (p *plainParser) next(c byte) bool {
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

// end reports whether only white space is left.
func (p *plainParser) end() bool {
	p.skip()
	return p.i == len(p.b)
}

// literal consumes word (null, true, false) if it comes next.
func (p *plainParser) literal(word string) bool {
	p.skip()
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		return false
	}
	p.i += len(word)
	return true
}

// str reads a string without escapes or control characters, valid UTF-8.
func (p *plainParser) str() (string, bool) {
	if !p.next('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
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
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == '{':
		p.i++
		return p.object()
	case c == '[':
		p.i++
		return p.array()
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case p.literal("true"):
		return true, true
	case p.literal("false"):
		return false, true
	case p.literal("null"):
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
	for first := true; !p.next('}'); first = false {
		if !first && !p.next(',') {
			return nil, false
		}
		k, ok := p.str()
		if !ok || !p.next(':') {
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
	for first := true; !p.next(']'); first = false {
		if !first && !p.next(',') {
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
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case !p.digits():
		return nil, false
	}
	if n, ok := smallInt(p.b[start:p.i]); ok && !p.fractionNext() {
		return n, true
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		if p.i++; !p.digits() {
			return nil, false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		if p.i++; p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
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
	return p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E')
}

// digits consumes one or more decimal digits.
func (p *plainParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
