package host

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/engine/store"
	"golang.org/x/oauth2"
)

// TokenStore keeps the LWA token in the data file (0600), so a refresh
// token Amazon rotates is never lost.
type TokenStore struct{ Store *store.Store }

const (
	tokenBucket = "auth"
	tokenKey    = "lwa"
)

// LoadToken returns the stored token, or nil when there is none.
func (t TokenStore) LoadToken() (*oauth2.Token, error) {
	var tok oauth2.Token
	ok, err := getJSON(t.Store, tokenKey, &tok)
	if err != nil || !ok {
		return nil, err
	}
	return &tok, nil
}

// SaveToken stores tok, replacing the one stored.
func (t TokenStore) SaveToken(tok *oauth2.Token) error { return putJSON(t.Store, tokenKey, tok) }

// newAlexaClient builds the Endpoint Features client from the
// configuration. st may be nil: then rotated tokens are not persisted;
// observe may be nil: then requests are not timed.
// ctx must live as long as the client: token refreshes use it.
func newAlexaClient(ctx context.Context, cfg alexa.Config, st *store.Store, log *slog.Logger,
	observe func(api, result string, d time.Duration)) (*features.Client, *auth.TokenSource, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, &ConfigError{err}
	}
	var ts auth.TokenStore
	if st != nil {
		ts = TokenStore{st}
	}
	c, tokens, err := features.NewFromConfig(ctx, cfg, ts, features.ClientOptions{Logger: log, Observe: observe})
	if errors.Is(err, auth.ErrLoginRequired) {
		return nil, nil, &ConfigError{err}
	}
	return c, tokens, err
}

// alexaConfigured reports whether there is anything to talk to Alexa with:
// a cloud URL, a client id or a refresh token.
func alexaConfigured(cfg alexa.Config) bool {
	return cfg.Cloud != "" || cfg.ClientID != "" || cfg.RefreshToken != ""
}

// openStoreIfFree opens the data file for a short command; when a running
// engine holds it, the command goes on without persisted tokens.
func openStoreIfFree(path string, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(path, store.Options{Logger: log})
	if errors.Is(err, store.ErrInUse) {
		log.Warn("data file in use by a running alexarules: using the configured credentials only", "data", path)
		return nil, nil
	}
	return st, err
}

func hasStoredToken(st *store.Store) bool {
	if st == nil {
		return false
	}
	tok, err := TokenStore{st}.LoadToken()
	return err == nil && tok != nil
}
