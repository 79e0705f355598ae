package sim

// Test access to the tcomm codec, so that the shared fixtures can check it
// byte for byte.

// TcommFrame is tcommFrame with exported fields.
type TcommFrame struct {
	Tune      bool
	Protocol  string
	Channel   uint32
	MessageID uint32
	Content   []byte
}

func DecodeTcomm(b []byte) (TcommFrame, error) {
	f, err := decodeTcomm(b)
	return TcommFrame{Tune: f.tune, Protocol: f.protocol, Channel: f.channel, MessageID: f.messageID, Content: f.content}, err
}

var (
	EncodeTune     = encodeTune
	EncodeMsg      = encodeMsg
	GWMMessage     = gwmMessage
	GWMJSON        = gwmJSON
	TcommChecksum  = tcommChecksum
	PushServiceURN = pushServiceURN
)
