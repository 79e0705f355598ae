// Package natstest starts embedded NATS servers with JetStream for tests
// of the cluster mode: on loopback, storing in a directory, stopped when
// the test ends.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a JetStream server on 127.0.0.1:port (server.RANDOM_PORT for
// any free one) storing in dir; starting it again on the same port and
// dir restarts it with its streams.
func Start(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	return StartWith(t, server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir})
}

// StartWith runs a server with opts (e.g. a name and a cluster's routes),
// never logging nor handling signals; opts.Host must be loopback.
func StartWith(t testing.TB, opts server.Options) *server.Server {
	t.Helper()
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("natstest: the NATS server is not ready after 10 s")
	}
	t.Cleanup(s.Shutdown)
	return s
}
