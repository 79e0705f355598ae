package push_test

import (
	"context"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/push"
)

// feed is a Source that hands on the pushes sent on it.
type feed chan push.Push

func (f feed) Run(ctx context.Context, handle func(push.Push), _ func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-f:
			handle(p)
		}
	}
}
func (feed) Stats() push.Stats { return push.Stats{Reconnects: 7} }
func (feed) LastError() error  { return nil }

// While there is no room, a paced source hands on no push; once there is,
// it hands on the one that waited, none lost.
func TestPacedWaitsForRoom(t *testing.T) {
	pushes := make(feed)
	room, asked, handled := make(chan struct{}), make(chan struct{}, 1), make(chan push.Push, 1)
	src := push.Paced(pushes, func(ctx context.Context) error {
		select {
		case asked <- struct{}{}:
		default:
		}
		select {
		case <-room:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if src.Stats().Reconnects != 7 {
		t.Fatalf("Stats do not come from the wrapped source: %+v", src.Stats())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func(p push.Push) { handled <- p }, func() {}) }()
	t.Cleanup(func() { cancel(); <-done })
	pushes <- push.Push{Command: "PUSH_VOLUME_CHANGE", Key: "k1"}
	select {
	case <-asked: // the push waits for room
	case <-time.After(10 * time.Second):
		t.Fatal("the push was not held for room")
	}
	select {
	case p := <-handled:
		t.Fatalf("push %+v handed on while there was no room", p)
	default:
	}
	close(room)
	select {
	case p := <-handled:
		if p.Key != "k1" {
			t.Fatalf("handed on %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the push was not handed on once there was room")
	}
}

func TestPacedLeavesNoSourceNil(t *testing.T) {
	if src := push.Paced(nil, func(context.Context) error { return nil }); src != nil {
		t.Fatalf("Paced(nil) = %v; want nil (push off)", src)
	}
}
