package sim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The media player (research/echo-voice-media-api.md §6, §8, §11.8):
// np/player, np/list-media-sessions and np/command over the household's
// players, with the pushes a real Echo's player sends when it changes.

// seekStep is how far ForwardCommand and RewindCommand move, in seconds.
const seekStep = 30

// playerLocked returns the player of the Echo with this serial, or nil;
// s.mu is held.
func (s *Server) playerLocked(serial string) *Player {
	for i := range s.household.Players {
		if s.household.Players[i].Serial == serial {
			return &s.household.Players[i]
		}
	}
	return nil
}

// groupPlayerLocked returns the playing player of a speaker group e is a
// member of, or nil; s.mu is held.
func (s *Server) groupPlayerLocked(serial string) (*Echo, *Player) {
	for i := range s.household.Echos {
		g := &s.household.Echos[i]
		if g.Family != familyGroup || !slices.Contains(g.Members, serial) {
			continue
		}
		if p := s.playerLocked(g.Serial); p != nil && p.State != "IDLE" {
			return g, p
		}
	}
	return nil, nil
}

// Parts of playerInfo and nowPlayingData.
type (
	infoText struct {
		MultiLineMode bool   `json:"multiLineMode"`
		Title         string `json:"title"`
		SubText1      string `json:"subText1"`
		SubText2      string `json:"subText2"`
	}
	progress struct {
		MediaProgress int `json:"mediaProgress"`
		MediaLength   int `json:"mediaLength"`
	}
	provider struct {
		ProviderName string `json:"providerName"`
	}
	volumeInfo struct {
		Volume int  `json:"volume"`
		Muted  bool `json:"muted"`
	}
)

// transport says which controls work: all of them for a session.
var transport = map[string]string{
	"playPause": "ENABLED", "next": "ENABLED", "previous": "ENABLED", "repeat": "ENABLED", "shuffle": "ENABLED",
}

// playerInfo is the np/player answer's playerInfo; the pointers are null
// when idle.
type playerInfo struct {
	State            *string           `json:"state"`
	MediaID          *string           `json:"mediaId"`
	QueueID          *string           `json:"queueId"`
	IsPlayingInLemur bool              `json:"isPlayingInLemur"`
	PlayingInLemurID *string           `json:"playingInLemurId"`
	LemurVolume      any               `json:"lemurVolume"`
	InfoText         *infoText         `json:"infoText"`
	MainArt          any               `json:"mainArt"`
	MiniArt          any               `json:"miniArt"`
	Progress         *progress         `json:"progress"`
	Volume           volumeInfo        `json:"volume"`
	Provider         *provider         `json:"provider"`
	Quality          any               `json:"quality"`
	Transport        map[string]string `json:"transport"`
	Hint             any               `json:"hint"`
	Lyrics           any               `json:"lyrics"`
}

// playerInfoLocked describes e's player; s.mu is held.
func (s *Server) playerInfoLocked(e Echo) playerInfo {
	info := playerInfo{Volume: volumeInfo{Volume: echoVolume(e)}}
	if g, _ := s.groupPlayerLocked(e.Serial); g != nil {
		info.IsPlayingInLemur, info.PlayingInLemurID = true, &g.Serial
	}
	p := s.playerLocked(e.Serial)
	if p == nil {
		return info
	}
	info.Volume = volumeInfo{Volume: *p.Volume, Muted: p.Muted}
	if p.State == "IDLE" {
		return info
	}
	state, queue := p.State, "queue-"+p.Serial
	info.State, info.MediaID, info.QueueID = &state, &p.MediaID, &queue
	info.InfoText = &infoText{Title: p.Title, SubText1: p.Artist, SubText2: p.Album}
	info.Progress = &progress{MediaProgress: p.Position, MediaLength: p.Length}
	info.Provider = &provider{ProviderName: p.Provider}
	info.Transport = transport
	return info
}

// queryEchoLocked finds the Echo the deviceSerialNumber and deviceType
// query parameters name; s.mu is held.
func (s *Server) queryEchoLocked(r *http.Request) (*Echo, error) {
	serial, typ := r.URL.Query().Get("deviceSerialNumber"), r.URL.Query().Get("deviceType")
	e := s.echoLocked(serial)
	if e == nil || e.Type != typ {
		return nil, fmt.Errorf("no Echo with deviceSerialNumber %q and deviceType %q", serial, typ)
	}
	return e, nil
}

// handlePlayer is GET /api/np/player.
func (s *Server) handlePlayer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	e, err := s.queryEchoLocked(r)
	var info playerInfo
	if err == nil {
		info = s.playerInfoLocked(*e)
	}
	s.mu.Unlock()
	if err != nil {
		writeWebErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"playerInfo": info})
}

// nowPlayingData is a session in list-media-sessions and
// NotifyNowPlayingUpdated; progress is in milliseconds there.
type nowPlayingData struct {
	PlayerState    string            `json:"playerState"`
	MediaID        string            `json:"mediaId"`
	QueueID        string            `json:"queueId"`
	InfoText       infoText          `json:"infoText"`
	MainArt        any               `json:"mainArt"`
	Progress       progress          `json:"progress"`
	Transport      map[string]string `json:"transport"`
	Provider       provider          `json:"provider"`
	MediaReference string            `json:"mediaReference"`
}

// progressMS is p's progress in milliseconds, as the sessions and pushes
// carry it.
func (p *Player) progressMS() progress {
	return progress{MediaProgress: p.Position * 1000, MediaLength: p.Length * 1000}
}

func nowPlaying(p *Player) nowPlayingData {
	return nowPlayingData{
		PlayerState:    p.State,
		MediaID:        p.MediaID,
		QueueID:        "queue-" + p.Serial,
		InfoText:       infoText{Title: p.Title, SubText1: p.Artist, SubText2: p.Album},
		Progress:       p.progressMS(),
		Transport:      transport,
		Provider:       provider{ProviderName: p.Provider},
		MediaReference: p.MediaID,
	}
}

type sessionEndpoint struct {
	ID dopplerID `json:"id"`
}

type mediaSession struct {
	EndpointList   []sessionEndpoint `json:"endpointList"`
	NowPlayingData nowPlayingData    `json:"nowPlayingData"`
}

// handleMediaSessions is GET /api/np/list-media-sessions: every session
// that is not idle, whatever device the query names; a speaker group's
// lists the group, then its members.
func (s *Server) handleMediaSessions(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sessions := []mediaSession{}
	for i := range s.household.Players {
		p := &s.household.Players[i]
		if p.State == "IDLE" {
			continue
		}
		e := s.echoLocked(p.Serial)
		ends := []sessionEndpoint{{ID: doppler(e)}}
		for _, m := range e.Members {
			if me := s.echoLocked(m); me != nil {
				ends = append(ends, sessionEndpoint{ID: doppler(me)})
			}
		}
		sessions = append(sessions, mediaSession{EndpointList: ends, NowPlayingData: nowPlaying(p)})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"mediaSessionList": sessions})
}

// playerCommand is the body of POST /api/np/command.
type playerCommand struct {
	Type        string `json:"type"`
	Shuffle     *bool  `json:"shuffle"`
	Repeat      *bool  `json:"repeat"`
	VolumeLevel *int   `json:"volumeLevel"`
	MediaID     string `json:"mediaId"`
}

// handlePlayerCommand is POST /api/np/command?deviceSerialNumber&deviceType:
// the command changes the player and pushes what changed; the answer is
// 200 with an empty body (no client reads it).
func (s *Server) handlePlayerCommand(w http.ResponseWriter, r *http.Request) {
	var cmd playerCommand
	if err := decodeOne(r, &cmd); err != nil {
		writeWebError(w, http.StatusBadRequest, "body is not a JSON object: %v", err)
		return
	}
	if s.changeAndPush(w, func() ([]pendingPush, error) { return s.playerCommandLocked(r, cmd) }) {
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) playerCommandLocked(r *http.Request, cmd playerCommand) ([]pendingPush, error) {
	e, err := s.queryEchoLocked(r)
	if err != nil {
		return nil, err
	}
	p := s.playerLocked(e.Serial)
	if p == nil {
		if g, _ := s.groupPlayerLocked(e.Serial); g != nil {
			return nil, fmt.Errorf("%s plays as part of speaker group %s (%s): send the command there", e.Name, g.Name, g.Serial)
		}
		return nil, fmt.Errorf("%s has no media session", e.Name)
	}
	pushes, err := s.commandEffectLocked(e, p, cmd)
	if err != nil {
		return nil, err
	}
	p.Commands = append(p.Commands, cmd.Type)
	return pushes, nil
}

// commandEffectLocked changes p as cmd says and returns the pushes; s.mu
// is held.
func (s *Server) commandEffectLocked(e *Echo, p *Player, cmd playerCommand) ([]pendingPush, error) {
	changed := func(cause string) []pendingPush { return []pendingPush{nowPlayingPush(p, cause)} }
	switch cmd.Type {
	case "PlayCommand":
		if p.State == "PLAYING" {
			return nil, nil
		}
		p.State = "PLAYING"
		return append([]pendingPush{audioPlayerPush(e, p, "PLAYING")}, changed("PLAYBACK_STARTED")...), nil
	case "PauseCommand":
		if p.State != "PLAYING" {
			return nil, nil
		}
		p.State = "PAUSED"
		return append([]pendingPush{audioPlayerPush(e, p, "INTERRUPTED")}, changed("PLAYBACK_PAUSED")...), nil
	case "NextCommand", "PreviousCommand", "JumpCommand":
		p.MediaID, p.Position = newUUID(), 0
		if cmd.Type == "JumpCommand" {
			if cmd.MediaID == "" {
				return nil, fmt.Errorf("JumpCommand needs mediaId")
			}
			p.MediaID = cmd.MediaID
		}
		return append([]pendingPush{mediaChangePush(e, p), progressPush(e, p)}, changed("TRACK_CHANGED")...), nil
	case "ForwardCommand", "RewindCommand":
		step := seekStep
		if cmd.Type == "RewindCommand" {
			step = -seekStep
		}
		p.Position = max(0, p.Position+step)
		if p.Length > 0 {
			p.Position = min(p.Position, p.Length)
		}
		return []pendingPush{progressPush(e, p)}, nil
	case "ShuffleCommand", "RepeatCommand":
		return queueCommand(e, p, cmd)
	case "VolumeLevelCommand":
		if cmd.VolumeLevel == nil || *cmd.VolumeLevel < 0 || *cmd.VolumeLevel > 100 {
			return nil, fmt.Errorf("VolumeLevelCommand needs volumeLevel 0..100")
		}
		return []pendingPush{s.setVolumeLocked(e, *cmd.VolumeLevel)}, nil
	default:
		return nil, fmt.Errorf("unknown command type %q", cmd.Type)
	}
}

func queueCommand(e *Echo, p *Player, cmd playerCommand) ([]pendingPush, error) {
	flag, dst, name := cmd.Shuffle, &p.Shuffle, "shuffle"
	if cmd.Type == "RepeatCommand" {
		flag, dst, name = cmd.Repeat, &p.Repeat, "repeat"
	}
	if flag == nil {
		return nil, fmt.Errorf("%s needs %s (a boolean)", cmd.Type, name)
	}
	*dst = *flag
	return []pendingPush{queueChangePush(e, p, cmd.Type == "ShuffleCommand")}, nil
}

// The player pushes' payloads (research §8).
type (
	audioPlayerState struct {
		DestinationUserID string    `json:"destinationUserId"`
		DopplerID         dopplerID `json:"dopplerId"`
		MediaReferenceID  string    `json:"mediaReferenceId"`
		AudioPlayerState  string    `json:"audioPlayerState"`
		Error             bool      `json:"error"`
		ErrorMessage      *string   `json:"errorMessage"`
	}
	mediaChange struct {
		DestinationUserID string    `json:"destinationUserId"`
		DopplerID         dopplerID `json:"dopplerId"`
		MediaReferenceID  string    `json:"mediaReferenceId"`
	}
	mediaProgressChange struct {
		DestinationUserID string    `json:"destinationUserId"`
		DopplerID         dopplerID `json:"dopplerId"`
		MediaReferenceID  string    `json:"mediaReferenceId"`
		Progress          progress  `json:"progress"`
	}
	mediaQueueChange struct {
		DestinationUserID string    `json:"destinationUserId"`
		DopplerID         dopplerID `json:"dopplerId"`
		ChangeType        string    `json:"changeType"`
		PlayBackOrder     string    `json:"playBackOrder"`
		TrackOrderChanged bool      `json:"trackOrderChanged"`
		LoopMode          string    `json:"loopMode"`
	}
	nowPlayingUpdate struct {
		CustomerID string `json:"customerId"`
		Update     struct {
			TaskSessionID string `json:"taskSessionId"`
			Update        struct {
				Cause          string         `json:"cause"`
				NowPlayingData nowPlayingData `json:"nowPlayingData"`
			} `json:"update"`
		} `json:"update"`
	}
)

// doppler names the Echo a push is about.
func doppler(e *Echo) dopplerID {
	return dopplerID{DeviceSerialNumber: e.Serial, DeviceType: e.Type}
}

func audioPlayerPush(e *Echo, p *Player, state string) pendingPush {
	return pendingPush{"PUSH_AUDIO_PLAYER_STATE", audioPlayerState{
		DestinationUserID: simCustomerID, DopplerID: doppler(e),
		MediaReferenceID: p.MediaID, AudioPlayerState: state,
	}}
}

func mediaChangePush(e *Echo, p *Player) pendingPush {
	return pendingPush{"PUSH_MEDIA_CHANGE", mediaChange{
		DestinationUserID: simCustomerID, DopplerID: doppler(e), MediaReferenceID: p.MediaID,
	}}
}

func progressPush(e *Echo, p *Player) pendingPush {
	return pendingPush{"PUSH_MEDIA_PROGRESS_CHANGE", mediaProgressChange{
		DestinationUserID: simCustomerID, DopplerID: doppler(e), MediaReferenceID: p.MediaID,
		Progress: p.progressMS(),
	}}
}

func queueChangePush(e *Echo, p *Player, shuffle bool) pendingPush {
	order, loop := "NORMAL", "NORMAL"
	if p.Shuffle {
		order = "SHUFFLE_ALL"
	}
	if p.Repeat {
		loop = "LOOP_QUEUE"
	}
	return pendingPush{"PUSH_MEDIA_QUEUE_CHANGE", mediaQueueChange{
		DestinationUserID: simCustomerID, DopplerID: doppler(e),
		ChangeType: "NEW_QUEUE", PlayBackOrder: order, TrackOrderChanged: shuffle, LoopMode: loop,
	}}
}

// nowPlayingPush is NotifyNowPlayingUpdated: no dopplerId, the session's
// data.
func nowPlayingPush(p *Player, cause string) pendingPush {
	var u nowPlayingUpdate
	u.CustomerID = simCustomerID
	u.Update.TaskSessionID = "session-" + strings.ToLower(p.Serial)
	u.Update.Update.Cause = cause
	u.Update.Update.NowPlayingData = nowPlaying(p)
	return pendingPush{"NotifyNowPlayingUpdated", u}
}

// deviceVolume is one entry of allDeviceVolumes.
type deviceVolume struct {
	DSN           string `json:"dsn"`
	SpeakerVolume int    `json:"speakerVolume"`
	SpeakerMuted  bool   `json:"speakerMuted"`
}

// handleAllDeviceVolumes is GET
// /api/devices/deviceType/dsn/audio/v1/allDeviceVolumes: every Echo's
// volume (a player's mute counts as the speaker's).
func (s *Server) handleAllDeviceVolumes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	volumes := []deviceVolume{}
	for _, e := range s.household.Echos {
		v := deviceVolume{DSN: e.Serial, SpeakerVolume: echoVolume(e)}
		if p := s.playerLocked(e.Serial); p != nil {
			v.SpeakerMuted = p.Muted
		}
		volumes = append(volumes, v)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"volumes": volumes})
}
