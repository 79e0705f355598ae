package scripting

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// The editor definitions' Player, RoutineInfo and LastCalled list the
// fields the bindings return, and no others.
func TestReturnedShapesAreDescribed(t *testing.T) {
	full := &Player{State: "PLAYING", Title: "t", Artist: "a", Album: "b", Provider: "p", Position: 1, Length: 2, Volume: 3, Muted: true}
	check := func(what string, got []string, sigs []Param) {
		t.Helper()
		var want []string
		for _, p := range sigs {
			want = append(want, p.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s returns %v, described %v", what, got, want)
		}
	}
	check("player()", slices.Collect(maps.Keys(full.data())), playerSigs)
	u := Utterance{Echo: Echo{Name: "n", Serial: "s"}, Text: "t", Reply: "r", Person: "p", Time: time.Unix(1, 0)}
	check("last_called()", slices.Collect(maps.Keys(u.data())), lastCalledSigs)
	check("routines()", slices.Collect(maps.Keys(Routine{}.data())), routineInfoSigs)
}
