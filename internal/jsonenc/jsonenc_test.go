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
