package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/web"
)

const customerID = "A1CUSTOMER"

var officeEcho = web.Echo{Serial: "G0911W0793360TLG", Type: "A1RABVCI4QCIKC", Name: "Office", Family: "KNIGHT", Online: true}

// previewFake answers users/me and accepts every preview with Amazon's
// empty 200.
func previewFake(t *testing.T) *fake {
	return newFake(t, map[string]http.HandlerFunc{
		"GET /api/users/me": reply(200, `{"id":"`+customerID+`","fullName":"Sim User","marketPlaceLocale":"de-DE"}`),
		"POST /api/behaviors/preview": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
		},
	})
}

// previewBody is the exact body of a preview call carrying the sequence
// seq (readable JSON, compacted here): sequenceJson is a string.
func previewBody(t *testing.T, behaviorID, seq string) string {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(seq)); err != nil {
		t.Fatalf("test sequence: %v", err)
	}
	var quoted bytes.Buffer
	enc := json.NewEncoder(&quoted)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(compact.String()); err != nil {
		t.Fatal(err)
	}
	return `{"behaviorId":"` + behaviorID + `","sequenceJson":` + strings.TrimSpace(quoted.String()) + `,"status":"ENABLED"}`
}

// serial wraps nodes in the Sequence and its SerialNode.
func serial(nodes ...string) string {
	return `{"@type":"com.amazon.alexa.behaviors.model.Sequence","startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode","name":null,"nodesToExecute":[` +
		strings.Join(nodes, ",") + `]}}`
}

func speakNode(e web.Echo, text string) string {
	return `{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.Speak","skillId":"amzn1.ask.1p.saysomething",
	 "operationPayload":{"deviceType":"` + e.Type + `","deviceSerialNumber":"` + e.Serial + `","locale":"de-DE","customerId":"A1CUSTOMER","textToSpeak":"` + text + `"}}`
}

func TestPerformExactBodies(t *testing.T) {
	both := []web.Echo{berlinEcho, officeEcho}
	tests := []struct {
		name    string
		targets []web.Echo
		action  web.Action
		want    string
	}{
		{"speak", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSpeak, Text: "  The washing   machine\tis done. "},
			serial(speakNode(berlinEcho, "The washing machine is done."))},
		{"speak to two Echos runs in parallel", both, web.Action{Kind: web.ActionSpeak, Text: "Dinner"},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.ParallelNode","name":null,"nodesToExecute":[` +
				speakNode(berlinEcho, "Dinner") + `,` + speakNode(officeEcho, "Dinner") + `]}`)},
		{"announce to two Echos in one node", both, web.Action{Kind: web.ActionAnnounce, Text: "Dinner!", Title: "Home"},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"AlexaAnnouncement",
			 "skillId":"amzn1.ask.1p.routines.messaging",
			 "operationPayload":{"customerId":"A1CUSTOMER","expireAfter":"PT5S",
			   "content":[{"locale":"de-DE","display":{"title":"Home","body":"Dinner!"},"speak":{"type":"text","value":"Dinner!"}}],
			   "target":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"G090LF09643202VS","deviceTypeId":"A3S5BH2HU6VAYF"},
			                                            {"deviceSerialNumber":"G0911W0793360TLG","deviceTypeId":"A1RABVCI4QCIKC"}]}}}`)},
		{"ssml", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSSML, Text: "<speak>Hi <break time='1s'/> there & you</speak>"},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"AlexaAnnouncement",
			 "skillId":"amzn1.ask.1p.routines.messaging",
			 "operationPayload":{"customerId":"A1CUSTOMER","expireAfter":"PT5S",
			   "content":[{"locale":"de-DE","display":{"title":"alexarules","body":"Hi there & you"},
			               "speak":{"type":"ssml","value":"<speak>Hi <break time='1s'/> there & you</speak>"}}],
			   "target":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"G090LF09643202VS","deviceTypeId":"A3S5BH2HU6VAYF"}]}}}`)},
		{"dnd for an hour", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionDND, Enable: true, Duration: time.Hour},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.DoNotDisturb",
			 "skillId":"amzn1.ask.1p.alexadevicecontrols",
			 "operationPayload":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"G090LF09643202VS","deviceTypeId":"A3S5BH2HU6VAYF"}],
			   "isAssociatedDevice":false,"action":"Enable","duration":"DURATION#PT1H0M0S"}}`)},
		{"dnd 90 minutes 5 seconds", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionDND, Enable: true, Duration: 90*time.Minute + 5*time.Second},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.DoNotDisturb",
			 "skillId":"amzn1.ask.1p.alexadevicecontrols",
			 "operationPayload":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"G090LF09643202VS","deviceTypeId":"A3S5BH2HU6VAYF"}],
			   "isAssociatedDevice":false,"action":"Enable","duration":"DURATION#PT1H30M5S"}}`)},
		{"dnd off", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionDND},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.DoNotDisturb",
			 "skillId":"amzn1.ask.1p.alexadevicecontrols",
			 "operationPayload":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"G090LF09643202VS","deviceTypeId":"A3S5BH2HU6VAYF"}],
			   "isAssociatedDevice":false,"action":"Disable"}}`)},
		{"stop two", both, web.Action{Kind: web.ActionStop},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.Stop",
			 "skillId":"amzn1.ask.1p.alexadevicecontrols",
			 "operationPayload":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF"},
			   {"deviceSerialNumber":"G0911W0793360TLG","deviceType":"A1RABVCI4QCIKC"}],"isAssociatedDevice":false}}`)},
		{"volume", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionVolume, Volume: 30},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.Volume",
			 "skillId":"amzn1.ask.1p.alexadevicecontrols",
			 "operationPayload":{"deviceType":"A3S5BH2HU6VAYF","deviceSerialNumber":"G090LF09643202VS","locale":"de-DE","customerId":"A1CUSTOMER","value":30}}`)},
		{"command is lower-cased", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionCommand, Text: "Turn on the Hall light"},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.TextCommand",
			 "skillId":"amzn1.ask.1p.tellalexa",
			 "operationPayload":{"deviceType":"A3S5BH2HU6VAYF","deviceSerialNumber":"G090LF09643202VS","locale":"de-DE","customerId":"A1CUSTOMER","text":"turn on the hall light"}}`)},
		{"sound", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSound, Text: "amzn_sfx_doorbell_chime_01"},
			serial(`{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.Sound",
			 "skillId":"amzn1.ask.1p.sound",
			 "operationPayload":{"deviceType":"A3S5BH2HU6VAYF","deviceSerialNumber":"G090LF09643202VS","locale":"de-DE","customerId":"A1CUSTOMER","soundStringId":"amzn_sfx_doorbell_chime_01"}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := previewFake(t)
			c, _ := newClient(t, f, nil)
			if err := c.Perform(context.Background(), tt.targets, tt.action); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 2 || reqs[1].Method != "POST" || reqs[1].Path != "/api/behaviors/preview" {
				t.Fatalf("requests %+v, want users/me then one preview", reqs)
			}
			if got, want := reqs[1].Body, previewBody(t, "PREVIEW", tt.want); got != want {
				t.Errorf("body\n got %s\nwant %s", got, want)
			}
			checkSession(t, reqs[1], f.srv.URL)
		})
	}
}

func TestPerformSplitsLongTextAtSentences(t *testing.T) {
	s1 := strings.Repeat("a", 120) + "."
	s2 := strings.Repeat("b", 100) + "!"
	s3 := strings.Repeat("c", 60) + "?"
	long := strings.TrimSpace(strings.Repeat("word ", 60)) // 299 runes, no sentence end
	f := previewFake(t)
	c, _ := newClient(t, f, nil)
	text := s1 + " " + s2 + " " + s3 + " " + long
	if err := c.Perform(context.Background(), []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSpeak, Text: text}); err != nil {
		t.Fatal(err)
	}
	// The sentences packed up to 250; the sentence without an end cut at
	// the word that would pass 250 (50 words are 249 runes).
	want := serial(speakNode(berlinEcho, s1+" "+s2), speakNode(berlinEcho, s3),
		speakNode(berlinEcho, strings.TrimSpace(strings.Repeat("word ", 50))),
		speakNode(berlinEcho, strings.TrimSpace(strings.Repeat("word ", 10))))
	if got := f.requests()[1].Body; got != previewBody(t, "PREVIEW", want) {
		t.Errorf("body\n got %s\nwant %s", got, previewBody(t, "PREVIEW", want))
	}
}

func TestPerformCutsAWordLongerThanAPart(t *testing.T) {
	f := previewFake(t)
	c, _ := newClient(t, f, nil)
	word := strings.Repeat("x", 260)
	if err := c.Perform(context.Background(), []web.Echo{berlinEcho}, web.Action{Kind: web.ActionAnnounce, Text: "Hi. " + word}); err != nil {
		t.Fatal(err)
	}
	var sent struct{ SequenceJSON string }
	if err := json.Unmarshal([]byte(f.requests()[1].Body), &sent); err != nil {
		t.Fatal(err)
	}
	var seq struct {
		StartNode struct {
			NodesToExecute []struct {
				OperationPayload struct {
					Content []struct{ Speak struct{ Value string } }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(sent.SequenceJSON), &seq); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, n := range seq.StartNode.NodesToExecute {
		parts = append(parts, n.OperationPayload.Content[0].Speak.Value)
	}
	assertEqual(t, parts, []string{"Hi.", word[:250], word[250:]})
}

func TestPerformRejectsBeforeSending(t *testing.T) {
	tests := []struct {
		name    string
		targets []web.Echo
		action  web.Action
		wantMsg string
	}{
		{"empty text", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSpeak, Text: " \t "}, "speak: empty text"},
		{"empty announcement", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionAnnounce}, "announce: empty text"},
		{"no target", nil, web.Action{Kind: web.ActionSpeak, Text: "hi"}, "speak: no target Echo"},
		{"ssml without speak", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSSML, Text: "hi"}, "ssml must start with <speak>"},
		{"volume", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionVolume, Volume: 101}, "volume 101: want 0..100"},
		{"dnd too long", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionDND, Enable: true, Duration: 13 * time.Hour}, "want whole seconds up to 12h"},
		{"unknown kind", []web.Echo{berlinEcho}, web.Action{Kind: "dance"}, `action "dance"`},
		{"echo without type", []web.Echo{{Serial: "S", Name: "Broken"}}, web.Action{Kind: web.ActionStop}, `echo "Broken" has no serial number or device type`},
		{"empty sound", []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSound}, "sound: empty sound id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := previewFake(t)
			c, _ := newClient(t, f, nil)
			err := c.Perform(context.Background(), tt.targets, tt.action)
			if !errors.Is(err, web.ErrInvalid) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.wantMsg)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestCustomerIDIsCached(t *testing.T) {
	f := previewFake(t)
	c, _ := newClient(t, f, nil)
	for range 2 {
		if err := c.Perform(context.Background(), []web.Echo{berlinEcho}, web.Action{Kind: web.ActionStop}); err != nil {
			t.Fatal(err)
		}
	}
	var me int
	for _, r := range f.requests() {
		if r.Path == "/api/users/me" {
			me++
		}
	}
	if me != 1 {
		t.Errorf("users/me asked %d times, want 1", me)
	}
}

func TestPerformRemoteError(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/users/me":           reply(200, `{"id":"A1CUSTOMER"}`),
		"POST /api/behaviors/preview": reply(400, `{"message":"Unknown device serial G0"}`),
	})
	c, _ := newClient(t, f, nil)
	err := c.Perform(context.Background(), []web.Echo{berlinEcho}, web.Action{Kind: web.ActionSpeak, Text: "hi"})
	var e *web.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(err.Error(), "POST /api/behaviors/preview: 400 Bad Request: Unknown device serial G0") {
		t.Fatalf("err = %v", err)
	}
}
