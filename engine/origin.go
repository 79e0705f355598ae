package engine

import (
	"context"
	"log/slog"
)

// Origin names the rule run that made an outgoing call: the rule and the
// event (or timer firing) that caused the run. Every run's context carries
// it, so the Alexa request path can name both in its log lines.
type Origin struct {
	Rule  string
	Event string
}

type originKey struct{}

// WithOrigin returns a context carrying o, for calls made on behalf of a
// rule outside the engine's runs (rule tests, tools). Runs carry theirs.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginOf returns the origin of the run ctx belongs to, if any.
func OriginOf(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

// OriginAttr is the log attribute for the run ctx belongs to: the keys rule
// and event, inlined. It is empty (and logged as nothing) outside a run.
func OriginAttr(ctx context.Context) slog.Attr {
	o, ok := OriginOf(ctx)
	if !ok {
		return slog.Attr{}
	}
	return slog.Group("", slog.String("rule", o.Rule), slog.String("event", o.Event))
}

// value answers the runCtx's Value for the origin key.
func (o Origin) value(key any) any {
	if _, ok := key.(originKey); ok && o.Rule != "" {
		return o
	}
	return nil
}

// stampActions names the rule and event that caused each action.
func stampActions(actions []Action, rule, event string) {
	for i := range actions {
		actions[i].Rule, actions[i].EventID = rule, event
	}
}
