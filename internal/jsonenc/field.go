package jsonenc

import "bytes"

// StringField reads the string member key of the JSON object doc in one
// pass without reflection, for answers read on every rule run (the id of
// a created reminder), and reports whether it is sure of it: ok is true
// only when doc is one object that encoding/json accepts, key is among
// its members with a string of printable ASCII without escapes, and no
// other member's name could be key to encoding/json (names match without
// regard to case, and may be escaped). Then json.Unmarshal of doc into a
// struct whose only field is tagged key gives value (the last such
// member, as it does). Otherwise the caller asks encoding/json, which
// gives its own result and error. doc may be surrounded by white space.
func StringField(doc []byte, key string) (value string, ok bool) {
	s := scanner{b: doc}
	if !s.next('{') {
		return "", false
	}
	found := false
	for first := true; !s.next('}'); first = false {
		if !first && !s.next(',') {
			return "", false
		}
		name, escaped, valid := s.str()
		if !valid || escaped || !s.next(':') {
			return "", false
		}
		switch {
		case string(name) == key:
			v, escaped, valid := s.str()
			if !valid || escaped || !printable(v) {
				return "", false
			}
			value, found = string(v), true
		case bytes.EqualFold(name, []byte(key)):
			return "", false
		case !s.value(1):
			return "", false
		}
	}
	return value, found && s.end()
}

// printable reports whether b is printable ASCII only.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// maxDepth bounds the nesting StringField takes on (encoding/json allows
// 10,000 levels: deeper documents go to it).
const maxDepth = 64

// scanner walks JSON as encoding/json's syntax check does; each method
// reports false where that check fails (and past maxDepth).
type scanner struct {
	b []byte
	i int
}

// peek passes JSON white space and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// next consumes c if it comes next after white space.
func (s *scanner) next(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.peek()
	return s.i == len(s.b)
}

// value passes one value nested depth levels deep.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch s.peek() {
	case '{':
		return s.container('}', depth)
	case '[':
		return s.container(']', depth)
	case '"':
		_, _, valid := s.str()
		return valid
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// container passes an object ('}': "name": value members) or an array
// (']') from its opening byte to its closing one.
func (s *scanner) container(closing byte, depth int) bool {
	s.i++
	for first := true; !s.next(closing); first = false {
		if !first && !s.next(',') {
			return false
		}
		if closing == '}' {
			if _, _, valid := s.str(); !valid || !s.next(':') {
				return false
			}
		}
		if !s.value(depth + 1) {
			return false
		}
	}
	return true
}

// str passes a string after white space and returns what is between its
// quotes, and whether that holds an escape. Any byte from 0x20 up is
// valid in it, as encoding/json reads (invalid UTF-8 included).
func (s *scanner) str() (raw []byte, escaped, valid bool) {
	if !s.next('"') {
		return nil, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], escaped, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			escaped = true
			if !s.escape() {
				return nil, false, false
			}
		default:
			s.i++
		}
	}
	return nil, false, false
}

// escape passes one escape sequence: \" \\ \/ \b \f \n \r \t or \u and
// four hexadecimal digits.
func (s *scanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.b) {
			return false
		}
		for _, h := range s.b[s.i+2 : s.i+6] {
			if !isHex(h) {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// literal passes word (true, false, null).
func (s *scanner) literal(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// number passes a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.at('-') {
		s.i++
	}
	switch {
	case s.at('0'):
		s.i++
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.at('.') {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.at('e') || s.at('E') {
		s.i++
		if s.at('+') || s.at('-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// at reports whether the byte at s.i is c.
func (s *scanner) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// digits passes [0-9]* and reports whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
