package smarthome_test

import (
	"context"
	"testing"

	"github.com/alexarules/alexarules/alexa/smarthome"
)

// A call's context learns what that call sent, and only that call's.
func TestWithSentSeesItsOwnCall(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	var mine []smarthome.Sent
	if err := r.c.Update(smarthome.WithSent(ctx, func(s smarthome.Sent) { mine = append(mine, s) }), deskLamp, "setColor", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.c.Update(ctx, deskLamp, "turnOn"); err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].ID != deskLamp || mine[0].Operation != "setColor" || mine[0].Params["colorName"] != "red" ||
		mine[0].Request != "PUT /api/phoenix/state" || mine[0].Note == "" {
		t.Fatalf("sent under the context: %+v", mine)
	}
}
