package usernet

import "github.com/vswitch/vswitch/internal/label"

// DropReason says why the user-mode uplink refused a guest's packet or
// flow: a label value of vswitch_uplink_drops_total{reason};
// docs/metrics.md lists them.
type DropReason uint8

const (
	DropMalformed        DropReason = iota // not a whole IPv4 packet
	DropForbiddenDst                       // loopback, multicast, broadcast or unspecified destination
	DropProtocol                           // neither TCP, UDP nor an ICMP echo request
	DropFlowsFull                          // a new flow, but max flows are open
	DropSourceLimit                        // a new flow, but its source holds its per-source flows
	DropDialFailed                         // the host socket could not connect (the guest gets a RST)
	DropDatagramTooBig                     // a UDP datagram over 16 KiB, either way
	DropPingDenied                         // no unprivileged ICMP socket (ping_group_range): the guest is told "prohibited"
	DropHalfOpenFull                       // a TCP SYN while MaxHalfOpen connections are still dialing: ignored, the guest retries
	DropForwardSource                      // a port forward's client without a global unicast address (loopback, with no HostLoopback): no guest can answer it
	DropBadChecksum                        // a complete packet whose IP, TCP or UDP checksum is wrong (gVisor's check, made before the stack)
	DropBadOffload                         // a super-frame that is not TCP over IPv4 (the gateway cuts every other kind before the stack)
	DropHalfOpenSource                     // a TCP SYN while its source has MaxHalfOpenPerSource connections dialing or in their handshake: ignored, the guest retries
	DropHandshakeTimeout                   // a guest left the SYN-ACK unanswered for HandshakeTimeout: the connection is aborted
	NumDrops
)

var dropNames = [NumDrops]string{
	DropMalformed:        "user_malformed",
	DropForbiddenDst:     "user_forbidden_dst",
	DropProtocol:         "user_protocol",
	DropFlowsFull:        "user_flows_full",
	DropSourceLimit:      "user_source_limit",
	DropDialFailed:       "user_dial_failed",
	DropDatagramTooBig:   "user_datagram_too_big",
	DropPingDenied:       "user_ping_denied",
	DropHalfOpenFull:     "user_half_open_full",
	DropForwardSource:    "user_forward_source",
	DropBadChecksum:      "user_bad_checksum",
	DropBadOffload:       "user_bad_offload",
	DropHalfOpenSource:   "user_half_open_source",
	DropHandshakeTimeout: "user_handshake_timeout",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }
