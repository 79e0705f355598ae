package jsonenc

import (
	"encoding/json"
	"math"
	"testing"
)

// AppendFloat writes json.Marshal's bytes, and refuses what it refuses.
func TestAppendFloatIsEncodingJSONs(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 123456789.125,
		-2.5e22, math.MaxFloat64, math.SmallestNonzeroFloat64, 100, 50.5} {
		want, _ := json.Marshal(f)
		got, err := AppendFloat([]byte("x"), f)
		if err != nil || string(got) != "x"+string(want) {
			t.Errorf("AppendFloat(%v) = %q, %v; want x%s", f, got, err, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := AppendFloat(nil, f); err == nil {
			t.Errorf("AppendFloat(%v) gave no error", f)
		}
	}
}

// AppendString writes json.Marshal's bytes for every kind of character.
func TestAppendStringIsEncodingJSONs(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "<b>&amp;</b>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"Küche 🏠", "bad \xff\xfe utf-8", "\u2028 and \u2029", "é\xc3"} {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
		}
	}
}
