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
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: dir, NoLog: true, NoSigs: true})
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
