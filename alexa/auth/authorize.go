package auth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"

	"github.com/alexarules/alexarules/alexa/internal/request"
)

// WebAuth is the web API's credentials: the Cookie header of the
// marketplace's web cookies and the csrf header. When the web API refuses
// them (401), it exchanges the refresh token for new cookies and csrf
// once and lets the request be sent again.
func (k *Keeper) WebAuth() request.Authorizer { return webAuth{k} }

// BearerAuth is "Authorization: Bearer <access token>", for the
// capabilities API and the push; a refused token is renewed once.
func (k *Keeper) BearerAuth() request.Authorizer { return bearerAuth{k} }

type webAuth struct{ k *Keeper }

func (a webAuth) Authorize(_ context.Context, req *http.Request) error {
	s, err := a.k.current()
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", s.WebCookie())
	req.Header.Set("csrf", s.CSRF)
	return nil
}

func (a webAuth) Refused(ctx context.Context, req *http.Request, status int) bool {
	if status != http.StatusUnauthorized {
		return false
	}
	err := a.k.refreshCookies(ctx, req.Header.Get("Cookie"))
	if err != nil {
		a.k.logger.WarnContext(ctx, "auth: the web API refused the cookies and new ones could not be made",
			"method", req.Method, "path", req.URL.Path, "err", err)
	}
	return err == nil
}

type bearerAuth struct{ k *Keeper }

func (a bearerAuth) Authorize(ctx context.Context, req *http.Request) error {
	token, err := a.k.AccessToken(ctx, false)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

func (a bearerAuth) Refused(ctx context.Context, req *http.Request, _ int) bool {
	seen := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	_, err := a.k.refreshAccess(ctx, seen, true)
	return err == nil
}

// bearer is a fixed access token (Register's capabilities PUT, before a
// Keeper exists); it cannot be renewed.
type bearer string

func (b bearer) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

func (bearer) Refused(context.Context, *http.Request, int) bool { return false }

// ParseDeviceKey parses the registration's device_private_key (base64
// PKCS#8 DER without PEM armour, as Amazon sends it; PEM and PKCS#1 are
// accepted too) for push.WebsocketOptions.PrivateKey. Its errors never
// quote the key.
func ParseDeviceKey(s string) (*rsa.PrivateKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, errors.New("auth: device private key: not base64 DER or PEM")
		}
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("auth: device private key: not an RSA key")
	}
	if rk, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return rk, nil
	}
	return nil, errors.New("auth: device private key: neither PKCS#8 nor PKCS#1")
}
