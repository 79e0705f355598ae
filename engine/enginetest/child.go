package enginetest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Child is the running test binary started again by StartChild: a
// benchmark's load or simulator, kept out of the measured process.
type Child struct {
	URL string         // the first line the child printed
	In  io.WriteCloser // its stdin; closing it tells it to end
	Out *bufio.Scanner // its stdout after the first line
}

// StartChild runs this test binary again with env ("NAME=value") set and
// no test or benchmark selected, so that the package's TestMain serves
// what env asks for. It returns once the child printed its first line
// (its URL); the test's end closes the child's stdin and waits for it.
func StartChild(tb testing.TB, env string) *Child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	c := &Child{In: in, Out: bufio.NewScanner(out)}
	if !c.Out.Scan() {
		tb.Fatalf("child process: no URL: %v", c.Out.Err())
	}
	c.URL = c.Out.Text()
	return c
}

// CPUTime is the CPU time (user and system) this process has used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
