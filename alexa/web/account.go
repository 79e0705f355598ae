package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The small account and device readers (research §7).
const (
	usersMePath     = "/api/users/me"
	customerStatus  = "/api/customer-status"
	wakeWordPath    = "/api/wake-word"
	householdPath   = "/api/household"
	wifiDetailsPath = "/api/device-wifi-details"
	defaultWakeWord = "ALEXA"
)

// CustomerID is the signed-in user's customer id (GET /api/users/me .id),
// which every sequence node carries: a device's deviceOwnerCustomerId is
// the id of whoever registered it and fails for other household members.
// It is read once and cached for the client's life.
func (c *Client) CustomerID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.customerID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var me struct {
		ID string `json:"id"`
	}
	if err := c.get(ctx, usersMePath, nil, &me); err != nil {
		return "", err
	}
	if me.ID == "" {
		return "", badResponse("GET", usersMePath, `no "id"`)
	}
	c.mu.Lock()
	c.customerID = me.ID
	c.mu.Unlock()
	return me.ID, nil
}

// SessionValid is the session check that replaced /api/bootstrap (GET
// /api/customer-status): true on 2xx, false when Amazon refuses the
// session (401 or 403); any other failure is an error.
func (c *Client) SessionValid(ctx context.Context) (bool, error) {
	_, err := c.send(ctx, "GET", c.web, customerStatus, nil, nil)
	var e *Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden):
		return false, nil
	}
	return false, err
}

// WakeWord is one Echo's wake word from /api/wake-word.
type WakeWord struct {
	Serial, Type string
	Word         string // upper case as Amazon sends it: ALEXA, ECHO, COMPUTER, AMAZON, ZIGGY
	Active       bool
}

// WakeWords lists the wake word of every Echo that has one.
func (c *Client) WakeWords(ctx context.Context) ([]WakeWord, error) {
	var resp struct {
		WakeWords *[]struct {
			Active             bool   `json:"active"`
			DeviceSerialNumber string `json:"deviceSerialNumber"`
			DeviceType         string `json:"deviceType"`
			WakeWord           string `json:"wakeWord"`
		} `json:"wakeWords"`
	}
	if err := c.get(ctx, wakeWordPath, url.Values{"cached": {"true"}}, &resp); err != nil {
		return nil, err
	}
	if resp.WakeWords == nil {
		return nil, badResponse("GET", wakeWordPath, `no "wakeWords" array`)
	}
	out := make([]WakeWord, 0, len(*resp.WakeWords))
	for _, w := range *resp.WakeWords {
		word := strings.ToUpper(strings.TrimSpace(w.WakeWord))
		if word == "" {
			word = defaultWakeWord
		}
		out = append(out, WakeWord{Serial: w.DeviceSerialNumber, Type: w.DeviceType, Word: word, Active: w.Active})
	}
	return out, nil
}

// Member is one account of the Amazon household (/api/household).
type Member struct {
	ID, FullName, FirstName, Email string
	Role                           string // ADULT, CHILD, ...
}

// HouseholdMembers lists the accounts of the Amazon household.
func (c *Client) HouseholdMembers(ctx context.Context) ([]Member, error) {
	var resp struct {
		Accounts *[]struct {
			ID        string `json:"id"`
			FullName  string `json:"fullName"`
			FirstName string `json:"firstName"`
			Email     string `json:"email"`
			Role      string `json:"role"`
		} `json:"accounts"`
	}
	if err := c.get(ctx, householdPath, nil, &resp); err != nil {
		return nil, err
	}
	if resp.Accounts == nil {
		return nil, badResponse("GET", householdPath, `no "accounts" array`)
	}
	out := make([]Member, 0, len(*resp.Accounts))
	for _, a := range *resp.Accounts {
		out = append(out, Member{ID: a.ID, FullName: a.FullName, FirstName: a.FirstName, Email: a.Email, Role: a.Role})
	}
	return out, nil
}

// Wifi is an Echo's Wi-Fi connection (/api/device-wifi-details).
type Wifi struct {
	ESSID, MAC string
}

// WifiDetails reads the network an Echo is connected to.
func (c *Client) WifiDetails(ctx context.Context, e Echo) (Wifi, error) {
	if err := checkEcho(e); err != nil {
		return Wifi{}, err
	}
	var resp struct {
		ESSID      string `json:"essid"`
		MacAddress string `json:"macAddress"`
	}
	if err := c.get(ctx, wifiDetailsPath, deviceQuery(e), &resp); err != nil {
		return Wifi{}, err
	}
	return Wifi{ESSID: resp.ESSID, MAC: resp.MacAddress}, nil
}

// deviceQuery is the deviceSerialNumber/deviceType query naming one Echo.
func deviceQuery(e Echo) url.Values {
	return url.Values{"deviceSerialNumber": {e.Serial}, "deviceType": {e.Type}}
}
