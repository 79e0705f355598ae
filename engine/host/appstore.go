package host

import (
	"encoding/json"
	"fmt"

	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/engine/store"
)

// Keys of the household (app) login in the auth bucket, next to the LWA
// token (tokenKey). Each is written with one Put, so a crash never leaves
// half of one.
const (
	appDeviceKey  = "app_device"  // auth.Device: generated once, reused by every login
	appSessionKey = "app_session" // auth.Session of the last login, kept fresh by run
	accountKey    = "account"     // Account: which login the data file holds
)

// The kinds of login an Account names.
const (
	AccountApp = "app" // the Alexa app's device registration (households)
	AccountLWA = "lwa" // Login with Amazon (Alexa Smart Properties)
)

// Account says which login the data file holds; run picks its
// credentials by it.
type Account struct {
	Auth string `json:"auth"` // AccountApp or AccountLWA
}

// LoadAccount returns the stored account, or the zero Account when the
// data file has none (a file from before households, or no login yet).
func LoadAccount(st *store.Store) (Account, error) {
	var a Account
	ok, err := getJSON(st, accountKey, &a)
	if err != nil || !ok {
		return Account{}, err
	}
	return a, nil
}

func saveAccount(st *store.Store, kind string) error {
	return putJSON(st, accountKey, Account{Auth: kind})
}

// SessionStore keeps the household session in the data file (0600); it
// is the auth.SessionStore of run's session keeper.
type SessionStore struct{ Store *store.Store }

var _ auth.SessionStore = SessionStore{}

// LoadSession returns the stored session, or nil when there is none.
func (s SessionStore) LoadSession() (*auth.Session, error) {
	var sess auth.Session
	ok, err := getJSON(s.Store, appSessionKey, &sess)
	if err != nil || !ok {
		return nil, err
	}
	return &sess, nil
}

// SaveSession replaces the stored session in one Put.
func (s SessionStore) SaveSession(sess *auth.Session) error {
	return putJSON(s.Store, appSessionKey, sess)
}

// appDevice returns the stored app device, generating and storing one
// first when there is none: a retried or second login registers the same
// device, so Amazon lists it once.
func appDevice(st *store.Store) (auth.Device, error) {
	var d auth.Device
	ok, err := getJSON(st, appDeviceKey, &d)
	if err != nil {
		return d, err
	}
	if ok {
		if err := d.Validate(); err != nil {
			return d, fmt.Errorf("stored %s/%s in %s: %w", tokenBucket, appDeviceKey, st.Path(), err)
		}
		return d, nil
	}
	if d, err = auth.NewDevice(); err != nil {
		return d, err
	}
	return d, putJSON(st, appDeviceKey, d)
}

// getJSON decodes the value stored under key in the auth bucket into v;
// ok is false when there is none.
func getJSON(st *store.Store, key string, v any) (ok bool, err error) {
	b, err := st.Get(tokenBucket, key)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		// The error names the field, never the value.
		return false, fmt.Errorf("stored %s/%s in %s: %w", tokenBucket, key, st.Path(), err)
	}
	return true, nil
}

func putJSON(st *store.Store, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", tokenBucket, key, err)
	}
	if err := st.Put(tokenBucket, key, b); err != nil {
		return fmt.Errorf("store %s/%s: %w", tokenBucket, key, err)
	}
	return nil
}
