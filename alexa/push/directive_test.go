package push_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/push"
)

// directive builds a downchannel part the way Amazon does: resourceMetadata
// is a JSON string and its payload is again a JSON string.
func directive(t testing.TB, messageID, command string, payload any, timeStamp any) []byte {
	t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]any{"command": command, "payload": string(p)}
	if timeStamp != nil {
		meta["timeStamp"] = timeStamp
	}
	m, _ := json.Marshal(meta)
	d := map[string]any{"directive": map[string]any{
		"header": map[string]any{"namespace": "DeeAppMessagingGateway", "name": "ProcessNotification", "messageId": messageID},
		"payload": map[string]any{"renderingUpdates": []any{map[string]any{
			"route": "DeeAppMessage", "resourceId": command, "resourceMetadata": string(m),
		}}},
	}}
	b, _ := json.Marshal(d)
	return b
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

type payloadExample struct {
	Command string          `json:"command"`
	Payload json.RawMessage `json:"payload"`
}

func payloadExamples(t testing.TB) []payloadExample {
	var examples []payloadExample
	if err := json.Unmarshal(fixture(t, "push_payload_examples.json"), &examples); err != nil {
		t.Fatal(err)
	}
	return examples
}

func TestDecodeDirectivePayloadExamples(t *testing.T) {
	examples := payloadExamples(t)
	if len(examples) != 15 {
		t.Fatalf("%d examples; the fixture has 15", len(examples))
	}
	for i, ex := range examples {
		t.Run(fmt.Sprintf("%d_%s", i, ex.Command), func(t *testing.T) {
			part := directive(t, fmt.Sprint("m-", i), ex.Command, ex.Payload, 1700000000000+i)
			pushes, err := push.DecodeDirective(part)
			if err != nil {
				t.Fatal(err)
			}
			if len(pushes) != 1 {
				t.Fatalf("%d pushes", len(pushes))
			}
			p := pushes[0]
			if p.Command != ex.Command || !push.Known(p.Command) {
				t.Errorf("command %q (known %v)", p.Command, push.Known(p.Command))
			}
			if !jsonEqual(t, p.Payload, ex.Payload) {
				t.Errorf("payload %s, want %s", p.Payload, ex.Payload)
			}
			if !p.Time.Equal(time.UnixMilli(int64(1700000000000 + i))) {
				t.Errorf("time %v", p.Time)
			}
			if p.Key == "" {
				t.Error("no dedup key")
			}
			var ids struct {
				DopplerID *struct{ DeviceSerialNumber, DeviceType string }
				Key       *struct{ EntryID string }
			}
			_ = json.Unmarshal(ex.Payload, &ids)
			var want push.Device
			switch {
			case ids.DopplerID != nil:
				want = push.Device{SerialNumber: ids.DopplerID.DeviceSerialNumber, DeviceType: ids.DopplerID.DeviceType}
			case ids.Key != nil: // PUSH_ACTIVITY: "ts#deviceType#serial"
				want = push.Device{SerialNumber: "G090LF09643202VS", DeviceType: "A3S5BH2HU6VAYF"}
			}
			if p.Device != want {
				t.Errorf("device %+v, want %+v", p.Device, want)
			}
		})
	}
}

func TestDecodeDirectiveShapes(t *testing.T) {
	tests := []struct {
		name    string
		part    string
		command string
		device  push.Device
		time    time.Time
		payload string
	}{
		{
			name:    "dsn instead of dopplerId, extra fields",
			part:    `{"directive":{"header":{"messageId":"x"},"payload":{"renderingUpdates":[{"resourceMetadata":"{\"command\":\"PUSH_VOLUME_CHANGE\",\"payload\":\"{\\\"dsn\\\":\\\"G0X\\\",\\\"deviceType\\\":\\\"A1\\\",\\\"volumeSetting\\\":48000}\",\"error\":false,\"errorMessage\":null,\"mediaReferenceId\":\"r\"}"}]}}}`,
			command: "PUSH_VOLUME_CHANGE",
			device:  push.Device{SerialNumber: "G0X", DeviceType: "A1"},
			payload: `{"dsn":"G0X","deviceType":"A1","volumeSetting":48000}`,
		},
		{
			name:    "dsn object",
			part:    `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{\"command\":\"PUSH_DND_STATE_CHANGE\",\"payload\":\"{\\\"dsn\\\":{\\\"deviceSerialNumber\\\":\\\"S\\\",\\\"deviceType\\\":\\\"T\\\"},\\\"enabled\\\":true}\"}"}]}}}`,
			command: "PUSH_DND_STATE_CHANGE",
			device:  push.Device{SerialNumber: "S", DeviceType: "T"},
			payload: `{"dsn":{"deviceSerialNumber":"S","deviceType":"T"},"enabled":true}`,
		},
		{
			name:    "objects instead of strings, time stamp as string",
			part:    `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":{"command":"PUSH_MEDIA_CHANGE","payload":{"dopplerId":{"deviceSerialNumber":"S","deviceType":"T"}},"timeStamp":"1700000000123"}}]}}}`,
			command: "PUSH_MEDIA_CHANGE",
			device:  push.Device{SerialNumber: "S", DeviceType: "T"},
			time:    time.UnixMilli(1700000000123),
			payload: `{"dopplerId":{"deviceSerialNumber":"S","deviceType":"T"}}`,
		},
		{
			name:    "null time stamp, no device",
			part:    `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{\"command\":\"PUSH_LIST_CHANGE\",\"payload\":\"{\\\"listId\\\":\\\"L\\\"}\",\"timeStamp\":null}"}]}}}`,
			command: "PUSH_LIST_CHANGE",
			payload: `{"listId":"L"}`,
		},
		{
			name:    "command from resourceId, no payload",
			part:    `{"directive":{"payload":{"renderingUpdates":[{"resourceId":"PUSH_MICROPHONE_STATE","resourceMetadata":"{}"}]}}}`,
			command: "PUSH_MICROPHONE_STATE",
		},
		{
			name:    "dopplerId of the wrong type is ignored",
			part:    `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{\"command\":\"PUSH_X\",\"payload\":\"{\\\"dopplerId\\\":7,\\\"notificationVersion\\\":{}}\"}"}]}}}`,
			command: "PUSH_X",
			payload: `{"dopplerId":7,"notificationVersion":{}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pushes, err := push.DecodeDirective([]byte(tc.part))
			if err != nil {
				t.Fatal(err)
			}
			if len(pushes) != 1 {
				t.Fatalf("%d pushes", len(pushes))
			}
			p := pushes[0]
			if p.Command != tc.command || p.Device != tc.device || !p.Time.Equal(tc.time) {
				t.Errorf("got %q %+v %v", p.Command, p.Device, p.Time)
			}
			if tc.payload == "" {
				if p.Payload != nil {
					t.Errorf("payload %s, want none", p.Payload)
				}
			} else if !jsonEqual(t, p.Payload, []byte(tc.payload)) {
				t.Errorf("payload %s", p.Payload)
			}
		})
	}
}

func TestDecodeDirectiveNoRenderingUpdates(t *testing.T) {
	pushes, err := push.DecodeDirective([]byte(`{"directive":{"header":{"namespace":"System","name":"SetEndpoint"},"payload":{"endpoint":"https://x"}}}`))
	if err != nil || len(pushes) != 0 {
		t.Fatalf("%+v %v", pushes, err)
	}
}

func TestDecodeDirectiveMalformed(t *testing.T) {
	for name, part := range map[string]string{
		"not JSON":                 `{"directive":`,
		"no directive":             `{"event":{}}`,
		"metadata is a number":     `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":7}]}}}`,
		"metadata string not JSON": `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{nope"}]}}}`,
		"payload string not JSON":  `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{\"command\":\"PUSH_X\",\"payload\":\"{nope\"}"}]}}}`,
		"no command":               `{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{\"payload\":\"{}\"}"}]}}}`,
		"renderingUpdates object":  `{"directive":{"payload":{"renderingUpdates":{}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			pushes, err := push.DecodeDirective([]byte(part))
			if !errors.Is(err, push.ErrMalformed) || len(pushes) != 0 {
				t.Fatalf("%+v, %v; want ErrMalformed", pushes, err)
			}
		})
	}
}

func TestDecodeDirectiveKeepsGoodUpdates(t *testing.T) {
	part := `{"directive":{"payload":{"renderingUpdates":[
		{"resourceMetadata":"{nope"},
		{"resourceMetadata":"{\"command\":\"PUSH_MEDIA_CHANGE\",\"payload\":\"{}\"}"}]}}}`
	pushes, err := push.DecodeDirective([]byte(part))
	if !errors.Is(err, push.ErrMalformed) || len(pushes) != 1 || pushes[0].Command != "PUSH_MEDIA_CHANGE" {
		t.Fatalf("%+v, %v", pushes, err)
	}
}

func TestPushKeys(t *testing.T) {
	key := func(messageID, command string, payload any, ts any) string {
		pushes, err := push.DecodeDirective(directive(t, messageID, command, payload, ts))
		if err != nil || len(pushes) != 1 {
			t.Fatalf("%+v %v", pushes, err)
		}
		return pushes[0].Key
	}
	notif := func(user string, version int) map[string]any {
		return map[string]any{"destinationUserId": user, "notificationId": "n1", "notificationVersion": version, "eventType": "UPDATE"}
	}
	item := func(user string, version int) map[string]any {
		return map[string]any{"destinationUserId": user, "listId": "L", "listItemId": "I", "version": version, "eventName": "itemUpdated"}
	}
	volume := func(user string, v int) map[string]any {
		return map[string]any{"destinationUserId": user, "dopplerId": map[string]any{"deviceSerialNumber": "S", "deviceType": "T"}, "volumeSetting": v}
	}
	same := []struct{ name, a, b string }{
		{"notification copies per household member", key("m1", "PUSH_NOTIFICATION_CHANGE", notif("U1", 3), 1), key("m2", "PUSH_NOTIFICATION_CHANGE", notif("U2", 3), 2)},
		{"list item copies per household member", key("m1", "PUSH_LIST_ITEM_CHANGE", item("U1", 2), nil), key("m2", "PUSH_LIST_ITEM_CHANGE", item("U2", 2), nil)},
		{"volume copies per household member", key("m1", "PUSH_VOLUME_CHANGE", volume("U1", 30), 5), key("m2", "PUSH_VOLUME_CHANGE", volume("U2", 30), 5)},
		{"redelivered directive", key("m1", "PUSH_VOLUME_CHANGE", volume("U1", 30), nil), key("m1", "PUSH_VOLUME_CHANGE", volume("U1", 30), nil)},
	}
	for _, tc := range same {
		if tc.a != tc.b || tc.a == "" {
			t.Errorf("%s: keys %q and %q should be equal", tc.name, tc.a, tc.b)
		}
	}
	differ := []struct{ name, a, b string }{
		{"notification version", key("m", "PUSH_NOTIFICATION_CHANGE", notif("U", 3), 1), key("m", "PUSH_NOTIFICATION_CHANGE", notif("U", 4), 1)},
		{"list item version", key("m", "PUSH_LIST_ITEM_CHANGE", item("U", 1), nil), key("m", "PUSH_LIST_ITEM_CHANGE", item("U", 2), nil)},
		{"volume at another time", key("m", "PUSH_VOLUME_CHANGE", volume("U", 30), 5), key("m", "PUSH_VOLUME_CHANGE", volume("U", 30), 6)},
		{"volume value", key("m", "PUSH_VOLUME_CHANGE", volume("U", 30), 5), key("m", "PUSH_VOLUME_CHANGE", volume("U", 40), 5)},
		{"command", key("m", "PUSH_MEDIA_CHANGE", volume("U", 30), 5), key("m", "PUSH_VOLUME_CHANGE", volume("U", 30), 5)},
	}
	for _, tc := range differ {
		if tc.a == tc.b {
			t.Errorf("%s: keys both %q", tc.name, tc.a)
		}
	}
	// Nothing identifies a bare GWM without a time stamp: never deduplicated.
	pushes, err := push.DecodeGWM([]byte(`GWM MSG 0x0000b479 0x00000001 a 0x00000001 b {"command":"PUSH_VOLUME_CHANGE","payload":"{\"volumeSetting\":3}"}`))
	if err != nil || pushes[0].Key != "" {
		t.Errorf("key %q, %v; want none", pushes[0].Key, err)
	}
	if k := key("m", "PUSH_NOTIFICATION_CHANGE", notif("U", 3), nil); !strings.Contains(k, "n1") {
		t.Errorf("notification key %q should name the notification", k)
	}
}

func TestDefaultBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	for n, w := range want {
		if got := push.DefaultBackoff(n); got != w {
			t.Errorf("n=%d: %v, want %v", n, got, w)
		}
	}
	if got := push.DefaultBackoff(1000); got != 10*time.Minute {
		t.Errorf("n=1000: %v", got)
	}
}

// FuzzDecodeDirective: no panic on any input, and whatever decodes has a
// command and a JSON payload.
func FuzzDecodeDirective(f *testing.F) {
	r := push.NewMultipartReader(fixtureBoundary, 0)
	parts, _ := r.Feed(fixture(f, "http2_downchannel_body_SYNTHETIC.txt"))
	for _, p := range parts {
		f.Add(p.Body)
	}
	for i, ex := range payloadExamples(f) {
		f.Add(directive(f, fmt.Sprint(i), ex.Command, ex.Payload, nil))
	}
	f.Add([]byte(`{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":{"command":"PUSH_MEDIA_CHANGE","payload":{"dsn":"S"},"timeStamp":"17"}}]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pushes, _ := push.DecodeDirective(b)
		checkPushes(t, pushes)
	})
}
