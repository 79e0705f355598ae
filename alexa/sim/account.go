package sim

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
)

// Web API routes about the account and its marketplace, and the pages the
// csrf cookie comes from.

// accountMarket returns the account's marketplace domain and home region.
func (s *Server) accountMarket() (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.app.settings.Marketplace, s.app.settings.HomeRegion
}

// handleUsersMe is GET /api/users/me: who is signed in, and the
// marketplace clients take the web host from (openHAB's UsersMeTO).
func (s *Server) handleUsersMe(w http.ResponseWriter, r *http.Request) {
	mkt, _ := s.accountMarket()
	m := marketplaces[mkt]
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                     simUserID,
		"email":                  simEmail,
		"fullName":               simFullName,
		"marketPlaceDomainName":  "www." + mkt,
		"marketPlaceId":          m.id,
		"marketPlaceLocale":      m.locale,
		"countryOfResidence":     m.country,
		"effectiveMarketPlaceId": m.id,
		"eulaAcceptance":         true,
		"features":               []string{},
		"hasActiveDopplers":      true,
	})
}

// awsRegions are the AWS regions /api/endpoints names per home region.
var awsRegions = map[string]string{"NA": "us-east-1", "EU": "eu-west-1", "FE": "us-west-2"}

// handleEndpoints answers with the simulator itself as the regional API
// hosts, so clients keep talking to it, and the account's marketplace as
// the retail site.
func (s *Server) handleEndpoints(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	mkt, region := s.accountMarket()
	writeJSON(w, http.StatusOK, map[string]string{
		"alexaApiUrl":    base,
		"awsRegion":      awsRegions[region],
		"retailDomain":   mkt,
		"retailUrl":      "https://www." + mkt,
		"skillsStoreUrl": "https://www." + mkt + "/alexa-skills/b/?node=13727921011",
		"websiteApiUrl":  base,
		"websiteUrl":     "https://alexa." + mkt,
	})
}

// handleWelcome is GET /api/welcome (aioamazondevices reads alexaHostName).
func (s *Server) handleWelcome(w http.ResponseWriter, r *http.Request) {
	mkt, _ := s.accountMarket()
	writeJSON(w, http.StatusOK, map[string]any{
		"alexaHostName":  "alexa." + mkt,
		"marketplaceId":  marketplaces[mkt].id,
		"customerId":     simCustomerID,
		"isFirstTimeUse": false,
	})
}

// handleLanguage is GET /api/language, the first place clients look for
// the csrf cookie.
func (s *Server) handleLanguage(w http.ResponseWriter, r *http.Request) {
	mkt, _ := s.accountMarket()
	writeJSON(w, http.StatusOK, map[string]string{"language": marketplaces[mkt].locale})
}

// handleSPA is GET /spa/index.html, the web app's page.
func (s *Server) handleSPA(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.Write([]byte("<!DOCTYPE html><html><head><title>Amazon Alexa</title></head><body><div id=\"d-app\"></div></body></html>\n"))
}

// handleTemplate is GET /templates/oobe/d-device-pick.handlebars.
func (s *Server) handleTemplate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/x-handlebars-template")
	w.Write([]byte(`<div class="d-device-pick">{{#each devices}}<div>{{name}}</div>{{/each}}</div>` + "\n"))
}

// handleStrings is GET /api/strings, the web app's translations.
func (s *Server) handleStrings(w http.ResponseWriter, r *http.Request) {
	mkt, _ := s.accountMarket()
	writeJSON(w, http.StatusOK, map[string]string{"locale": marketplaces[mkt].locale, "d-device-pick.title": "Choose a device"})
}

// handleCustomerStatus is GET /api/customer-status, the session check
// clients use since /api/bootstrap is gone (alexapy reads customerEmail
// and customerId; Amazon's shape is unknown).
func (s *Server) handleCustomerStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"authentication": authentication{
		Authenticated: true,
		CustomerEmail: simEmail,
		CustomerID:    simCustomerID,
		CustomerName:  simFullName,
	}})
}

// appDevicesLocked lists the registered app devices as /api/devices-v2/device
// shows them: one VOX entry each, listing itself in appDeviceList. s.mu
// is held.
func (s *Server) appDevicesLocked() []echoDevice {
	devices := []echoDevice{}
	for _, reg := range s.registrationsLocked() {
		devices = append(devices, echoDevice{
			AccountName: reg.name,
			AppDeviceList: []any{map[string]string{
				"deviceAccountId": "A" + strings.ToUpper(reg.serial), "deviceType": appDeviceType, "serialNumber": reg.serial,
			}},
			Capabilities:          []string{},
			ClusterMembers:        []string{},
			DeviceAccountID:       "A" + strings.ToUpper(reg.serial),
			DeviceFamily:          "VOX",
			DeviceOwnerCustomerID: simCustomerID,
			DeviceType:            appDeviceType,
			Language:              "en-US",
			Online:                true,
			ParentClusters:        []string{},
			SerialNumber:          reg.serial,
			SoftwareVersion:       "0",
		})
	}
	return devices
}

// simWifiNetwork is the ESSID every simulated Echo is connected to.
const simWifiNetwork = "SimHome"

// handleHouseholdAccounts is GET /api/household: the account's members
// (jcrasselt's capture); the simulated household has one adult.
func (s *Server) handleHouseholdAccounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"__type": "HouseholdModel:http://internal.amazon.com/coral/com.amazon.alexa.household.model/",
		"accounts": []map[string]any{{
			"email": simEmail, "eulaAcceptance": true, "firstName": simFirstName, "fullName": simFullName,
			"id": simUserID, "pendingUserPin": nil, "role": "ADULT",
		}},
		"id": nil,
	})
}

// handleWifiDetails is GET /api/device-wifi-details?deviceSerialNumber&deviceType:
// ioBroker reads essid and macAddress; the MAC is made from the serial.
func (s *Server) handleWifiDetails(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	e, err := s.queryEchoLocked(r)
	s.mu.Unlock()
	if err != nil {
		writeWebErr(w, http.StatusBadRequest, err)
		return
	}
	sum := sha256.Sum256([]byte(e.Serial))
	writeJSON(w, http.StatusOK, map[string]any{
		"deviceSerialNumber": e.Serial,
		"deviceType":         e.Type,
		"essid":              simWifiNetwork,
		// A locally administered unicast address.
		"macAddress": fmt.Sprintf("%02X%02X%02X%02X%02X%02X", sum[0]&0xfc|0x02, sum[1], sum[2], sum[3], sum[4], sum[5]),
	})
}
