package cluster

import (
	"fmt"
	"strconv"
	"strings"
)

// escape makes s one token of a NATS subject and a valid KV key: letters,
// digits, '-', '_' and '/' stay, every other byte becomes =XX (hex), so
// rule ids, device names and event ids map one to one onto keys.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '/':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	if b.Len() == 0 {
		return "=" // an empty name is a token too
	}
	return b.String()
}

// unescape reverses escape.
func unescape(s string) string {
	if s == "=" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Names of the JetStream stream and KV buckets a cluster shares.
const (
	// EventStream holds the events of every partition, on subjects
	// alexarules.events.<partition>.<kind>.
	EventStream   = "ALEXARULES_EVENTS"
	eventSubjects = "alexarules.events.>"
	// LogStream holds traces (alexarules.traces.<partition>.<rule>) and
	// the recent-events journal (alexarules.journal.<partition>).
	LogStream = "ALEXARULES_LOG"
	// StateBucket is the KV bucket of everything a run commits: inbox,
	// done marks, rule state, global state, timers, holds and the
	// components' key-value space, each key prefixed by its scope.
	StateBucket = "alexarules"
	// LeaseBucket holds partition leases, node presence and the account
	// lease; its keys expire after the lease TTL unless renewed.
	LeaseBucket = "alexarules_leases"
)

// EventSubject is the subject of an event of kind in partition.
func EventSubject(partition, kind string) string {
	return "alexarules.events." + partition + "." + kind
}

func partitionFilter(partition string) string { return "alexarules.events." + partition + ".>" }

func traceSubject(partition, rule string) string {
	return "alexarules.traces." + partition + "." + escape(rule)
}

func journalSubject(partition string) string { return "alexarules.journal." + partition }

// consumerName is the durable consumer of a partition's events.
func consumerName(partition string) string { return "part-" + partition }
