package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
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

// seqPoster posts seq events to the current daemon from several goroutines.
// On 202 a seq is acknowledged; 429 and 503 are retried; a connection
// error (the daemon died) leaves the seq unknown and moves on, because the
// event may or may not have been accepted before the kill.
type seqPoster struct {
	mu    sync.Mutex
	base  string
	last  int // the highest seq taken
	acked map[int]bool
	count atomic.Int64
}

func (p *seqPoster) take() (base string, seq int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last++
	return p.base, p.last
}

// postOne posts one new seq until it is answered 202 or the post fails.
func (p *seqPoster) postOne(client *http.Client) {
	base, seq := p.take()
	for {
		resp, err := client.Post(base+"/api/events", "application/json",
			strings.NewReader(fmt.Sprintf(`{"name":"seq","data":{"seq":%d}}`, seq)))
		if err != nil {
			return
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			p.mu.Lock()
			p.acked[seq] = true
			p.mu.Unlock()
			p.count.Add(1)
			return
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			continue
		default:
			panic(fmt.Sprintf("POST seq %d: %d", seq, resp.StatusCode))
		}
	}
}

// replayed returns how many events the daemon's start-up replayed, from
// its log.
func replayed(d *daemon) int {
	for {
		select {
		case line := <-d.lines:
			if m := replayLine.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				return n
			}
		default:
			return 0
		}
	}
}

var replayLine = regexp.MustCompile(`accepted events replayed after restart.* events=(\d+)`)

func TestEveryAcceptedEventRunsOnceThroughKill9s(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the daemon several times")
	}
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "k.db")
	write(t, dir, "r.lua", seqRules)
	p := &seqPoster{acked: map[int]bool{}}
	client := &http.Client{Timeout: 5 * time.Second}
	const kills, perLife, clients = 6, 60, 4
	replays := 0
	for life := range kills {
		d := startRun(t, dir, data)
		replays += replayed(d)
		p.mu.Lock()
		p.base = d.base
		p.mu.Unlock()
		target := p.count.Load() + perLife
		stop := make(chan struct{})
		var posting sync.WaitGroup
		for range clients {
			posting.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						p.postOne(client)
					}
				}
			})
		}
		d.waitFor(func() bool { return p.count.Load() >= target }, fmt.Sprintf("%d acknowledged events in life %d", perLife, life))
		// Kill while the client is still posting and runs are in flight.
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.wait()
		close(stop)
		posting.Wait()
	}
	d := startRun(t, dir, data)
	replays += replayed(d)
	p.mu.Lock()
	n := p.last
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
	for pair := range strings.SplitSeq(odd, ",") {
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
	t.Logf("%d kills, %d events acknowledged, %d posted, %d replayed at restarts", kills, len(p.acked), n, replays)
}
