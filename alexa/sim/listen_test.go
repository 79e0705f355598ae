package sim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// serve runs serveFn until the test ends and returns the bound address.
func serve(t *testing.T, serveFn func(ctx context.Context, ready func(string)) error) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serveFn(ctx, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("serve: %v", err)
	case <-time.After(maxWait):
		t.Fatalf("serve: not listening within %v", maxWait)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve returned %v after its context ended", err)
			}
		case <-time.After(maxWait):
			t.Errorf("serve did not return within %v of its context ending", maxWait)
		}
	})
	return addr
}

func get(t *testing.T, client *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestListenAndServeH2C(t *testing.T) {
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	addr := serve(t, func(ctx context.Context, ready func(string)) error {
		return s.ListenAndServe(ctx, "127.0.0.1:0", ready)
	})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: maxWait}
	defer client.CloseIdleConnections()
	resp := get(t, client, "http://"+addr+"/_sim/household")
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Errorf("h2c: %d over %s", resp.StatusCode, resp.Proto)
	}
	// Plain HTTP/1.1 clients are served too.
	h1 := &http.Client{Transport: &http.Transport{}, Timeout: maxWait}
	defer h1.CloseIdleConnections()
	if resp := get(t, h1, "http://"+addr+"/_sim/household"); resp.Proto != "HTTP/1.1" {
		t.Errorf("HTTP/1.1 client got %s", resp.Proto)
	}
}

func TestListenAndServeTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Now()
	cert, err := sim.WriteSelfSignedCert(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, sim.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key mode %v, want 0600", perm)
	}
	// A second start reuses the certificate clients already trust.
	again, err := sim.WriteSelfSignedCert(dir, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificate[0]) != string(cert.Certificate[0]) {
		t.Error("a valid certificate was replaced")
	}
	// An expiring one is replaced (in a copy of the directory).
	later := t.TempDir()
	for _, f := range []string{sim.CertFile, sim.KeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(later, f), b, 0o600)
	}
	renewed, err := sim.WriteSelfSignedCert(later, now.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.Certificate[0]) == string(cert.Certificate[0]) {
		t.Error("an expiring certificate was kept")
	}

	s := sim.New(sim.DemoHousehold(), sim.Options{})
	addr := serve(t, func(ctx context.Context, ready func(string)) error {
		return s.ListenAndServeTLS(ctx, "127.0.0.1:0", cert, ready)
	})
	pemBytes, err := os.ReadFile(filepath.Join(dir, sim.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert.pem holds no certificate")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{addr, "localhost:" + port} {
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		}, Timeout: maxWait}
		resp := get(t, client, "https://"+host+"/_sim/household")
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
			t.Errorf("%s: %d over %s", host, resp.StatusCode, resp.Proto)
		}
		client.CloseIdleConnections()
	}
}
