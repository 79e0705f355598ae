package push_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/push"
)

const fixtureBoundary = "------abcde123" // from the Content-Type the fixture README pairs with the body

// feedAll feeds chunks in order and collects parts and errors.
func feedAll(r *push.MultipartReader, chunks ...[]byte) ([]push.Part, []error) {
	var parts []push.Part
	var errs []error
	for _, c := range chunks {
		p, err := r.Feed(c)
		parts = append(parts, p...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return parts, errs
}

func commandsOf(t *testing.T, parts []push.Part) []string {
	t.Helper()
	var cmds []string
	for _, p := range parts {
		pushes, err := push.DecodeDirective(p.Body)
		if err != nil {
			t.Fatalf("part %q: %v", p.Body, err)
		}
		for _, ps := range pushes {
			cmds = append(cmds, ps.Command)
		}
	}
	return cmds
}

var fixtureCommands = []string{"PUSH_VOLUME_CHANGE", "PUSH_LIST_ITEM_CHANGE", "PUSH_NOTIFICATION_CHANGE"}

func TestMultipartFixtureBody(t *testing.T) {
	body := fixture(t, "http2_downchannel_body_SYNTHETIC.txt")
	r := push.NewMultipartReader(fixtureBoundary, 0)
	parts, errs := feedAll(r, body)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := commandsOf(t, parts); !reflect.DeepEqual(got, fixtureCommands) {
		t.Fatalf("commands %v", got)
	}
	for _, p := range parts {
		if p.ContentType != "application/json" {
			t.Errorf("content type %q", p.ContentType)
		}
	}
	if r.KeepAlives() != 0 || r.Buffered() != 0 {
		t.Errorf("keep-alives %d, buffered %d", r.KeepAlives(), r.Buffered())
	}
}

func TestMultipartFixtureChunks(t *testing.T) {
	var chunks [][]byte
	for i := range 4 {
		chunks = append(chunks, fixture(t, fmt.Sprintf("http2_downchannel_chunk%d_SYNTHETIC.txt", i)))
	}
	if !bytes.Equal(bytes.Join(chunks, nil), fixture(t, "http2_downchannel_body_SYNTHETIC.txt")) {
		t.Fatal("chunks do not add up to the body fixture")
	}
	r := push.NewMultipartReader(fixtureBoundary, 0)
	var got []string
	for i, c := range chunks {
		parts, err := r.Feed(c)
		if err != nil {
			t.Fatal(err)
		}
		// Each DATA frame completes exactly the part it carries.
		if want := min(i, 1); len(parts) != want {
			t.Fatalf("chunk %d completed %d parts, want %d", i, len(parts), want)
		}
		got = append(got, commandsOf(t, parts)...)
	}
	if !reflect.DeepEqual(got, fixtureCommands) {
		t.Fatalf("commands %v", got)
	}
}

// TestMultipartEverySplit feeds the body in two pieces split at every byte
// position, and once byte by byte, in each line-ending and delimiter dialect.
func TestMultipartEverySplit(t *testing.T) {
	body := fixture(t, "http2_downchannel_body_SYNTHETIC.txt")
	dialects := map[string]struct {
		body     []byte
		boundary string
	}{
		"crlf":                 {body, fixtureBoundary},
		"lf":                   {bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), fixtureBoundary},
		"learned boundary":     {body, ""},
		"delimiter without --": {bytes.ReplaceAll(body, []byte("--"+fixtureBoundary), []byte(fixtureBoundary)), fixtureBoundary},
		"padding and close": {
			append(bytes.ReplaceAll(body, []byte("--"+fixtureBoundary+"\r\n"), []byte("--"+fixtureBoundary+" \t\r\n")),
				[]byte("--"+fixtureBoundary+"--\r\nepilogue {\"ignored\":true}\r\n")...),
			fixtureBoundary,
		},
	}
	for name, d := range dialects {
		t.Run(name, func(t *testing.T) {
			want, errs := feedAll(push.NewMultipartReader(d.boundary, 0), d.body)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := commandsOf(t, want); !reflect.DeepEqual(got, fixtureCommands) {
				t.Fatalf("commands %v", got)
			}
			for i := range len(d.body) + 1 {
				got, errs := feedAll(push.NewMultipartReader(d.boundary, 0), d.body[:i], d.body[i:])
				if len(errs) > 0 || !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d: %d parts, errs %v", i, len(got), errs)
				}
			}
			r := push.NewMultipartReader(d.boundary, 0)
			var got []push.Part
			for i := range d.body {
				p, err := r.Feed(d.body[i : i+1])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p...)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("byte by byte: %d parts", len(got))
			}
		})
	}
}

func TestMultipartKeepAlives(t *testing.T) {
	body := fixture(t, "http2_downchannel_body_SYNTHETIC.txt")
	delim := "--" + fixtureBoundary + "\r\n"
	// The opening delimiter, two bare ones, then the fixture's parts, and a
	// bare delimiter with only a blank line in it.
	stream := delim + delim + delim + string(body) + "\r\n" + delim
	r := push.NewMultipartReader(fixtureBoundary, 0)
	parts, errs := feedAll(r, []byte(stream))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := commandsOf(t, parts); !reflect.DeepEqual(got, fixtureCommands) {
		t.Fatalf("commands %v", got)
	}
	if r.KeepAlives() != 4 {
		t.Errorf("keep-alives %d, want 4", r.KeepAlives())
	}
}

func TestMultipartPartWithoutHeaders(t *testing.T) {
	stream := "--B\n{\"a\":1}\n--B\nContent-Type: application/json\n{\"b\":2}\n--B\n"
	parts, errs := feedAll(push.NewMultipartReader("B", 0), []byte(stream))
	want := []push.Part{{Body: []byte(`{"a":1}`)}, {ContentType: "application/json", Body: []byte(`{"b":2}`)}}
	if len(errs) > 0 || !reflect.DeepEqual(parts, want) {
		t.Fatalf("%+v %v", parts, errs)
	}
}

func TestMultipartBareBoundaryNeedsDashes(t *testing.T) {
	// Without leading dashes in the boundary, a line equal to it is content.
	stream := "--B\n{\"a\":\nB\n}\n--B\n"
	parts, _ := feedAll(push.NewMultipartReader("B", 0), []byte(stream))
	if len(parts) != 1 || string(parts[0].Body) != "{\"a\":\nB\n}" {
		t.Fatalf("%+v", parts)
	}
}

func TestMultipartOversizePartResyncs(t *testing.T) {
	const max = 1024
	delim := "--" + fixtureBoundary + "\r\n"
	small := func(n int) string {
		return "Content-Type: application/json\r\n\r\n" + fmt.Sprintf(`{"n":%d}`, n) + "\r\n" + delim
	}
	huge := map[string]string{
		"one long line":  "Content-Type: application/json\r\n\r\n{\"x\":\"" + strings.Repeat("x", 10*max) + "\"}\r\n" + delim,
		"many lines":     "Content-Type: application/json\r\n\r\n" + strings.Repeat("{\"line\":1}\r\n", 4*max) + delim,
		"line ends late": "Content-Type: application/json\r\n\r\n" + strings.Repeat("y", 3*max) + "\r\n" + strings.Repeat("z", 3*max) + "\r\n" + delim,
	}
	for name, h := range huge {
		t.Run(name, func(t *testing.T) {
			stream := []byte(delim + small(1) + h + small(2))
			for _, chunk := range []int{1, 7, 100, len(stream)} {
				r := push.NewMultipartReader(fixtureBoundary, max)
				var parts []push.Part
				var tooLarge int
				for off := 0; off < len(stream); off += chunk {
					p, err := r.Feed(stream[off:min(off+chunk, len(stream))])
					parts = append(parts, p...)
					if errors.Is(err, push.ErrPartTooLarge) {
						tooLarge++
					} else if err != nil {
						t.Fatal(err)
					}
					if r.Buffered() > max+len(fixtureBoundary)+64 {
						t.Fatalf("chunk %d: %d bytes buffered", chunk, r.Buffered())
					}
				}
				if len(parts) != 2 || string(parts[0].Body) != `{"n":1}` || string(parts[1].Body) != `{"n":2}` {
					t.Fatalf("chunk %d: parts %q", chunk, parts)
				}
				if tooLarge != 1 || r.Dropped() != 1 {
					t.Errorf("chunk %d: %d errors, %d dropped; want 1", chunk, tooLarge, r.Dropped())
				}
			}
		})
	}
}

// FuzzMultipart: any input, fed whole or in chunks of any size, gives the
// same parts and counters, with bounded buffering.
func FuzzMultipart(f *testing.F) {
	body := fixture(f, "http2_downchannel_body_SYNTHETIC.txt")
	f.Add(body, uint16(1), "")
	f.Add(body, uint16(100), fixtureBoundary)
	for i := range 4 {
		f.Add(fixture(f, fmt.Sprintf("http2_downchannel_chunk%d_SYNTHETIC.txt", i)), uint16(3), fixtureBoundary)
	}
	f.Add([]byte("--B\n--B\n{\"x\":1}\n--B--\n"), uint16(2), "B")
	const max = 512
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, boundary string) {
		if len(boundary) > 70 {
			boundary = boundary[:70]
		}
		whole := push.NewMultipartReader(boundary, max)
		want, _ := whole.Feed(data)
		r := push.NewMultipartReader(boundary, max)
		n := int(chunk)%(len(data)+1) + 1
		var got []push.Part
		for off := 0; off < len(data); off += n {
			p, _ := r.Feed(data[off:min(off+n, len(data))])
			got = append(got, p...)
			if r.Buffered() > max+264 {
				t.Fatalf("%d bytes buffered", r.Buffered())
			}
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("chunked %q\nwhole %q", got, want)
		}
		if r.KeepAlives() != whole.KeepAlives() || r.Dropped() != whole.Dropped() {
			t.Fatalf("counters differ: %d/%d keep-alives, %d/%d dropped", r.KeepAlives(), whole.KeepAlives(), r.Dropped(), whole.Dropped())
		}
		for _, p := range got {
			if len(p.Body) > max {
				t.Fatalf("part of %d bytes passed the cap", len(p.Body))
			}
			if pushes, err := push.DecodeDirective(p.Body); err == nil {
				checkPushes(t, pushes)
			}
		}
	})
}
