package jsonenc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/internal/jsonenc"
)

// created is what a caller of StringField(doc, "id") would otherwise
// decode with encoding/json.
type created struct {
	ID string `json:"id"`
}

// checkStringField fails when StringField is sure of a value that
// json.Unmarshal does not give, or of a document it refuses.
func checkStringField(t *testing.T, doc string) (string, bool) {
	t.Helper()
	got, ok := jsonenc.StringField([]byte(doc), "id")
	if !ok {
		return got, false
	}
	var want created
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatalf("StringField(%q) = %q, but json.Unmarshal refuses it: %v", doc, got, err)
	}
	if got != want.ID {
		t.Fatalf("StringField(%q) = %q, json.Unmarshal gives %q", doc, got, want.ID)
	}
	return got, true
}

// The documents StringField reads itself: the answer of the sink of the
// end-to-end benchmark and Amazon's created reminder.
var sure = []struct{ doc, want string }{
	{`{"id":"G090-1","type":"Reminder","status":"ON","version":"1","deviceSerialNumber":"G090","reminderLabel":"{\"seq\":7,\"x\":\"\u00e9\\n\"}"}`, "G090-1"},
	{` {"alarmTime":1700000000000,"createdDate":1.5e3,"deviceSerialNumber":"G0","id":"A3S5-G0-b3b9-4a55","isRecurring":false,` +
		`"originalDate":"2026-12-05","personProfile":null,"sound":{"displayName":"Simple","folder":null,"id":"system_alerts_melodic_01"},` +
		`"targetPersonProfiles":[],"triggerTime":-0.25E-2,"rRuleData":{"byWeekDays":[1,2],"flags":[true,false]}} `, "A3S5-G0-b3b9-4a55"},
	{`{"id":"first","x":[[[{}]]],"id":"last"}`, "last"},
	{"{\t\"id\"\r\n:\n\"x y\"}", "x y"},
	{`{"id":""}`, ""},
	{`{"ids":"no","id":"yes","i":"no","d":"no"}`, "yes"},
	{`{"name":"caf` + "\xff" + `é","id":"x"}`, "x"},
}

func TestStringFieldIsEncodingJSONs(t *testing.T) {
	for _, tc := range sure {
		if got, ok := checkStringField(t, tc.doc); !ok || got != tc.want {
			t.Errorf("StringField(%q) = %q, %v; want %q, true", tc.doc, got, ok, tc.want)
		}
	}
	// Anything else is left to encoding/json: syntax errors (which it
	// refuses too), and what it may read differently.
	for _, doc := range []string{
		``, ` `, `{`, `[]`, `null`, `"id"`, `{}`, `{"x":1}`, `{"id":"a"`, `{"id":"a"}x`, `{"id":"a"}{}`, `{"id":"a",}`,
		`{,"id":"a"}`, `{"id":"a" "x":1}`, `{"id" "a"}`, `{"id":"a","x":}`, `{'id':"a"}`, `{id:"a"}`,
		`{"id":7}`, `{"id":null}`, `{"id":true}`, `{"id":["a"]}`, `{"id":"a\"b"}`, `{"id":"\u0061"}`, `{"id":"é"}`,
		`{"id":"a` + "\x01" + `"}`, `{"id":"a` + "\x7f" + `"}`, `{"ID":"a"}`, `{"id":"a","Id":"b"}`, `{"\u0069d":"a"}`,
		`{"id":"a","x":01}`, `{"id":"a","x":1.}`, `{"id":"a","x":.5}`, `{"id":"a","x":1e}`, `{"id":"a","x":+1}`,
		`{"id":"a","x":-}`, `{"id":"a","x":0x1}`, `{"id":"a","x":tru}`, `{"id":"a","x":nul}`, `{"id":"a","x":True}`,
		`{"id":"a","x":"\x"}`, `{"id":"a","x":"\u12"}`, `{"id":"a","x":"\u12G4"}`, `{"id":"a","x":"` + "\t" + `"}`,
		`{"id":"a","x":[1,]}`, `{"id":"a","x":[,1]}`, `{"id":"a","x":[1 2]}`, `{"id":"a","x":{"y"}}`, `{"id":"a","x":{1:2}}`,
		`{"id":"a","x":]}`, `{"id":"a","x":"unterminated}`, `{"id":"a","x":NaN}`, `{"id":"a","x":Infinity}`,
		"\v{\"id\":\"a\"}", "{\"id\":\"a\"}\u00a0", `{"id":"a","x":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`,
	} {
		if got, ok := checkStringField(t, doc); ok {
			t.Errorf("StringField(%q) = %q, true; want it left to encoding/json", doc, got)
		}
	}
	// 64 levels are read; deeper ones are encoding/json's.
	deep := `{"id":"a","x":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`
	if got, ok := checkStringField(t, deep); !ok || got != "a" {
		t.Errorf("63 nested arrays: %q, %v", got, ok)
	}
}

func TestStringFieldAllocatesTheValueOnly(t *testing.T) {
	doc := []byte(sure[1].doc)
	if n := testing.AllocsPerRun(100, func() { jsonenc.StringField(doc, "id") }); n > 1 {
		t.Errorf("StringField allocates %v times, want at most 1 (the value)", n)
	}
}

// FuzzStringField: whatever StringField is sure of, json.Unmarshal reads
// the same way.
func FuzzStringField(f *testing.F) {
	for _, tc := range sure {
		f.Add(tc.doc)
	}
	f.Add(`{"id":"a","x":[{"y":-0.0e+1}],"z":"\ud83d\ude00"}`)
	f.Add(`{"Id":"a"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		checkStringField(t, doc)
		if _, ok := jsonenc.StringField([]byte(doc), "id"); ok && !json.Valid([]byte(doc)) {
			t.Fatalf("StringField is sure of %q, which is not valid JSON", doc)
		}
	})
}

func BenchmarkStringField(b *testing.B) {
	doc := []byte(sure[0].doc)
	b.Run("StringField", func(b *testing.B) {
		for b.Loop() {
			jsonenc.StringField(doc, "id")
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var c created
			json.Unmarshal(doc, &c)
		}
	})
}
