package cluster

import "time"

// SetQueueDelay sets how long s's queued puts wait for a write to ride
// with before they are written alone.
func SetQueueDelay(s *Store, d time.Duration) {
	s.mu.Lock()
	s.queue.delay = d
	s.mu.Unlock()
}
