package poll

import (
	"time"

	"github.com/alexarules/alexarules/engine"
)

// ReadingEvent is the event the poller publishes when attribute attr of
// dev changed to value; previous is the value before, when known. Rule
// tests (package ruletest) hand the engine the same events.
func ReadingEvent(dev engine.Device, attr string, value, previous any, known bool, now time.Time) engine.Event {
	data := map[string]any{"attr": attr, "value": value, "since": epoch(now)}
	if known {
		data["previous"] = previous
	}
	return engine.Event{Kind: engine.KindReading, Time: now, Device: &dev, Data: data}
}

// ReachabilityEvent is the event the poller publishes when dev's
// connectivity changed to conn (ConnectivityOK: reachable); previous is
// the connectivity before, when known.
func ReachabilityEvent(dev engine.Device, conn string, previous any, known bool, now time.Time) engine.Event {
	data := map[string]any{"reachable": conn == ConnectivityOK, "connectivity": conn, "since": epoch(now)}
	if known {
		data["previous"] = previous
	}
	return engine.Event{Kind: engine.KindReachability, Time: now, Device: &dev, Data: data}
}
