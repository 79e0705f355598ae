package web

import (
	"context"
	"net/url"
)

// Echo is one device of /api/devices-v2/device with its time zone from
// /api/device-preferences.
type Echo struct {
	Serial          string   // serialNumber
	Type            string   // deviceType
	Name            string   // accountName, the name the user gave it
	Family          string   // deviceFamily: ECHO, KNIGHT (Echo Show), WHA (speaker group), VOX (Alexa app), ...
	Online          bool     // online
	Timezone        string   // IANA time zone of the device, "" if it has no preferences entry
	SoftwareVersion string   // softwareVersion, needed for notification volume
	Capabilities    []string // capabilities, e.g. REMINDERS, VOLUME_SETTING
	Members         []string // clusterMembers: the serials of a speaker group's (WHA) Echos
}

const (
	devicesPath     = "/api/devices-v2/device"
	preferencesPath = "/api/device-preferences"
)

// Echos lists the household's devices with their time zones. Every device
// of the account is returned (Family tells Echos from speaker groups and
// the Alexa app); entries without a serial number or device type are
// skipped and logged.
func (c *Client) Echos(ctx context.Context) ([]Echo, error) {
	var devs struct {
		Devices *[]struct {
			SerialNumber    string   `json:"serialNumber"`
			DeviceType      string   `json:"deviceType"`
			AccountName     string   `json:"accountName"`
			DeviceFamily    string   `json:"deviceFamily"`
			Online          bool     `json:"online"`
			SoftwareVersion string   `json:"softwareVersion"`
			Capabilities    []string `json:"capabilities"`
			ClusterMembers  []string `json:"clusterMembers"`
		} `json:"devices"`
	}
	if err := c.get(ctx, devicesPath, url.Values{"cached": {"true"}, "_": {c.cacheBuster()}}, &devs); err != nil {
		return nil, err
	}
	if devs.Devices == nil {
		return nil, badResponse("GET", devicesPath, `no "devices" array`)
	}
	zones, err := c.timezones(ctx)
	if err != nil {
		return nil, err
	}
	echos := make([]Echo, 0, len(*devs.Devices))
	for i, d := range *devs.Devices {
		if d.SerialNumber == "" || d.DeviceType == "" {
			c.logger.WarnContext(ctx, "alexa web: device without serialNumber or deviceType skipped", "index", i, "name", d.AccountName)
			continue
		}
		echos = append(echos, Echo{
			Serial:          d.SerialNumber,
			Type:            d.DeviceType,
			Name:            d.AccountName,
			Family:          d.DeviceFamily,
			Online:          d.Online,
			Timezone:        zones[deviceKey{d.SerialNumber, d.DeviceType}],
			SoftwareVersion: d.SoftwareVersion,
			Capabilities:    d.Capabilities,
			Members:         nonEmpty(d.ClusterMembers),
		})
	}
	return echos, nil
}

// IsGroup reports a speaker group (family WHA), whose Members are the
// Echos that play.
func (e Echo) IsGroup() bool { return e.Family == "WHA" }

// IsSpeaker reports an Echo that speaks itself: not a speaker group and
// not the Alexa app (family VOX).
func (e Echo) IsSpeaker() bool { return !e.IsGroup() && e.Family != "VOX" }

type deviceKey struct{ serial, typ string }

// timezones reads the time zone of each device from its preferences.
func (c *Client) timezones(ctx context.Context) (map[deviceKey]string, error) {
	var prefs struct {
		DevicePreferences *[]struct {
			DeviceSerialNumber string `json:"deviceSerialNumber"`
			DeviceType         string `json:"deviceType"`
			TimeZoneID         string `json:"timeZoneId"`
		} `json:"devicePreferences"`
	}
	if err := c.get(ctx, preferencesPath, url.Values{"cached": {"true"}}, &prefs); err != nil {
		return nil, err
	}
	if prefs.DevicePreferences == nil {
		return nil, badResponse("GET", preferencesPath, `no "devicePreferences" array`)
	}
	zones := make(map[deviceKey]string, len(*prefs.DevicePreferences))
	for _, p := range *prefs.DevicePreferences {
		if p.TimeZoneID != "" {
			zones[deviceKey{p.DeviceSerialNumber, p.DeviceType}] = p.TimeZoneID
		}
	}
	return zones, nil
}

// nonEmpty is s, or nil when s has no elements (Amazon sends [] for
// every device that is not a group).
func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
