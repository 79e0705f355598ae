package ruletest

import (
	"testing"

	"github.com/alexarules/alexarules/engine"
)

// An action on several Echos at once (alexa.echoes) is a call on each;
// a device() call matches by method or operation.
func TestCallMatchesEveryEchoOfAnAction(t *testing.T) {
	both := engine.Action{Call: "announce", Device: "Kitchen Echo, Office Echo"}
	for _, tc := range []struct {
		a       engine.Action
		dev, op string
		want    bool
	}{
		{both, "kitchen echo", "announce", true},
		{both, "Office Echo", "", true},
		{both, "Office", "announce", false},
		{both, "Kitchen Echo", "speak", false},
		{engine.Action{Call: "set_brightness", Device: "Lamp"}, "Lamp", "setBrightness", true},
		{engine.Action{Call: "run", Device: "Good night"}, "good night", "run", true},
	} {
		if got := callMatches(tc.a, tc.dev, tc.op); got != tc.want {
			t.Errorf("callMatches(%+v, %q, %q) = %t", tc.a, tc.dev, tc.op, got)
		}
	}
}
