package request

import (
	"net"
	"net/http"
	"time"
)

// PoolSize is how many idle keep-alive connections a family's client
// keeps per host. Go's default (2) made more than half of the calls open a
// new connection (a TLS handshake against Amazon) at 3,000 calls/s (issue
// 13): every connection busy at the peak must be able to wait idle for the
// next call instead of being closed and opened again. The calls in flight
// at once are bounded by the rules' runs (a parallel rule's max), so 256
// idle connections per host cover the engine's busiest load; an idle one
// closes after 90 s.
const PoolSize = 256

// NewHTTPClient returns the client a family uses when Options.HTTPClient
// is nil: keep-alive connections pooled per host (PoolSize idle), HTTP/2
// negotiated where the host speaks it over TLS (one multiplexed
// connection then carries every call), and a 30 s timeout per call.
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * PoolSize,
		MaxIdleConnsPerHost:   PoolSize,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}
