package gateway

import (
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// arpLen is an ARP frame's length on the wire: the Ethernet minimum.
const arpLen = 60

// writeARP writes the one ARP frame shape vswitch sends into b and returns
// its length: a request (broadcast, asking for tip; tip == sip makes it
// gratuitous) or a reply to tmac. The padding is zeroed: pooled buffers
// hold other frames' bytes.
func writeARP(b []byte, op uint16, smac pkt.MAC, sip netip.Addr, tmac pkt.MAC, tip netip.Addr) int {
	dst := tmac
	if op == pkt.ARPRequest {
		dst, tmac = pkt.Broadcast, pkt.MAC{}
	}
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: smac, Type: pkt.TypeARP})
	pkt.ARP(b[pkt.EthernetLen:]).Encode(&pkt.ARPFields{Op: op, SenderMAC: smac, SenderIP: sip, TargetMAC: tmac, TargetIP: tip})
	clear(b[pkt.EthernetLen+pkt.ARPLen : arpLen])
	return arpLen
}
