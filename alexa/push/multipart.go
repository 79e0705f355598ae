package push

import (
	"bytes"
	"fmt"
	"net/textproto"
	"strings"
)

// DefaultMaxPartSize caps one multipart part (headers and body), as
// aioamazondevices does; Amazon's parts are well under 1 KB.
const DefaultMaxPartSize = 512 << 10

// maxBoundary bounds a boundary learned from the stream (RFC 2046 allows 70).
const maxBoundary = 200

// Part is one part of the downchannel's multipart/related body.
type Part struct {
	ContentType string // from the part's Content-Type header, "" if none
	Body        []byte // the body without surrounding white space
}

// MultipartReader splits the endless multipart/related downchannel body
// into parts, fed with chunks as they are read: a part may be split across
// chunks at any byte, a chunk may hold several parts. It accepts CRLF or LF
// line ends, delimiter lines with or without the leading "--" (the latter
// only for boundaries that themselves start with "--", like Amazon's) and
// transport padding; a bare delimiter (an empty part) is a keep-alive. A
// part longer than the cap is dropped and reading resumes at the next
// delimiter, so memory stays bounded whatever the input.
//
// The zero value is not usable; call NewMultipartReader.
type MultipartReader struct {
	boundary []byte // without the leading "--"; nil until learned
	max      int

	line        []byte // the current line, not yet ended by '\n'
	discardLine bool   // the rest of the current line is dropped
	part        []byte // complete lines of the current part
	state       int

	keepAlives, dropped uint64
}

const (
	statePreamble = iota // before the first delimiter or after the close delimiter: ignored
	statePart            // inside a part
	stateSkip            // inside a part that was too large
)

// NewMultipartReader returns a reader for boundary (the Content-Type
// parameter, without the leading "--"). An empty boundary is learned from
// the first line starting with "--". maxPartSize <= 0 means
// DefaultMaxPartSize.
func NewMultipartReader(boundary string, maxPartSize int) *MultipartReader {
	if maxPartSize <= 0 {
		maxPartSize = DefaultMaxPartSize
	}
	r := &MultipartReader{max: maxPartSize}
	if boundary != "" {
		r.boundary = []byte(boundary)
	}
	return r
}

// KeepAlives is the number of bare delimiters (empty parts) seen.
func (r *MultipartReader) KeepAlives() uint64 { return r.keepAlives }

// Dropped is the number of parts dropped for exceeding the size cap.
func (r *MultipartReader) Dropped() uint64 { return r.dropped }

// Buffered is the number of bytes held for parts and lines not yet
// complete. It never exceeds the part cap plus a delimiter line's length.
func (r *MultipartReader) Buffered() int { return len(r.line) + len(r.part) }

// delimLimit is the longest line that can still be a delimiter line:
// "--" + boundary + "--" + padding + CRLF.
func (r *MultipartReader) delimLimit() int {
	if r.boundary == nil {
		return maxBoundary + 64
	}
	return len(r.boundary) + 64
}

// Feed consumes the next chunk of the body and returns the parts it
// completes, in order. If a part was dropped for its size, Feed also
// returns an error wrapping ErrPartTooLarge (once per call); the returned
// parts are still valid and reading continues.
func (r *MultipartReader) Feed(chunk []byte) ([]Part, error) {
	var parts []Part
	dropped := r.dropped
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			r.appendLine(chunk)
			break
		}
		if r.discardLine {
			r.discardLine = false
		} else {
			r.line = append(r.line, chunk[:i+1]...)
			if p, ok := r.endLine(); ok {
				parts = append(parts, p)
			}
		}
		r.line = r.line[:0]
		chunk = chunk[i+1:]
	}
	if r.dropped != dropped {
		return parts, fmt.Errorf("push: multipart: %w (cap %d bytes, %d dropped)", ErrPartTooLarge, r.max, r.dropped-dropped)
	}
	return parts, nil
}

// appendLine keeps the start of a line whose end has not arrived yet,
// within the memory bound.
func (r *MultipartReader) appendLine(b []byte) {
	if r.discardLine {
		return
	}
	r.line = append(r.line, b...)
	if len(r.line) <= r.delimLimit() {
		return // may still turn out to be a delimiter line
	}
	if r.state == statePart && len(r.part)+len(r.line) <= r.max {
		return
	}
	if r.state == statePart {
		r.drop()
	}
	// Too long for a delimiter and not part of a kept part: nothing in this
	// line can matter any more.
	r.line = r.line[:0]
	r.discardLine = true
}

// drop abandons the current part for its size; the rest of it is skipped.
func (r *MultipartReader) drop() {
	r.dropped++
	r.part = nil
	r.state = stateSkip
}

// endLine handles the complete line in r.line and returns a part when the
// line is a delimiter that ends one.
func (r *MultipartReader) endLine() (Part, bool) {
	line := r.line
	delim, closing := r.isDelimiter(line)
	if !delim {
		switch r.state {
		case statePart:
			if len(r.part)+len(line) > r.max {
				r.drop()
			} else {
				r.part = append(r.part, line...)
			}
		}
		return Part{}, false
	}
	var p Part
	var ok bool
	if r.state == statePart {
		p, ok = r.finish(r.part)
	}
	if cap(r.part) > 64<<10 {
		r.part = nil // do not keep one huge part's buffer for the whole stream
	}
	r.part = r.part[:0]
	r.state = statePart
	if closing {
		r.state = statePreamble
	}
	return p, ok
}

// isDelimiter reports whether line is a delimiter line, and whether it is
// the close delimiter. It learns the boundary if none was given.
func (r *MultipartReader) isDelimiter(line []byte) (delim, closing bool) {
	if len(line) > r.delimLimit() {
		return false, false
	}
	s := bytes.TrimRight(line, " \t\r\n")
	if r.boundary == nil {
		if len(s) <= 2 || !bytes.HasPrefix(s, []byte("--")) || bytes.ContainsAny(s, " \t") {
			return false, false
		}
		r.boundary = bytes.Clone(s[2:])
		return true, false
	}
	b := r.boundary
	if rest, ok := bytes.CutPrefix(s, []byte("--")); ok && bytes.HasPrefix(rest, b) {
		switch string(rest[len(b):]) {
		case "":
			return true, false
		case "--":
			return true, true
		}
	}
	if bytes.HasPrefix(b, []byte("--")) && bytes.HasPrefix(s, b) {
		switch string(s[len(b):]) {
		case "":
			return true, false
		case "--":
			return true, true
		}
	}
	return false, false
}

// finish turns the lines between two delimiters into a Part. An empty or
// blank part is a keep-alive.
func (r *MultipartReader) finish(seg []byte) (Part, bool) {
	if len(bytes.TrimSpace(seg)) == 0 {
		r.keepAlives++
		return Part{}, false
	}
	var p Part
	rest := seg
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		text := strings.TrimRight(string(line), "\r")
		if text == "" {
			rest = after // the blank line ending the headers
			break
		}
		name, value, ok := strings.Cut(text, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t{[\"") {
			break // not a header: the body starts here (headers are optional)
		}
		if textproto.CanonicalMIMEHeaderKey(name) == "Content-Type" {
			p.ContentType = strings.TrimSpace(value)
		}
		rest = after
	}
	p.Body = bytes.Clone(bytes.TrimSpace(rest))
	if len(p.Body) == 0 && p.ContentType == "" {
		r.keepAlives++
		return Part{}, false
	}
	return p, true
}
