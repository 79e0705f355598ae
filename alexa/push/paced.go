package push

import "context"

// Paced returns src whose pushes are handed on only once room returns nil:
// with room = Engine.WaitRoom, an engine at capacity stops taking pushes,
// so the connection is not read and Amazon's side waits, instead of the
// engine's backlog growing. A push that arrives as ctx ends is dropped with
// the connection. A nil src or room returns src unchanged.
func Paced(src Source, room func(context.Context) error) Source {
	if src == nil || room == nil {
		return src
	}
	return paced{Source: src, room: room}
}

type paced struct {
	Source
	room func(context.Context) error
}

func (p paced) Run(ctx context.Context, handle func(Push), connected func()) error {
	return p.Source.Run(ctx, func(x Push) {
		if p.room(ctx) == nil {
			handle(x)
		}
	}, connected)
}
