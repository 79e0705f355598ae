package enginetest

import (
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// LevelStep is a reading of device t1 sent to an engine with a stateful
// trigger, or (Value 0) a move of its virtual clock by Advance.
type LevelStep struct {
	Value   float64
	Advance time.Duration
}

// LevelCase is one of the trigger state crash tests: readings for a
// trigger matching values over 10 that fire it twice, without or with a
// hold of a minute, and how many state writes they make without a crash.
type LevelCase struct {
	Name  string
	Hold  time.Duration
	Steps []LevelStep
	Puts  int
}

// LevelCases returns the trigger state crash tests' cases.
func LevelCases() []LevelCase {
	return []LevelCase{
		{"fires", 0, []LevelStep{{Value: 20}, {Value: 25}, {Value: 5}, {Value: 30}, {Value: 40}}, 3},
		{"holds", time.Minute, []LevelStep{{Value: 20}, {Advance: time.Minute}, {Value: 25}, {Value: 5}, {Value: 30},
			{Advance: time.Minute}}, 5},
	}
}

// SendLevelSteps sends steps until stop reports true or a reading is not
// accepted, waiting for the engine to be idle after each; it returns the
// index of the first step not taken.
func SendLevelSteps(t testing.TB, e *engine.Engine, clock *engine.Virtual, steps []LevelStep, stop func() bool) int {
	t.Helper()
	for i, s := range steps {
		if stop() {
			return i
		}
		if s.Value == 0 {
			clock.Advance(s.Advance)
		} else if _, err := e.Accept(engine.Event{Kind: engine.KindReading, Device: &engine.Device{ID: "t1"},
			Data: map[string]any{"value": s.Value}}); err != nil {
			return i
		}
		WaitUntil(t, "an idle engine", e.Idle)
	}
	return len(steps)
}
