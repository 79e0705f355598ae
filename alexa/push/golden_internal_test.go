package push

import "testing"

// TestPushKeysGolden pins keys and devices as a9c9f43 computed them:
// keys are stored for deduplication across restarts, so a change of
// decoding must not change them (hashes included).
func TestPushKeysGolden(t *testing.T) {
	want := []struct {
		device Device
		key    string
	}{
		{Device{"G0911", "A3S5BH2HU6VAYF"}, "hash|d9dfa24d7897c0209399531d"},
		{Device{"S2", "T2"}, "notification|n-1|3"},
		{Device{}, "listitem|L1|I1|7|itemCreated"},
		{Device{"G0911", "A3S5BH2HU6VAYF"}, "hash|4c3991a853aa4686cb021b6c"},
		{Device{"G0922", "T9"}, "hash|8074235cb6b8f1dcf9eac067"},
		{Device{}, "hash|8d1c92e54570b21415559173"},
		{Device{"G09CASE", "TC"}, "hash|69720a929bf739229aa1fc17"}, // field names matched without regard to case
	}
	for i, c := range goldenInputs {
		p, err := decodeCommand([]byte(c), "")
		if err != nil || p.Device != want[i].device || p.Key != want[i].key {
			t.Errorf("%s:\n got %+v %q %v\nwant %+v %q", c, p.Device, p.Key, err, want[i].device, want[i].key)
		}
	}
}

var goldenInputs = []string{
	`{"command":"PUSH_VOLUME_CHANGE","payload":"{\"destinationUserId\":\"A1\",\"dopplerId\":{\"deviceSerialNumber\":\"G0911\",\"deviceType\":\"A3S5BH2HU6VAYF\"},\"isMuted\":false,\"volumeSetting\":57}","timeStamp":1764950000123}`,
	`{"command":"PUSH_NOTIFICATION_CHANGE","payload":{"notificationId":"n-1","notificationVersion":3,"deviceSerialNumber":"S2","deviceType":"T2"},"timeStamp":"1764950000999"}`,
	`{"command":"PUSH_LIST_ITEM_CHANGE","payload":"{\"listId\":\"L1\",\"listItemId\":\"I1\",\"version\":7,\"eventName\":\"itemCreated\",\"destinationUserId\":\"A1\"}","timeStamp":1764950001000}`,
	`{"command":"PUSH_ACTIVITY","payload":"{\"key\":{\"entryId\":\"1764950000#A3S5BH2HU6VAYF#G0911\"},\"big\":123456789012345678901234567890,\"f\":1.50}","timeStamp":1764950002000}`,
	`{"command":"PUSH_DND_STATE_CHANGE","payload":"{\"dsn\":\"G0922\",\"deviceType\":\"T9\",\"enabled\":true,\"esc\":\"a\\u00e9\\n<&>\"}","timeStamp":1764950003000}`,
	`{"command":"PUSH_EQUALIZER_STATE_CHANGE","payload":"[1,2,3]","timeStamp":1764950004000}`,
	`{"command":"PUSH_DOPPLER_CONNECTION_CHANGE","payload":"{\"DopplerId\":{\"deviceSerialNumber\":\"G09CASE\",\"deviceType\":\"TC\"},\"NotificationID\":\"x\"}","timeStamp":1764950005000}`,
}
