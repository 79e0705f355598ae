package web

import (
	"testing"
	"time"
)

func TestZonesLoadEachZoneOnce(t *testing.T) {
	var z Zones
	a, err := z.Load("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	b, err := z.Load("Europe/Berlin")
	if err != nil || a != b {
		t.Fatalf("second load: %p, %v; want the same *time.Location %p", b, err, a)
	}
	if want, _ := time.LoadLocation("Europe/Berlin"); a.String() != want.String() {
		t.Fatalf("zone %s", a)
	}
	if _, err := z.Load("Nowhere/Else"); err == nil {
		t.Fatal("an unknown zone loaded")
	}
	if allocs := testing.AllocsPerRun(100, func() { z.Load("Europe/Berlin") }); allocs != 0 {
		t.Fatalf("a cached zone allocates %v times", allocs)
	}
}
