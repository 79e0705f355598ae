package cluster

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SetQueueDelay sets how long s's queued puts wait for a write to ride
// with before they are written alone.
func SetQueueDelay(s *Store, d time.Duration) {
	s.mu.Lock()
	s.queue.delay = d
	s.mu.Unlock()
}

// StreamsUnchanged reports whether c's event and log streams on the server
// already have the settings c would give them, so that the next node to
// connect does not update them.
func StreamsUnchanged(c *Conn) (bool, error) {
	events, logs := c.streamConfigs()
	for _, cfg := range []jetstream.StreamConfig{events, logs} {
		st, err := c.js.Stream(context.Background(), cfg.Name)
		if err != nil {
			return false, err
		}
		info, err := st.Info(context.Background())
		if err != nil {
			return false, err
		}
		if !sameStream(info.Config, cfg) {
			return false, nil
		}
	}
	return true, nil
}
