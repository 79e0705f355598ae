package sim

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// capabilitiesEnvelope is the version the capabilities PUT must name.
const capabilitiesEnvelope = "20160207"

// handleCapabilities is PUT /v1/devices/@self/capabilities: the app
// device announces what it supports (once before its first push). A bad
// or expired bearer token gets 403 with an empty body, like Amazon's
// CloudFront answer.
func (s *Server) handleCapabilities(w http.ResponseWriter, r *http.Request) {
	if s.checkBearer(r) != nil {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var body struct {
		EnvelopeVersion *string           `json:"envelopeVersion"`
		Capabilities    []json.RawMessage `json:"capabilities"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&body); err != nil {
		writeWebError(w, http.StatusBadRequest, "the body is not a capabilities JSON object: %v", err)
		return
	}
	if body.EnvelopeVersion == nil || *body.EnvelopeVersion != capabilitiesEnvelope {
		writeWebError(w, http.StatusBadRequest, "envelopeVersion must be %q", capabilitiesEnvelope)
		return
	}
	s.mu.Lock()
	if reg, ok := s.app.regs[s.app.tokens[bearerToken(r)].serial]; ok {
		reg.capabilities = s.opts.Now()
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// handlePing is GET or POST /ping on the push host: 204 with a live bearer
// token, 403 otherwise (as the downchannel).
func (s *Server) handlePing(w http.ResponseWriter, r *http.Request) {
	if e := s.checkBearer(r); e != nil {
		e.status, e.challenge = http.StatusForbidden, ""
		writeError(w, e)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkADPSignature verifies the legacy websocket's x-adp-* headers, when
// the request has any: the token must be a registration's adp_token and
// x-adp-signature ("base64(RSA-SHA256):timestamp") must sign
// "GET\n{path}\n{timestamp}\n\n{adp token}" with that registration's key.
func (s *Server) checkADPSignature(r *http.Request) error {
	token, sig, alg := r.Header.Get("x-adp-token"), r.Header.Get("x-adp-signature"), r.Header.Get("x-adp-alg")
	if token == "" && sig == "" && alg == "" {
		return nil
	}
	if !strings.EqualFold(alg, "SHA256withRSA:1.0") {
		return fmt.Errorf("x-adp-alg %q is not SHA256withRSA:1.0", alg)
	}
	s.mu.Lock()
	reg, ok := s.app.byADP[token]
	s.mu.Unlock()
	if !ok {
		return errors.New("x-adp-token is not the adp_token of a registered device")
	}
	b64, stamp, ok := strings.Cut(sig, ":")
	if !ok {
		return errors.New("x-adp-signature is not signature:timestamp")
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", stamp); err != nil {
		return fmt.Errorf("x-adp-signature timestamp %q: %w", stamp, err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("x-adp-signature: %w", err)
	}
	digest := sha256.Sum256([]byte(r.Method + "\n" + r.URL.Path + "\n" + stamp + "\n\n" + token))
	if err := rsa.VerifyPKCS1v15(&reg.key.PublicKey, crypto.SHA256, digest[:], raw); err != nil {
		return fmt.Errorf("x-adp-signature does not verify with the device's key: %w", err)
	}
	return nil
}
