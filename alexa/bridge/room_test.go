package bridge_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

// pushFeed is a push.Source that hands the bridge the pushes sent on it.
type pushFeed chan push.Push

func (f pushFeed) Run(ctx context.Context, handle func(push.Push), _ func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-f:
			handle(p)
		}
	}
}
func (pushFeed) Stats() push.Stats { return push.Stats{} }
func (pushFeed) LastError() error  { return nil }

// While the engine has no room (Options.Room waits) pushes are not
// handled; once there is room they are, none lost.
func TestPushesWaitForRoom(t *testing.T) {
	srv := httptest.NewServer(sim.New(sim.DemoHousehold(), sim.Options{}).Handler())
	t.Cleanup(srv.Close)
	hosts, err := alexa.HostsFor("DE", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	var volumes []engine.Event
	room, asked, feed := make(chan struct{}), make(chan struct{}, 1), make(pushFeed)
	b, err := bridge.New(bridge.Options{Web: wc, Push: feed, Clock: engine.NewVirtual(time.Now()), Store: st, Country: "DE",
		Publish: func(ev engine.Event) {
			if ev.Kind == engine.KindVolume {
				mu.Lock()
				volumes = append(volumes, ev)
				mu.Unlock()
			}
		},
		Room: func(ctx context.Context) error {
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
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	volume := push.Push{Command: "PUSH_VOLUME_CHANGE", Device: push.Device{SerialNumber: "G6G0XW0412650C3M"},
		Payload: []byte(`{"volumeSetting":35,"isMuted":false}`)}
	feed <- volume
	select {
	case <-asked: // the push waits for room
	case <-time.After(enginetest.Timeout):
		t.Fatal("the bridge handled a push without asking for room")
	}
	mu.Lock()
	early := len(volumes)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("%d volume events while the engine had no room", early)
	}
	close(room)
	enginetest.WaitUntil(t, "the volume event once there is room", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(volumes) == 1 && volumes[0].Data["value"] == float64(35)
	})
}
