package alexa

import (
	"strings"
	"testing"
)

// foldName folds as ToLower(Join(Fields(s), " ")) always did.
func FuzzFoldName(f *testing.F) {
	for _, s := range []string{"", "Bench Lamp 3", "bench lamp", " Lamp", "Lamp ", "Bench  Lamp", "a\tb", "Küche Licht",
		"x\u00a0y", "\u0085", " ", "A", "LAMP\r\n", "a b c d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := foldName(s), strings.ToLower(strings.Join(strings.Fields(s), " ")); got != want {
			t.Fatalf("foldName(%q) = %q; want %q", s, got, want)
		}
	})
}

// A plain name costs the lower-casing only.
func TestFoldNameAllocations(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { foldName("Bench Lamp 3") }); n != 1 {
		t.Fatalf("%v allocations; want 1", n)
	}
}
