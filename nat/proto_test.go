package nat

import "github.com/vswitch/vswitch/internal/pkt"

// Short names for the tests; the code uses pkt's.
const (
	protoICMP = pkt.ProtoICMP
	protoTCP  = pkt.ProtoTCP
	protoUDP  = pkt.ProtoUDP
)
