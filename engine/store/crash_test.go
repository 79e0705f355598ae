package store_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

// crashEnv names the database a child process commits to until killed,
// crashSyncEnv its sync mode.
const (
	crashEnv     = "ALEXARULES_STORE_CRASH_DB"
	crashSyncEnv = "ALEXARULES_STORE_CRASH_SYNC"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		os.Exit(crashChild(path, os.Getenv(crashSyncEnv)))
	}
	os.Exit(m.Run())
}

// crashChild commits from several goroutines forever, printing
// "ack <rule> <n>" after each Commit returns, until its parent kills it.
// In the interval mode it checkpoints often and its log wraps often, so
// the kill lands among checkpoints.
func crashChild(path, mode string) int {
	s, err := store.Open(path, store.Options{TraceRetention: 1_000_000, Sync: mode,
		CheckpointInterval: 5 * time.Millisecond, CheckpointBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		fail = make(chan error, 1)
	)
	for w := range 8 {
		wg.Go(func() {
			rule := fmt.Sprintf("r%d", w)
			for n := range 100_000 {
				id := fmt.Sprintf("%s-%d", rule, n)
				err := s.Commit(engine.Commit{
					Rule:      rule,
					Trace:     engine.Trace{ID: id, Rule: rule, Started: time.Now(), Outcome: engine.OutcomeOK},
					RuleState: json.RawMessage(strconv.Itoa(n)),
					GlobalSet: map[string]json.RawMessage{id: json.RawMessage(`1`)},
					PutTimers: []engine.TimerRecord{{ID: id, Rule: rule, Handler: "h", Due: time.Now()}},
				})
				if err == nil {
					// One short write to a pipe is atomic: a kill never
					// leaves half a line.
					mu.Lock()
					_, err = fmt.Printf("ack %s %d\n", rule, n)
					mu.Unlock()
				}
				if err != nil {
					select {
					case fail <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-fail:
		fmt.Fprintln(os.Stderr, err)
		return 1
	default:
		return 0
	}
}

func TestAcknowledgedCommitsSurviveKill(t *testing.T) {
	for _, sync := range []string{store.SyncInterval, store.SyncAlways} {
		t.Run(sync, func(t *testing.T) { testCommitsSurviveKill(t, sync) })
	}
}

func testCommitsSurviveKill(t *testing.T, sync string) {
	path := filepath.Join(t.TempDir(), "alexarules.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, crashSyncEnv+"="+sync)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{} // rule -> highest acknowledged n
	var ackedIDs []string
	lines := bufio.NewScanner(out)
	killed := false
	for lines.Scan() {
		var rule string
		var n int
		if _, err := fmt.Sscanf(lines.Text(), "ack %s %d", &rule, &n); err != nil {
			t.Fatalf("child printed %q", lines.Text())
		}
		acked[rule] = max(acked[rule], n)
		ackedIDs = append(ackedIDs, fmt.Sprintf("%s-%d", rule, n))
		if len(ackedIDs) == 2000 && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Lines already in the pipe when the kill landed were acknowledged
	// too; the scanner read them above.
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acknowledgements: %v\n%s", len(ackedIDs), err, stderr.String())
	}

	s := openStore(t, path, store.Options{})
	global, err := s.Global()
	if err != nil {
		t.Fatal(err)
	}
	timers, err := s.Timers()
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs("", 0)
	if err != nil {
		t.Fatal(err)
	}
	timerIDs := map[string]bool{}
	for _, tm := range timers {
		timerIDs[tm.ID] = true
	}
	runIDs := map[string]bool{}
	for _, r := range runs {
		runIDs[r.ID] = true
	}
	missing := 0
	for _, id := range ackedIDs {
		if global[id] == nil || !timerIDs[id] || !runIDs[id] {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged commit %s lost: global %t, timer %t, trace %t", id, global[id] != nil, timerIDs[id], runIDs[id])
			}
		}
	}
	for rule, n := range acked {
		state, err := s.RuleState(rule)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.Atoi(strings.TrimSpace(string(state))); got < n {
			t.Errorf("state of %s = %s, acknowledged %d", rule, state, n)
		}
	}
	t.Logf("%d acknowledged commits before the kill, %d lost; the database holds %d", len(ackedIDs), missing, len(runs))
}
