package admin

import (
	"bytes"
	"io"
	"math"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestPlainEvent checks which bodies take the reflection-free path and
// that what it reads is exactly what encoding/json reads.
func TestPlainEvent(t *testing.T) {
	for _, c := range []struct {
		body  string
		plain bool
	}{
		{`{"name":"bench","data":{"seq":12,"sent_ns":1733400000000000000}}`, true},
		{` { "data" : { "a" : [ 1 , -2.5e-3 , "s" , true , false , null , { } , [ ] ] } , "name" : "x" , "partition" : "p" } `, true},
		{"{\n\t\"name\":\"Küche\",\"data\":null}\r\n", true},
		{`{"name":"x","data":{"a":1,"a":2}}`, true}, // the later wins, as in encoding/json
		{`{"name":"x","data":{"n":0,"m":-0,"e":1E+2,"f":123456789012345678901234567890}}`, true},
		{`{}`, true},
		{`{"name":"x"} `, true},
		{`{"name":"a\"b"}`, false},                  // escapes
		{`{"name":"x","data":{"\u00e9":1}}`, false}, // escapes
		{"{\"name\":\"\xff\"}", false},              // invalid UTF-8: encoding/json replaces it
		{"{\"name\":\"a\tb\"}", false},              // a control character: a syntax error
		{`{"Name":"x"}`, false},                     // case-insensitive match
		{`{"name":"x","name":"y"}`, false},
		{`{"name":"x","data":{},"data":{"b":1}}`, false}, // encoding/json merges them
		{`{"name":"x","extra":1}`, false},
		{`{"name":"x","data":[1]}`, false},
		{`{"name":null}`, false},
		{`{"name":"x","data":{"a":1e400}}`, false},
		{`{"name":"x","data":{"a":01}}`, false},
		{`{"name":"x","data":{"a":1.}}`, false},
		{`{"name":"x","data":{"a":-}}`, false},
		{`{"name":"x","data":{"a":tru}}`, false},
		{`{"name":"x","data":{"a":[1,]}}`, false},
		{`{"name":"x",}`, false},
		{`{"name":"x"} {"name":"y"}`, false},
		{`{"name":"x"}]`, false},
		{`{"name":"x"`, false},
		{`null`, false},
		{``, false},
		{`{"name":"x","data":{"a":` + strings.Repeat("[", maxPlainDepth) + strings.Repeat("]", maxPlainDepth) + `}}`, false},
		{`{"name":"x","data":{"a":` + strings.Repeat("[", maxPlainDepth-1) + strings.Repeat("]", maxPlainDepth-1) + `}}`, true},
	} {
		var got, want publishRequest
		plain := plainEvent([]byte(c.body), &got)
		if plain != c.plain {
			t.Errorf("plainEvent(%q) = %v, want %v", c.body, plain, c.plain)
			continue
		}
		if !plain {
			continue
		}
		if err := decodeEventJSON(strings.NewReader(c.body), &want); err != nil {
			t.Errorf("plainEvent took %q, encoding/json refuses it: %v", c.body, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("body %q: plainEvent read %#v, encoding/json %#v", c.body, got, want)
		}
	}
}

// TestDecodeEventAllocs pins the point of decodeEvent: the benchmark's
// body costs 12 allocations (with encoding/json's decoder: 24).
func TestDecodeEventAllocs(t *testing.T) {
	body := []byte(`{"name":"bench","data":{"seq":12,"sent_ns":1733400000000000000}}`)
	rd := bytes.NewReader(body)
	r := httptest.NewRequest("POST", "/api/events", io.NopCloser(rd))
	w := httptest.NewRecorder()
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(body)
		var req publishRequest
		if err := decodeEvent(w, r, &req); err != nil || req.Name != "bench" {
			t.Fatalf("decodeEvent: %+v, %v", req, err)
		}
	})
	if allocs > 12 {
		t.Errorf("decodeEvent: %.0f allocations per body, want ≤ 12", allocs)
	}
}

// TestPlainNumbers compares plainEvent's numbers with encoding/json's bit
// for bit (DeepEqual takes -0 for 0), the integers it converts itself too.
func TestPlainNumbers(t *testing.T) {
	for _, n := range []string{"0", "-0", "7", "-12", "999999999999999999", "-999999999999999999",
		"1000000000000000000", "9007199254740993", "1733400000000000001", "0.1", "-0.0", "2e3", "1E-7", "-1.5e+300"} {
		body := `{"name":"x","data":{"n":` + n + `}}`
		var got, want publishRequest
		if !plainEvent([]byte(body), &got) {
			t.Errorf("plainEvent refused %s", body)
			continue
		}
		if err := decodeEventJSON(strings.NewReader(body), &want); err != nil {
			t.Fatal(err)
		}
		g, w := got.Data["n"].(float64), want.Data["n"].(float64)
		if math.Float64bits(g) != math.Float64bits(w) {
			t.Errorf("%s: plainEvent %v (%#x), encoding/json %v (%#x)", n, g, math.Float64bits(g), w, math.Float64bits(w))
		}
	}
}
