package smarthome

import "context"

type sentKey struct{}

// WithSent returns a context under which the control requests of a
// Client's calls are also told to f: Options.Sent sees every request of
// the client, f those of the calls made with this context (a rule's
// device call, for its trace).
func WithSent(ctx context.Context, f func(Sent)) context.Context {
	return context.WithValue(ctx, sentKey{}, f)
}

// report tells Options.Sent and the WithSent function of ctx, if any,
// what a control request sends.
func (c *Client) report(ctx context.Context, s Sent) {
	if c.sent != nil {
		c.sent(s)
	}
	if f, ok := ctx.Value(sentKey{}).(func(Sent)); ok && f != nil {
		f(s)
	}
}
