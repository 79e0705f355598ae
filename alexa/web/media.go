package web

import (
	"context"
	"net/url"
)

// Do Not Disturb and the media player (research §5, §6).
const (
	dndListPath   = "/api/dnd/device-status-list"
	dndStatusPath = "/api/dnd/status"
	playerPath    = "/api/np/player"
	commandPath   = "/api/np/command"
)

// DNDState is one Echo's Do Not Disturb.
type DNDState struct {
	Serial, Type string
	Enabled      bool
}

// DNDStatus reads every Echo's Do Not Disturb.
func (c *Client) DNDStatus(ctx context.Context) ([]DNDState, error) {
	var resp struct {
		List *[]struct {
			DeviceSerialNumber string `json:"deviceSerialNumber"`
			DeviceType         string `json:"deviceType"`
			Enabled            bool   `json:"enabled"`
		} `json:"doNotDisturbDeviceStatusList"`
	}
	if err := c.get(ctx, dndListPath, url.Values{"_": {c.cacheBuster()}}, &resp); err != nil {
		return nil, err
	}
	if resp.List == nil {
		return nil, badResponse("GET", dndListPath, `no "doNotDisturbDeviceStatusList" array`)
	}
	out := make([]DNDState, 0, len(*resp.List))
	for _, d := range *resp.List {
		if d.DeviceSerialNumber != "" {
			out = append(out, DNDState{Serial: d.DeviceSerialNumber, Type: d.DeviceType, Enabled: d.Enabled})
		}
	}
	return out, nil
}

// SetDND turns an Echo's Do Not Disturb on or off until changed again
// (PUT /api/dnd/status); a timed one is Perform's ActionDND.
func (c *Client) SetDND(ctx context.Context, e Echo, enabled bool) error {
	if err := checkEcho(e); err != nil {
		return err
	}
	_, err := c.send(ctx, "PUT", c.web, dndStatusPath, nil, struct {
		DeviceSerialNumber string `json:"deviceSerialNumber"`
		DeviceType         string `json:"deviceType"`
		Enabled            bool   `json:"enabled"`
	}{e.Serial, e.Type, enabled})
	return err
}

// Player is what an Echo plays (np/player's playerInfo).
type Player struct {
	State                          string // PLAYING, PAUSED, ...
	Title, Artist, Album, Provider string
	Position, Length               int // seconds
	Volume                         int // 0..100
	Muted                          bool
}

// Player reads what e plays; nil when it plays nothing (state null).
func (c *Client) Player(ctx context.Context, e Echo) (*Player, error) {
	if err := checkEcho(e); err != nil {
		return nil, err
	}
	var resp struct {
		PlayerInfo *struct {
			State    *string `json:"state"`
			InfoText *struct {
				Title    string `json:"title"`
				SubText1 string `json:"subText1"`
				SubText2 string `json:"subText2"`
			} `json:"infoText"`
			Progress *struct {
				MediaProgress float64 `json:"mediaProgress"`
				MediaLength   float64 `json:"mediaLength"`
			} `json:"progress"`
			Volume *struct {
				Volume float64 `json:"volume"`
				Muted  bool    `json:"muted"`
			} `json:"volume"`
			Provider *struct {
				ProviderName string `json:"providerName"`
			} `json:"provider"`
		} `json:"playerInfo"`
	}
	q := deviceQuery(e)
	q.Set("screenWidth", "1392")
	if err := c.get(ctx, playerPath, q, &resp); err != nil {
		return nil, err
	}
	pi := resp.PlayerInfo
	if pi == nil || pi.State == nil || *pi.State == "" {
		return nil, nil
	}
	p := &Player{State: *pi.State}
	if t := pi.InfoText; t != nil {
		p.Title, p.Artist, p.Album = t.Title, t.SubText1, t.SubText2
	}
	if pr := pi.Progress; pr != nil {
		p.Position, p.Length = int(pr.MediaProgress), int(pr.MediaLength)
	}
	if v := pi.Volume; v != nil {
		p.Volume, p.Muted = int(v.Volume), v.Muted
	}
	if pi.Provider != nil {
		p.Provider = pi.Provider.ProviderName
	}
	return p, nil
}

// The np/command types PlayerCommand sends.
const (
	CmdPlay     = "PlayCommand"
	CmdPause    = "PauseCommand"
	CmdNext     = "NextCommand"
	CmdPrevious = "PreviousCommand"
	CmdShuffle  = "ShuffleCommand" // on: shuffle on or off
	CmdRepeat   = "RepeatCommand"  // on: repeat on or off
)

// PlayerCommand sends a transport command to e's player (POST
// /api/np/command); on is the setting of CmdShuffle and CmdRepeat and
// ignored otherwise.
func (c *Client) PlayerCommand(ctx context.Context, e Echo, typ string, on bool) error {
	if err := checkEcho(e); err != nil {
		return err
	}
	var body any
	switch typ {
	case CmdPlay, CmdPause, CmdNext, CmdPrevious:
		body = struct {
			Type string `json:"type"`
		}{typ}
	case CmdShuffle:
		body = struct {
			Type    string `json:"type"`
			Shuffle bool   `json:"shuffle"`
		}{typ, on}
	case CmdRepeat:
		body = struct {
			Type   string `json:"type"`
			Repeat bool   `json:"repeat"`
		}{typ, on}
	default:
		return invalid("player command %q: want %s, %s, %s, %s, %s or %s", typ, CmdPlay, CmdPause, CmdNext, CmdPrevious, CmdShuffle, CmdRepeat)
	}
	_, err := c.send(ctx, "POST", c.web, commandPath, deviceQuery(e), body)
	return err
}
