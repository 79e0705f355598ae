package features

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"regexp"
	"testing"
)

// marshalBody is how Body made the body before appendBody: maps through
// json.Marshal. appendBody must write the same bytes.
func marshalBody(o Operation, args []float64) []byte {
	fields := make(map[string]any, len(o.Fields))
	for i, f := range o.Fields {
		if f.Integer {
			fields[f.Name] = int64(args[i])
		} else {
			fields[f.Name] = args[i]
		}
	}
	payload := fields
	if o.Nest != "" {
		payload = map[string]any{o.Nest: fields}
	}
	b, err := json.Marshal(map[string]any{"payload": payload})
	if err != nil {
		panic(err)
	}
	return b
}

func TestBodyMatchesJSONMarshal(t *testing.T) {
	plain := regexp.MustCompile(`^[A-Za-z]+$`)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, o := range Operations() {
		if o.Nest != "" && !plain.MatchString(o.Nest) {
			t.Fatalf("%s: nest %q needs JSON escaping", o.Name, o.Nest)
		}
		for _, f := range o.Fields {
			if !plain.MatchString(f.Name) {
				t.Fatalf("%s: field %q needs JSON escaping", o.Name, f.Name)
			}
		}
		if len(o.Fields) == 0 {
			continue
		}
		for n := range 2000 {
			args := make([]float64, len(o.Fields))
			for i, f := range o.Fields {
				switch v := f.Min + rng.Float64()*(f.Max-f.Min); {
				case n == 0:
					args[i] = f.Min
				case n == 1:
					args[i] = f.Max
				case f.Integer:
					args[i] = math.Round(v)
				case n%5 == 0:
					args[i] = math.Min(f.Max, math.Max(f.Min, math.Ldexp(rng.Float64(), -rng.IntN(60)))) // tiny: exponent form
				default:
					args[i] = v
				}
			}
			got, err := o.Body(args...)
			if err != nil {
				t.Fatalf("%s%v: %v", o.Name, args, err)
			}
			if want := marshalBody(o, args); string(got) != string(want) {
				t.Fatalf("%s%v: %s; want %s", o.Name, args, got, want)
			}
		}
	}
}

// A device action's body is one allocation, and finding its operation
// none.
func TestBodyAllocations(t *testing.T) {
	ops := Operations()
	if n := testing.AllocsPerRun(100, func() {
		op, _ := lookup(ops, "", "setBrightness")
		if _, err := op.Body(42); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Fatalf("%v allocations; want 1", n)
	}
}
