package gateway

import (
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// dnsUDP6 is dnsUDP for a query over IPv6; it reports whether it took
// the datagram.
func (p *Port) dnsUDP6(eth pkt.Ethernet, ip pkt.IPv6, u pkt.UDP, now time.Time) bool {
	return false
}
