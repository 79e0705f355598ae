package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// seqRules counts each seq it sees; "check" logs every seq up to its n
// whose count is not exactly one, as "seq:count" pairs.
const seqRules = `
return rule "seq" {
  when = { event "seq", event "check" },
  mode = "queued", max = 1000,
  state = { seen = {} },
  run = function(ctx, ev)
    local seen = ctx.state.seen
    if ev.name == "seq" then
      local k = tostring(math.floor(ev.data.seq))
      seen[k] = (seen[k] or 0) + 1
      return
    end
    local odd = {}
    for i = 1, ev.data.n do
      local c = seen[tostring(i)] or 0
      if c ~= 1 then odd[#odd + 1] = i .. ":" .. c end
    end
    ctx.log.info("odd=%s", table.concat(odd, ","))
  end,
}`

// poster posts seq events one after another to the current daemon. On
// 202 the seq is acknowledged; 429 and 503 are retried; a connection
// error (the daemon died) leaves the seq unknown and moves on, because
// the event may or may not have been accepted before the kill.
type poster struct {
	mu    sync.Mutex
	base  string
	next  int
	acked map[int]bool
	count atomic.Int64
}

func (p *poster) postOne(client *http.Client) {
	p.mu.Lock()
	base, seq := p.base, p.next+1
	p.mu.Unlock()
	resp, err := client.Post(base+"/api/events", "application/json",
		strings.NewReader(fmt.Sprintf(`{"name":"seq","data":{"seq":%d}}`, seq)))
	if err != nil {
		p.mu.Lock()
		if p.base == base {
			p.next = seq
		}
		p.mu.Unlock()
		return
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
		p.mu.Lock()
		p.acked[seq], p.next = true, seq
		p.mu.Unlock()
		p.count.Add(1)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
	default:
		panic(fmt.Sprintf("POST seq %d: %d", seq, resp.StatusCode))
	}
}

func TestEveryAcceptedEventRunsOnceThroughKill9s(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the daemon several times")
	}
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "k.db")
	write(t, dir, "r.lua", seqRules)
	p := &poster{acked: map[int]bool{}}
	client := &http.Client{Timeout: 5 * time.Second}
	const kills, perLife = 6, 60
	for life := range kills {
		d := startRun(t, dir, data)
		p.mu.Lock()
		p.base = d.base
		p.mu.Unlock()
		target := p.count.Load() + perLife
		stop := make(chan struct{})
		posting := make(chan struct{})
		go func() {
			defer close(posting)
			for {
				select {
				case <-stop:
					return
				default:
					p.postOne(client)
				}
			}
		}()
		d.waitFor(func() bool { return p.count.Load() >= target }, fmt.Sprintf("%d acknowledged events in life %d", perLife, life))
		// Kill while the client is still posting and runs are in flight.
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.wait()
		close(stop)
		<-posting
	}
	d := startRun(t, dir, data)
	p.mu.Lock()
	n := p.next
	p.mu.Unlock()
	if code := d.post("/api/events", fmt.Sprintf(`{"name":"check","data":{"n":%d}}`, n)); code != http.StatusAccepted {
		t.Fatalf("check: %d", code)
	}
	var odd string
	d.waitFor(func() bool {
		for _, r := range d.runs("seq") {
			if log := fmt.Sprint(r["log"]); strings.HasPrefix(log, "[info: odd=") {
				odd = strings.TrimSuffix(strings.TrimPrefix(log, "[info: odd="), "]")
				return true
			}
		}
		return false
	}, "the check run")
	for _, pair := range strings.Split(odd, ",") {
		if pair == "" {
			continue
		}
		seq, _ := strconv.Atoi(pair[:strings.IndexByte(pair, ':')])
		count := pair[strings.IndexByte(pair, ':')+1:]
		// An unacknowledged event may have been accepted just before a
		// kill; it then runs once too. Nothing runs twice.
		if p.acked[seq] || count != "0" {
			t.Errorf("seq %d (acknowledged %v) ran %s times, want once", seq, p.acked[seq], count)
		}
	}
	t.Logf("%d kills, %d events acknowledged, %d posted", kills, len(p.acked), n)
}
