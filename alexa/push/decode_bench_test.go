package push_test

import (
	"encoding/json"
	"testing"

	"github.com/alexarules/alexarules/alexa/push"
)

// benchDirective is a volume push as the downchannel carries it: the
// command envelope and its payload each a JSON string inside the other.
func benchDirective(b *testing.B) []byte {
	payload, _ := json.Marshal(map[string]any{"dopplerId": map[string]any{"deviceSerialNumber": "G090LF1234567890", "deviceType": "A3S5BH2HU6VAYF"},
		"destinationUserId": "AAAAAAAAAAAAAA", "volumeSetting": 57, "isMuted": false})
	meta, _ := json.Marshal(map[string]any{"command": "PUSH_VOLUME_CHANGE", "payload": string(payload), "timeStamp": 1764950000123})
	d := map[string]any{"directive": map[string]any{
		"header":  map[string]any{"namespace": "DeeAppMessagingGateway", "name": "ProcessNotification", "messageId": "3f1c9d2e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"},
		"payload": map[string]any{"renderingUpdates": []any{map[string]any{"route": "DeeAppMessage", "resourceId": "PUSH_VOLUME_CHANGE", "resourceMetadata": string(meta)}}}}}
	out, err := json.Marshal(d)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkDecodeDirective is the push source's decoding of one
// downchannel directive, on the push form's path of issue 13's benchmark.
func BenchmarkDecodeDirective(b *testing.B) {
	part := benchDirective(b)
	b.ReportAllocs()
	for b.Loop() {
		ps, err := push.DecodeDirective(part)
		if err != nil || len(ps) != 1 || ps[0].Device.SerialNumber == "" || ps[0].Key == "" {
			b.Fatalf("%+v %v", ps, err)
		}
	}
}
