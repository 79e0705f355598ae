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
	s := scanner{Cursor{B: doc}}
	if !s.Next('{') {
		return "", false
	}
	found := false
	for first := true; !s.Next('}'); first = false {
		if !first && !s.Next(',') {
			return "", false
		}
		name, escaped, valid := s.str()
		if !valid || escaped || !s.Next(':') {
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
	return value, found && s.End()
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
type scanner struct{ Cursor }

// value passes one value nested depth levels deep.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch s.Peek() {
	case '{':
		return s.container('}', depth)
	case '[':
		return s.container(']', depth)
	case '"':
		_, _, valid := s.str()
		return valid
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	}
	return s.number()
}

// container passes an object ('}': "name": value members) or an array
// (']') from its opening byte to its closing one.
func (s *scanner) container(closing byte, depth int) bool {
	s.I++
	for first := true; !s.Next(closing); first = false {
		if !first && !s.Next(',') {
			return false
		}
		if closing == '}' {
			if _, _, valid := s.str(); !valid || !s.Next(':') {
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
	if !s.Next('"') {
		return nil, false, false
	}
	start := s.I
	for s.I < len(s.B) {
		c := s.B[s.I]
		switch {
		case c == '"':
			s.I++
			return s.B[start : s.I-1], escaped, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			escaped = true
			if !s.escape() {
				return nil, false, false
			}
		default:
			s.I++
		}
	}
	return nil, false, false
}

// escape passes one escape sequence: \" \\ \/ \b \f \n \r \t or \u and
// four hexadecimal digits.
func (s *scanner) escape() bool {
	if s.I+1 >= len(s.B) {
		return false
	}
	switch s.B[s.I+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.I += 2
		return true
	case 'u':
		if s.I+6 > len(s.B) {
			return false
		}
		for _, h := range s.B[s.I+2 : s.I+6] {
			if !isHex(h) {
				return false
			}
		}
		s.I += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number passes a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.at('-') {
		s.I++
	}
	switch {
	case s.at('0'):
		s.I++
	case s.I < len(s.B) && '1' <= s.B[s.I] && s.B[s.I] <= '9':
		s.digits()
	default:
		return false
	}
	if s.at('.') {
		s.I++
		if !s.digits() {
			return false
		}
	}
	if s.at('e') || s.at('E') {
		s.I++
		if s.at('+') || s.at('-') {
			s.I++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// at reports whether the byte at s.I is c.
func (s *scanner) at(c byte) bool { return s.I < len(s.B) && s.B[s.I] == c }

// digits passes [0-9]* and reports whether there was one.
func (s *scanner) digits() bool {
	start := s.I
	for s.I < len(s.B) && '0' <= s.B[s.I] && s.B[s.I] <= '9' {
		s.I++
	}
	return s.I > start
}
