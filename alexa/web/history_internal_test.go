package web

import "testing"

func TestStripWakeWord(t *testing.T) {
	for _, c := range []struct{ text, word, want string }{
		{"alexa turn on the light", "alexa", "turn on the light"},
		{"Alexa, good night", "alexa", "good night"},
		{"computer: lights off", "computer", "lights off"},
		{"alexa", "alexa", ""},
		{"Alexander is home", "alexa", "Alexander is home"},
		{"turn on the light", "alexa", "turn on the light"},
		{"hey ziggy play music", "ziggy", "hey ziggy play music"},
	} {
		if got := stripWakeWord(c.text, c.word); got != c.want {
			t.Errorf("stripWakeWord(%q, %q) = %q, want %q", c.text, c.word, got, c.want)
		}
	}
}

func TestFillTextJoinsTranscriptsAndReplies(t *testing.T) {
	rec := VoiceRecord{Serial: "S1"}
	fillText(&rec, []historyItem{
		{Type: "CUSTOMER_TRANSCRIPT", Text: "computer play jazz"},
		{Type: "ASR_REPLACEMENT_TEXT", Text: "in the kitchen"},
		{Type: "ALEXA_RESPONSE", Text: "Playing jazz"},
		{Type: "TTS_REPLACEMENT_TEXT", Text: "from Amazon Music"},
		{Type: "CUSTOMER_TRANSCRIPT", Text: "  "},
	}, []historyPerson{{FirstName: "Bob"}}, map[string]string{"S1": "computer"})
	if rec.Text != "play jazz, in the kitchen" || rec.Reply != "Playing jazz, from Amazon Music" || rec.Person != "Bob" {
		t.Errorf("%+v", rec)
	}
}
