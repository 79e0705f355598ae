package scripting

import (
	"context"

	"github.com/alexarules/alexarules/engine"
)

// RunContext is the run in progress as the bound API sees it. It is nil
// while a rule file loads: bound functions that act must then refuse.
type RunContext interface {
	// Context carries the run's deadline; every call that can block uses it.
	Context() context.Context
	// Record adds an action and its result to the run's trace.
	Record(a engine.Action)
	// Withheld is "" when actions are sent; else the result an action is
	// recorded with instead of being sent: engine.ResultDryRun in a dry
	// run, engine.ResultShadow in a shadow run.
	Withheld() string
	// Acted reports an action sent to a device attribute: it cancels a
	// pending revert of the attribute, and sets one when RevertAfter > 0.
	Acted(c engine.Change)
}
