package jsonenc

import "bytes"

// Cursor is a position in a JSON document, with the steps every
// hand-written reader of JSON here takes: white space, punctuation and
// the literals. StringField's scanner and engine/admin's event body
// parser are built on it.
type Cursor struct {
	B []byte // the document
	I int    // the next byte's index
}

// Peek passes JSON white space and returns the next byte, 0 at the end.
func (c *Cursor) Peek() byte {
	for ; c.I < len(c.B); c.I++ {
		switch b := c.B[c.I]; b {
		case ' ', '\t', '\n', '\r':
		default:
			return b
		}
	}
	return 0
}

// Next consumes b if it comes next after white space.
func (c *Cursor) Next(b byte) bool {
	if c.Peek() != b {
		return false
	}
	c.I++
	return true
}

// End reports whether only white space is left.
func (c *Cursor) End() bool {
	c.Peek()
	return c.I == len(c.B)
}

// Literal consumes word (true, false, null) if it comes next after white
// space.
func (c *Cursor) Literal(word string) bool {
	c.Peek()
	if !bytes.HasPrefix(c.B[c.I:], []byte(word)) {
		return false
	}
	c.I += len(word)
	return true
}
