package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/alexarules/alexarules/alexa/web"
)

// automations is a bare array as Amazon serves it: a voice routine
// without a name, a named scheduled one, a disabled one, one without a
// sequence and one of another type.
const automations = `[
 {"@type":"com.amazon.alexa.behaviors.model.Automation","automationId":"amzn1.alexa.automation.night","name":null,
  "triggers":[{"id":"t1","type":"CustomUtterance","skillId":"amzn1.ask.1p.customutterance",
               "payload":{"customerId":"A1CUSTOMER","utterance":"good  night","locale":"de-DE","marketplaceId":"A1PA6795UKMFR9"}}],
  "sequence":{"@type":"com.amazon.alexa.behaviors.model.Sequence","sequenceId":"amzn1.alexa.sequence.n1",
   "startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode","name":null,"nodesToExecute":[
    {"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.Speak","skillId":"amzn1.ask.1p.saysomething",
     "operationPayload":{"deviceType":"ALEXA_CURRENT_DEVICE_TYPE","deviceSerialNumber":"ALEXA_CURRENT_DSN","locale":"ALEXA_CURRENT_LOCALE",
       "customerId":"ALEXA_CUSTOMER_ID","textToSpeak":"Sleep well, ALEXA_CURRENT_DSN"}},
    {"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.Stop","skillId":"amzn1.ask.1p.alexadevicecontrols",
     "operationPayload":{"customerId":"ALEXA_CUSTOMER_ID","devices":[{"deviceSerialNumber":"ALEXA_ALL_DSN","deviceType":"ALEXA_ALL_DEVICE_TYPE"}],"isAssociatedDevice":false}}]}},
  "status":"ENABLED"},
 {"@type":"com.amazon.alexa.behaviors.model.Automation","automationId":"amzn1.alexa.automation.morning","name":"Morning",
  "triggers":[{"type":"AbsoluteTimeSchedule","payload":{"schedule":{"triggerTime":"070000"}}},
              {"type":"CustomUtterance","payload":{"utterances":["wake up","rise and shine"]}}],
  "sequence":{"@type":"com.amazon.alexa.behaviors.model.Sequence","startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode","nodesToExecute":[]}},
  "status":"ENABLED"},
 {"@type":"com.amazon.alexa.behaviors.model.Automation","automationId":"off","name":"Off","triggers":[],"sequence":{"startNode":{}},"status":"DISABLED"},
 {"@type":"com.amazon.alexa.behaviors.model.Automation","automationId":"noseq","name":"No sequence","triggers":[],"sequence":null,"status":"ENABLED"},
 {"@type":"com.amazon.alexa.behaviors.model.Other","automationId":"other","name":"Other","sequence":{},"status":"ENABLED"}
]`

func routinesFake(t *testing.T) *fake {
	return newFake(t, map[string]http.HandlerFunc{
		"GET /api/users/me": reply(200, `{"id":"A1CUSTOMER"}`),
		"GET /api/behaviors/v2/automations": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte(automations))
		},
		"POST /api/behaviors/preview": reply(200, ``),
	})
}

func TestRoutinesListAndFind(t *testing.T) {
	f := routinesFake(t)
	c, _ := newClient(t, f, nil)
	rs, err := c.Routines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d routines, want 2: %+v", len(rs), rs)
	}
	assertEqual(t, []string{rs[0].ID, rs[0].Name}, []string{"amzn1.alexa.automation.night", "good night"})
	assertEqual(t, rs[0].Utterances, []string{"good night"})
	assertEqual(t, []string{rs[1].Name}, []string{"Morning"})
	assertEqual(t, rs[1].Utterances, []string{"wake up", "rise and shine"})
	if got := f.requests()[0].Query; got != "limit=2000" {
		t.Errorf("query %q, want limit=2000", got)
	}
	for q, want := range map[string]string{
		"GOOD   Night":   "amzn1.alexa.automation.night",
		"morning":        "amzn1.alexa.automation.morning",
		"Rise and shine": "amzn1.alexa.automation.morning",
	} {
		r, ok := web.FindRoutine(rs, q)
		if !ok || r.ID != want {
			t.Errorf("FindRoutine(%q) = %q, %t; want %q", q, r.ID, ok, want)
		}
	}
	if _, ok := web.FindRoutine(rs, "Off"); ok {
		t.Error("a disabled routine was found")
	}
}

func TestRunRoutineReplacesPlaceholders(t *testing.T) {
	f := routinesFake(t)
	c, _ := newClient(t, f, nil)
	rs, err := c.Routines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RunRoutine(context.Background(), rs[0], officeEcho); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	got := reqs[len(reqs)-1]
	if got.Method != "POST" || got.Path != "/api/behaviors/preview" {
		t.Fatalf("last request %s %s", got.Method, got.Path)
	}
	want := previewBody(t, "amzn1.alexa.automation.night", `{"@type":"com.amazon.alexa.behaviors.model.Sequence","sequenceId":"amzn1.alexa.sequence.n1",
   "startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode","name":null,"nodesToExecute":[
    {"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.Speak","skillId":"amzn1.ask.1p.saysomething",
     "operationPayload":{"deviceType":"A1RABVCI4QCIKC","deviceSerialNumber":"G0911W0793360TLG","locale":"de-DE",
       "customerId":"A1CUSTOMER","textToSpeak":"Sleep well, ALEXA_CURRENT_DSN"}},
    {"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.DeviceControls.Stop","skillId":"amzn1.ask.1p.alexadevicecontrols",
     "operationPayload":{"customerId":"A1CUSTOMER","devices":[{"deviceSerialNumber":"ALEXA_ALL_DSN","deviceType":"ALEXA_ALL_DEVICE_TYPE"}],"isAssociatedDevice":false}}]}}`)
	if got.Body != want {
		t.Errorf("body\n got %s\nwant %s", got.Body, want)
	}
}

func TestRoutinesBadResponse(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{"GET /api/behaviors/v2/automations": reply(200, `{"automations":[]}`)})
	c, _ := newClient(t, f, nil)
	if _, err := c.Routines(context.Background()); !errors.Is(err, web.ErrBadResponse) {
		t.Fatalf("err = %v, want ErrBadResponse", err)
	}
}
