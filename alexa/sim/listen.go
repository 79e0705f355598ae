package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// shutdownGrace is how long in-flight requests get to finish once the
// context ends.
const shutdownGrace = 5 * time.Second

// ListenAndServe serves the simulator on addr over plain HTTP, HTTP/1.1 and
// unencrypted HTTP/2 (h2c with prior knowledge), until ctx ends. ready, if
// not nil, is called with the bound address once the listener is open
// (useful with port 0).
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(addr string)) error {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return s.serve(ctx, addr, &http.Server{Handler: s.handler, Protocols: &p}, ready)
}

// ListenAndServeTLS serves the simulator on addr over HTTPS, HTTP/1.1 and
// HTTP/2, with cert, until ctx ends.
func (s *Server) ListenAndServeTLS(ctx context.Context, addr string, cert tls.Certificate, ready func(addr string)) error {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	srv := &http.Server{
		Handler:   s.handler,
		Protocols: &p,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	return s.serve(ctx, addr, srv, ready)
}

func (s *Server) serve(ctx context.Context, addr string, srv *http.Server, ready func(string)) error {
	srv.ErrorLog = slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: listen: %w", err)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			// ServeTLS, unlike a hand-made tls.Listener, offers h2 by ALPN.
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("sim: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim: serve: %w", err)
	}
	return nil
}

// Names of the files WriteSelfSignedCert writes.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// WriteSelfSignedCert returns the certificate in dir (CertFile, KeyFile) if
// it is there and valid for a day more, so clients that trust it keep
// trusting it; otherwise it creates dir, generates a self-signed ECDSA P-256
// certificate for 127.0.0.1, ::1 and localhost valid for a year from now,
// and writes it there (the key readable by its owner only).
func WriteSelfSignedCert(dir string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && cert.Leaf != nil &&
		now.Add(24*time.Hour).Before(cert.Leaf.NotAfter) && !now.Before(cert.Leaf.NotBefore) {
		return cert, nil
	}
	certPEM, keyPEM, err := SelfSignedCert(now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("create cert dir: %w", err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write key: %w", err)
	}
	// WriteFile keeps the mode of an existing file: make sure the key is
	// private even if an older one was not.
	if err := os.Chmod(keyPath, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("protect key: %w", err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// SelfSignedCert generates a self-signed ECDSA P-256 certificate for
// 127.0.0.1, ::1 and localhost, valid from an hour before now for a year,
// and returns it and its key PEM-encoded. It is its own CA, so clients can
// trust it as a root (Go's RootCAs, Node's NODE_EXTRA_CA_CERTS).
func SelfSignedCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"alexarules simulator"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}
