package request

import (
	"net"
	"net/http"
	"time"
)

// PoolSize is how many connections a family's client keeps to one host,
// busy or idle (http.Transport's MaxConnsPerHost and MaxIdleConnsPerHost);
// a call finding them all busy waits for one.
//
// Idle: Go's default (2) made more than half of the calls open a new
// connection (a TLS handshake against Amazon) at 3,000 calls/s (issue 13):
// every connection busy at the peak must be able to wait idle for the next
// call instead of being closed and opened again; an idle one closes after
// 90 s.
//
// Busy: over HTTP/2 (Amazon's hosts, over TLS) one connection carries
// every call. Over HTTP/1.1 each call in flight holds one, and a parallel
// rule's max can be in the hundreds: with a rule of max 256 in the
// end-to-end benchmark (2 cores, HTTP/1.1 on loopback) 256 connections
// held 6-12 MiB more than 64 and delivered no more (docs/BENCHMARKS.md
// "Connections per host").
const PoolSize = 64

// CallTimeout bounds one request of the default client: dial, send,
// answer and body.
const CallTimeout = 30 * time.Second

// NewHTTPClient returns a client with the default transport (newTransport)
// and a CallTimeout per call, for callers outside the request path (the
// token source). A Client whose Options.HTTPClient is nil uses the same
// transport but applies the timeout as its requests' context deadline, and
// only when the caller's context has none as near: http.Client.Timeout
// derives a deadline context, a timer and their closures for every call,
// even under a rule run whose deadline (5 s by default) comes first.
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: CallTimeout, Transport: newTransport()}
}

// newTransport keeps keep-alive connections pooled per host (at most
// PoolSize, busy or idle) and negotiates HTTP/2 where the host speaks it over TLS (one
// multiplexed connection then carries every call).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * PoolSize,
		MaxIdleConnsPerHost:   PoolSize,
		MaxConnsPerHost:       PoolSize,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
