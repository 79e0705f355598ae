package cluster_test

import (
	"slices"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/cluster"
)

func TestRouterFindsEachEventsPartition(t *testing.T) {
	custom := func(id string, names ...string) *engine.Rule {
		return &engine.Rule{ID: id, Triggers: []engine.Trigger{{Kind: engine.KindCustom, Keys: names}}}
	}
	r := cluster.NewRouter([]cluster.Property{
		{Name: "hotel-a", Devices: []string{"Room 101 Lamp", "ep-7"}, Rules: []string{"a-ring", "a-cron"}},
		{Name: "hotel-b", Rules: []string{"b-ring"}},
	}, []*engine.Rule{custom("a-ring", "ring"), custom("b-ring", "ring"), custom("home", "doorbell"), {ID: "a-cron"}})
	for _, c := range []struct {
		what string
		ev   engine.Event
		want []string
	}{
		{"a device of a property, by name in any case", engine.Event{Kind: engine.KindReading, Device: &engine.Device{Name: "room 101 lamp"}}, []string{"hotel-a"}},
		{"a device of a property, by id", engine.Event{Kind: engine.KindReading, Device: &engine.Device{Name: "Other", ID: "ep-7"}}, []string{"hotel-a"}},
		{"a device in no property", engine.Event{Kind: engine.KindAlarm, Device: &engine.Device{Name: "Kitchen Echo"}}, []string{"default"}},
		{"a custom event two properties' rules take", engine.Event{Kind: engine.KindCustom, Name: "ring"}, []string{"hotel-a", "hotel-b"}},
		{"a custom event of a rule in no property", engine.Event{Kind: engine.KindCustom, Name: "doorbell"}, []string{"default"}},
		{"a custom event no rule takes", engine.Event{Kind: engine.KindCustom, Name: "nobody"}, []string{"default"}},
		{"a schedule tick of a property's rule", engine.Event{Kind: engine.KindSchedule, Target: "a-cron"}, []string{"hotel-a"}},
	} {
		if got := r.Route(c.ev); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, got, c.want)
		}
	}
	if got := r.Partitions(); !slices.Equal(got, []string{"default", "hotel-a", "hotel-b"}) {
		t.Errorf("partitions %v", got)
	}
}
