// Package jsonenc holds the pieces of encoding/json's output that the
// hand-written encoders on hot paths (engine/store, alexa/features) share,
// so that every one of them writes exactly the bytes json.Marshal would.
package jsonenc

import (
	"fmt"
	"math"
	"strconv"
)

// AppendFloat appends f as encoding/json writes a float64 (the ES6 number
// to string): the shortest representation, in exponent form below 1e-6 and
// from 1e21 up, with a two-digit negative exponent shortened ("1e-07" as
// "1e-7"). NaN and the infinities are an error, as in json.Marshal.
func AppendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
