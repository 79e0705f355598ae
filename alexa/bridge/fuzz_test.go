package bridge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// mapStore is the key-value part of engine.Store, in memory; the bridge
// uses nothing else while it handles pushes.
type mapStore struct {
	engine.Store
	mu sync.Mutex
	kv map[string][]byte
}

func (m *mapStore) Get(bucket, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kv[bucket+"\x00"+key], nil
}

func (m *mapStore) Put(bucket, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kv[bucket+"\x00"+key] = v
	return nil
}

func (m *mapStore) List(string, string) (map[string][]byte, error) { return nil, nil }

// FuzzPushToEvent feeds any downchannel part or tcomm frame through the
// decoders and the bridge's push handling, twice. Invariants: no panic;
// only volume and reachability events come out, with JSON data, the
// pushed device, and the pushed volume or connection state; a push with a
// key is handled once however often it arrives.
func FuzzPushToEvent(f *testing.F) {
	for _, name := range []string{"ws_af_s2c_push_volume_change.bin", "http2_downchannel_body_SYNTHETIC.txt"} {
		if b, err := os.ReadFile(filepath.Join("..", "push", "testdata", name)); err == nil {
			f.Add(b)
		}
	}
	for _, p := range []string{
		`{"command":"PUSH_VOLUME_CHANGE","payload":"{\"dopplerId\":{\"deviceSerialNumber\":\"S1\",\"deviceType\":\"T\"},\"volumeSetting\":30,\"isMuted\":false}","timeStamp":1}`,
		`{"command":"PUSH_DOPPLER_CONNECTION_CHANGE","payload":"{\"dopplerId\":{\"deviceSerialNumber\":\"S1\"},\"dopplerConnectionState\":\"OFFLINE\"}"}`,
		`{"command":"PUSH_LIST_ITEM_CHANGE","payload":"{\"listId\":\"L\",\"listItemId\":\"I\",\"eventName\":\"itemCreated\",\"version\":2}"}`,
		`{"command":"PUSH_NOTIFICATION_CHANGE","payload":"{\"notificationId\":\"n\",\"notificationVersion\":3}"}`,
	} {
		f.Add([]byte(`{"directive":{"header":{"messageId":"m"},"payload":{"renderingUpdates":[{"resourceMetadata":` +
			mustJSON(f, p) + `}]}}}`))
		f.Add([]byte("GWM MSG 0x0000b479 0x00000005 urn:a 0x00000005 urn:b " + p))
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	clock := engine.NewVirtual(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC))
	hosts, err := alexa.HostsFor("DE", "http://127.0.0.1:9")
	if err != nil {
		f.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie})
	if err != nil {
		f.Fatal(err)
	}
	debounce := web.NewDebouncer(ctx, func(context.Context) error { return nil }, web.DebouncerOptions{Clock: clock})
	f.Cleanup(debounce.Close)
	f.Fuzz(func(t *testing.T, b []byte) {
		var events []engine.Event
		br, err := New(Options{Web: wc, Clock: clock, Store: &mapStore{kv: map[string][]byte{}},
			Publish: func(ev engine.Event) { events = append(events, ev) }})
		if err != nil {
			t.Fatal(err)
		}
		br.debounce = debounce
		pushes, _ := push.DecodeDirective(b)
		if gwm, err := push.DecodeGWM(b); err == nil {
			pushes = append(pushes, gwm...)
		}
		for _, p := range pushes {
			events = events[:0]
			br.handle(p)
			checkEvents(t, p, events)
			n := len(events)
			br.handle(p)
			if p.Key != "" && len(events) != n {
				t.Fatalf("push %+v with key %q handled twice", p, p.Key)
			}
		}
	})
}

func checkEvents(t *testing.T, p push.Push, events []engine.Event) {
	t.Helper()
	if len(events) > 1 {
		t.Fatalf("push %+v gave %d events", p, len(events))
	}
	for _, ev := range events {
		var payload map[string]any
		_ = json.Unmarshal(p.Payload, &payload)
		if _, err := json.Marshal(ev.Data); err != nil {
			t.Fatalf("event data is not JSON: %v", err)
		}
		if (ev.Device == nil) != (p.Device.SerialNumber == "") || ev.Device != nil && ev.Device.ID != p.Device.SerialNumber {
			t.Fatalf("push for device %q gave event device %+v", p.Device.SerialNumber, ev.Device)
		}
		switch ev.Kind {
		case engine.KindVolume:
			if ev.Data["value"] != payload["volumeSetting"] {
				t.Fatalf("volume %v from payload %s", ev.Data["value"], p.Payload)
			}
		case engine.KindReachability:
			if ev.Data["connectivity"] != payload["dopplerConnectionState"] || ev.Data["reachable"] != (payload["dopplerConnectionState"] == "ONLINE") {
				t.Fatalf("reachability %v from payload %s", ev.Data, p.Payload)
			}
		default:
			t.Fatalf("push %s gave a %s event", p.Command, ev.Kind)
		}
	}
}

func mustJSON(f *testing.F, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
