// Command rulescale measures issue 15's scale run against a built
// alexarules binary: it writes N one-rule files (a weekday schedule, an
// event trigger, a counter in ctx.state), starts `alexarules run` on them
// with no Alexa account, times start-up to /healthz, reads the process's
// RSS, fires every rule once through POST /api/events (waiting out 429s),
// waits until /api/rules shows every rule run once without failure, and
// reads RSS again. Usage (docs/BENCHMARKS.md):
//
//	go build -o /tmp/alexarules ./cmd/alexarules
//	go run ./testdata/bench/rulescale -bin /tmp/alexarules -rules 10000
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("bin", "alexarules", "the alexarules binary")
	n := flag.Int("rules", 1000, "rule files to generate")
	clients := flag.Int("clients", 8, "concurrent POST /api/events clients")
	config := flag.String("config", "", "a configuration file to pass to run")
	rounds := flag.Int("rounds", 1, "times every rule is fired (RSS is read after each round)")
	logFile := flag.String("log", "", "write the engine's log here (default: a temp file, removed)")
	flag.Parse()
	if err := measure(*bin, *n, *clients, *rounds, *config, *logFile); err != nil {
		fmt.Fprintln(os.Stderr, "rulescale:", err)
		os.Exit(1)
	}
}

const ruleFile = `return rule %q {
  when = { schedule "mon-fri 07:00", event %q },
  state = { count = 0 },
  run = function(ctx, ev)
    ctx.state.count = ctx.state.count + 1
  end,
}
`

func measure(bin string, n, clients, rounds int, config, logFile string) error {
	dir, err := os.MkdirTemp("", "rulescale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		return err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("room-%05d", i+1)
		src := fmt.Sprintf(ruleFile, ids[i], ids[i])
		if err := os.WriteFile(filepath.Join(rulesDir, ids[i]+".lua"), []byte(src), 0o644); err != nil {
			return err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"run", "--rules", rulesDir, "--data", filepath.Join(dir, "data.db"), "--admin", addr, "--log-level", "warn"}
	if config != "" {
		args = append(args, "--config", config)
	}
	if logFile == "" {
		logFile = filepath.Join(dir, "run.log")
	}
	logf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	if err := waitHealthy(base, 60*time.Second); err != nil {
		log, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("%w; log:\n%s", err, log)
	}
	fmt.Printf("rules=%d start-up to /healthz: %.3f s\n", n, time.Since(start).Seconds())
	printRSS(cmd.Process.Pid, "loaded")
	for round := 1; round <= rounds; round++ {
		t0 := time.Now()
		refused, err := fire(base, ids, clients)
		if err != nil {
			return err
		}
		if err := waitRuns(base, n, uint64(round), 120*time.Second); err != nil {
			return err
		}
		el := time.Since(t0)
		fmt.Printf("round %d: %d events fired and run in %.2f s (%.0f/s), %d answers 429 retried\n",
			round, n, el.Seconds(), float64(n)/el.Seconds(), refused)
		printRSS(cmd.Process.Pid, fmt.Sprintf("after round %d", round))
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHealthy(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"ok"`)) {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("not healthy in time")
}

// fire posts one event per rule from clients goroutines; a 429 is waited
// out (Retry-After) and posted again. It returns the number of 429s.
func fire(base string, ids []string, clients int) (int64, error) {
	var next, refused atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if err := post(hc, base, ids[i], &refused); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return refused.Load(), firstErr
}

func post(hc *http.Client, base, name string, refused *atomic.Int64) error {
	body := fmt.Sprintf(`{"name":%q,"data":{"room":%q}}`, name, name)
	for {
		resp, err := hc.Post(base+"/api/events", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			return nil
		case http.StatusTooManyRequests:
			refused.Add(1)
			wait := 10 * time.Millisecond
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				wait = min(time.Duration(s)*time.Second, 100*time.Millisecond)
			}
			time.Sleep(wait)
		default:
			return fmt.Errorf("POST /api/events %s: %s", name, resp.Status)
		}
	}
}

// waitRuns waits until every rule has run want times; a failure or a skip
// is an error.
func waitRuns(base string, n int, want uint64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var rs []struct {
			ID       string `json:"id"`
			Runs     uint64 `json:"runs"`
			Failures uint64 `json:"failures"`
			Skipped  uint64 `json:"skipped"`
		}
		if err := getJSON(context.Background(), base+"/api/rules", &rs); err != nil {
			return err
		}
		done := 0
		for _, r := range rs {
			if r.Failures > 0 || r.Skipped > 0 {
				var runs []struct {
					Outcome, Error, Reason string
				}
				_ = getJSON(context.Background(), base+"/api/runs?limit=1&rule="+r.ID, &runs)
				return fmt.Errorf("rule %s: %d failures, %d skipped: %+v", r.ID, r.Failures, r.Skipped, runs)
			}
			if r.Runs >= want {
				done++
			}
		}
		if len(rs) == n && done == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d rules ran %d times", done, n, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// printRSS prints the process's VmRSS and VmHWM from /proc.
func printRSS(pid int, when string) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fmt.Println("rss:", err)
		return
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, val, ok := strings.Cut(sc.Text(), ":"); ok {
			v[k] = strings.TrimSpace(val)
		}
	}
	fmt.Printf("%s: VmRSS %s MiB (anonymous %s, files %s: the binary and the bbolt mmap), VmHWM %s MiB\n",
		when, mib(v["VmRSS"]), mib(v["RssAnon"]), mib(v["RssFile"]), mib(v["VmHWM"]))
}

func mib(kb string) string {
	v, err := strconv.Atoi(strings.TrimSuffix(kb, " kB"))
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f", float64(v)/1024)
}
