package host_test

// The load side of the end-to-end benchmark (e2e_bench_test.go): a child
// process (this test binary again, see TestMain) that serves the simulated
// Amazon cloud with a sink in front of the two calls the benchmark rule
// makes, and drives events into the target. The target (the engine, or
// the bare Go baseline) runs in the parent alone, so the parent's CPU,
// allocations and memory are the target's.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine/enginetest"
)

const e2eChildEnv = "ALEXARULES_E2E_LOAD"

const (
	benchLamps   = 64   // "Bench Lamp 0".."Bench Lamp 63"
	benchResidue = 1600 // lcm(benchLamps, 100): (lamp, brightness) name seq modulo this
	benchEcho    = "Bench Echo"
	benchSerial  = "G0BENCH000000001"
	benchZone    = "Europe/Berlin"
	benchEvent   = "bench"
	lampPrefix   = "amzn1.alexa.endpoint.bench-lamp-"
	// A push event is a volume change into pushLow+1..pushLow+pushValues
	// (the rule's trigger is "above pushLow"), after a re-arming change
	// to at most pushLow: the volume names seq modulo pushValues.
	pushLow      = 50
	pushValues   = 50
	reminderPath = "/api/notifications/createReminder"
)

func TestMain(m *testing.M) {
	if os.Getenv(e2eChildEnv) != "" {
		os.Exit(serveLoad())
	}
	os.Exit(m.Run())
}

func benchHousehold() sim.Household {
	h := sim.Household{Echos: []sim.Echo{{Serial: benchSerial, Type: "A32DOYMUN6DTXA", Name: benchEcho, Timezone: benchZone}}}
	for i := range benchLamps {
		power, bri, conn := "ON", 50, "OK"
		h.Endpoints = append(h.Endpoints, sim.Endpoint{ID: lampPrefix + strconv.Itoa(i), Name: "Bench Lamp " + strconv.Itoa(i),
			Features: sim.Features{Power: &power, Brightness: &bri, Connectivity: &conn}})
	}
	return h
}

// loadCommand is one load run the parent asks the child for (one JSON
// line on its stdin); the child answers with one loadResult line.
type loadCommand struct {
	Target string `json:"target"` // base URL of the target's admin API
	// Push sends the events as volume pushes through the simulator's push
	// connection to the target instead (Target unused), from one client:
	// each event is a pair of pushes, whose order must hold.
	Push     bool          `json:"push"`
	Rate     float64       `json:"rate"`    // events/s offered; 0: closed loop
	Clients  int           `json:"clients"` // concurrent senders
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"` // measured, after the warm-up
}

type loadResult struct {
	Sent, Accepted, Refused, Failed int64
	Calls                           int64 // calls the sink answered (both kinds)
	Unmatched                       int64 // calls the sink could not match to an event
	MeasuredAccepted                int64 // accepted events sent in the measured window
	MeasuredCalls                   int64 // calls made for them
	Window                          time.Duration
	P50, P99                        time.Duration // event sent → call received, measured window
	Conns                           int64         // connections the sink accepted during the run
	NewConns                        int64         // of them, after the warm-up
	LoadCPU                         time.Duration // the child's own CPU time over the run (sink and senders)
	Err                             string
}

// serveLoad is the child: it serves the sink, prints its URL, then runs
// the load commands read from stdin until it closes.
func serveLoad() int {
	s := newSink()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // the push downchannel
	srv := &http.Server{Handler: s, ConnState: s.connState, Protocols: &protocols}
	go srv.Serve(ln)
	s.self = "http://" + ln.Addr().String()
	fmt.Println(s.self)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var c loadCommand
		res := loadResult{}
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			res.Err = err.Error()
		} else {
			res = s.run(c)
		}
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
	}
	return 0
}

// sink answers the benchmark's two calls itself, as Amazon does, and
// hands every other request to the simulator. It matches each call to the
// event that caused it: a reminder's label is the rule's JSON, which
// names the seq; a brightness call names seq modulo benchResidue by its
// lamp and value (for pushes: the volume, seq modulo pushValues), and
// takes the oldest event sent with that residue.
type sink struct {
	sim      http.Handler
	self     string // the sink's URL
	push     bool   // the events are pushes (class)
	conns    atomic.Int64
	mu       sync.Mutex
	sent     []int64 // seq → when it was sent (UnixNano)
	byRes    [benchResidue][]int64
	lat      []time.Duration // of events sent after measureFrom
	from     int64           // first seq of the measured window
	to       int64           // first seq after it; -1 while open
	calls    atomic.Int64
	measured atomic.Int64
	unmatch  atomic.Int64
}

func newSink() *sink {
	return &sink{sim: sim.New(benchHousehold(), sim.Options{MaxRequests: 1}).Handler(), to: -1}
}

func (s *sink) connState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.conns.Add(1)
	}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "PUT" && r.URL.Path == reminderPath:
		s.reminder(w, r)
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v2/endpoints/"+lampPrefix) &&
		strings.HasSuffix(r.URL.Path, "/features/brightness/setBrightness"):
		s.brightness(w, r)
	default:
		s.sim.ServeHTTP(w, r)
	}
}

func (s *sink) reminder(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Label string `json:"reminderLabel"`
	}
	var action struct {
		Seq int64 `json:"seq"`
	}
	data, _ := io.ReadAll(r.Body)
	if json.Unmarshal(data, &body) != nil || json.Unmarshal([]byte(body.Label), &action) != nil {
		http.Error(w, `{"message":"bad reminder"}`, http.StatusBadRequest)
		return
	}
	s.called(action.Seq, true)
	// Amazon answers with the notification it created.
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"%s-%d","type":"Reminder","status":"ON","version":"1","deviceSerialNumber":%q,"reminderLabel":%q}`,
		benchSerial, action.Seq, benchSerial, body.Label)
}

func (s *sink) brightness(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Payload struct {
			Brightness int64 `json:"brightness"`
		} `json:"payload"`
	}
	data, _ := io.ReadAll(r.Body)
	lamp, err := strconv.ParseInt(strings.TrimPrefix(strings.Split(r.URL.Path, "/")[3], lampPrefix), 10, 64)
	if err != nil || json.Unmarshal(data, &body) != nil {
		http.Error(w, `{"type":"INVALID_REQUEST_EXCEPTION"}`, http.StatusBadRequest)
		return
	}
	res := int64(-1)
	for r := lamp; r < benchResidue; r += benchLamps {
		if r%100 == body.Payload.Brightness {
			res = r
			break
		}
	}
	s.called(res, false)
	w.WriteHeader(http.StatusOK) // the Features API answers an update without a body
}

// called records the call made for seq (byResidue: seq is a residue, take
// the oldest outstanding event with it).
func (s *sink) called(seq int64, exact bool) {
	now := time.Now().UnixNano()
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !exact && seq >= 0 {
		q := s.byRes[seq]
		if len(q) == 0 {
			seq = -1
		} else {
			seq, s.byRes[seq] = q[0], q[1:]
		}
	}
	if seq < 0 || seq >= int64(len(s.sent)) {
		s.unmatch.Add(1)
		return
	}
	if seq >= s.from && (s.to < 0 || seq < s.to) {
		s.measured.Add(1)
		s.lat = append(s.lat, time.Duration(now-s.sent[seq]))
	}
}

// next numbers an event about to be sent.
func (s *sink) next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := int64(len(s.sent))
	s.sent = append(s.sent, time.Now().UnixNano())
	s.byRes[s.class(seq)] = append(s.byRes[s.class(seq)], seq)
	return seq
}

// class is what a call tells of seq: seq modulo benchResidue, which the
// lamp and brightness name; for a push, the volume it carried.
func (s *sink) class(seq int64) int64 {
	if s.push {
		return pushVolume(seq)
	}
	return seq % benchResidue
}

func pushVolume(seq int64) int64 { return pushLow + 1 + seq%pushValues }

// refused forgets an event the target did not accept.
func (s *sink) refused(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.byRes[s.class(seq)]
	if i := slices.Index(q, seq); i >= 0 {
		s.byRes[s.class(seq)] = slices.Delete(q, i, i+1)
	}
}

func (s *sink) mark(to bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if to {
		s.to = int64(len(s.sent))
	} else {
		s.from, s.lat = int64(len(s.sent)), s.lat[:0]
		s.measured.Store(0)
	}
}

// run offers c's load, waits until every accepted event made its call (or
// 60 s passed) and reports.
func (s *sink) run(c loadCommand) loadResult {
	s.reset(c.Push)
	conns0, cpu0 := s.conns.Load(), enginetest.CPUTime()
	d := &driver{s: s, target: c.Target + "/api/events", push: c.Push, client: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: c.Clients, MaxIdleConns: c.Clients}}}
	if c.Push {
		d.target, c.Clients = s.self+"/_sim/push", 1
	}
	stop := make(chan struct{})
	done := d.start(c, stop)
	time.Sleep(c.Warmup)
	conns := s.conns.Load()
	s.mark(false)
	start, acc0 := time.Now(), d.accepted.Load()
	time.Sleep(c.Duration)
	s.mark(true)
	window, accepted := time.Since(start), d.accepted.Load()-acc0
	close(stop)
	done.Wait()
	newConns := s.conns.Load() - conns
	for deadline := time.Now().Add(60 * time.Second); s.calls.Load() < d.accepted.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	res := loadResult{Sent: d.sent.Load(), Accepted: d.accepted.Load(), Refused: d.refused.Load(), Failed: d.failed.Load(),
		Calls: s.calls.Load(), Unmatched: s.unmatch.Load(), MeasuredAccepted: accepted, MeasuredCalls: s.measured.Load(),
		Window: window, Conns: s.conns.Load() - conns0, NewConns: newConns, LoadCPU: enginetest.CPUTime() - cpu0}
	s.mu.Lock()
	slices.Sort(s.lat)
	if n := len(s.lat); n > 0 {
		res.P50, res.P99 = s.lat[n/2], s.lat[min(n-1, n*99/100)]
	}
	s.mu.Unlock()
	d.client.CloseIdleConnections()
	return res
}

func (s *sink) reset(push bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push = push
	s.sent, s.lat, s.from, s.to = s.sent[:0], s.lat[:0], 0, -1
	s.byRes = [benchResidue][]int64{}
	s.calls.Store(0)
	s.measured.Store(0)
	s.unmatch.Store(0)
}

// driver posts events to the target: at a fixed rate (open loop, paced
// every millisecond) or, with Rate 0, back to back from each client.
type driver struct {
	s                               *sink
	target                          string
	push                            bool
	client                          *http.Client
	sent, accepted, refused, failed atomic.Int64
}

func (d *driver) start(c loadCommand, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	if c.Rate <= 0 {
		for range c.Clients {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if d.post() == http.StatusTooManyRequests {
						time.Sleep(5 * time.Millisecond) // a short Retry-After, so refusals do not spin
					}
				}
			})
		}
		return &wg
	}
	todo := make(chan struct{}, 1<<16)
	for range c.Clients {
		wg.Go(func() {
			for range todo {
				d.post()
			}
		})
	}
	wg.Go(func() {
		defer close(todo)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		start, n := time.Now(), int64(0)
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				for due := int64(now.Sub(start).Seconds() * c.Rate); n < due; n++ {
					todo <- struct{}{}
				}
			}
		}
	})
	return &wg
}

// post sends one event and returns the answer's status (0: no answer).
func (d *driver) post() int {
	// The re-arming push varies too: the push source drops a payload it
	// saw in the same millisecond as a duplicate.
	if d.push && d.send(volumePush(d.sent.Load()%pushValues)) != http.StatusAccepted {
		d.failed.Add(1)
		return 0
	}
	seq := d.s.next()
	body := fmt.Appendf(nil, `{"name":%q,"data":{"seq":%d}}`, benchEvent, seq)
	if d.push {
		body = volumePush(pushVolume(seq))
	}
	d.sent.Add(1)
	status := d.send(body)
	switch status {
	case http.StatusAccepted:
		d.accepted.Add(1)
	case http.StatusTooManyRequests:
		d.refused.Add(1)
		d.s.refused(seq)
	default:
		d.failed.Add(1)
		d.s.refused(seq)
	}
	return status
}

// send posts body to the target and returns the answer's status (0: no
// answer); a push written to the target's connection counts as 202.
func (d *driver) send(body []byte) int {
	resp, err := d.client.Post(d.target, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if d.push && resp.StatusCode == http.StatusOK {
		if bytes.Contains(answer, []byte(`"clients":1`)) {
			return http.StatusAccepted
		}
		return http.StatusBadGateway // the target's push connection is not there
	}
	return resp.StatusCode
}

func volumePush(v int64) []byte {
	return fmt.Appendf(nil, `{"command":"PUSH_VOLUME_CHANGE","payload":{"dopplerId":{"deviceSerialNumber":%q,"deviceType":"A32DOYMUN6DTXA"},"isMuted":false,"volumeSetting":%d}}`,
		benchSerial, v)
}
