package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Offloads on the routed path.
//
// The gateway port takes frames with their virtio-net header (Features), so
// a guest's TCP stream arrives as GSO super-frames of up to 64 KiB with a
// partial checksum. A TCP or UDP packet it routes out through a link uplink
// keeps that header: the NAT translates it once (nat.Packet.Partial and
// GSOSize), and the uplink's port sends it whole (its kernel segments it),
// or cuts it in software when the port takes no header. What comes back in
// keeps the header it was read with, and the switch hands it whole to a
// port that takes one. Everything else the gateway acts on (answers it
// gives itself, drops it counts per packet) is made complete first, as a port without the
// header would get it.

// offloaded handles a frame whose virtio-net header is not zero; true:
// routed on in f itself (handleFrame).
func (p *Port) offloaded(f *vswitch.Frame, now time.Time) (kept bool) {
	if p.routesWhole(f.Bytes()) {
		// Checked here, not left to the kernel: a super-frame leaving
		// whole is cut outside (or by the next hop), where a crafted
		// gso_size would turn one frame into thousands.
		if f.VNet.IsGSO() && !vswitch.Segmentable(f) {
			p.drops[DropBadOffload].Add(1)
			return false
		}
		p.vnet = f.VNet
		kept = p.handleFrame(f, now)
		p.vnet = pkt.VirtioNetHdr{}
		return kept
	}
	if !vswitch.Complete(f, func(s *vswitch.Frame) { p.handle(s.Bytes(), now) }) {
		p.drops[DropBadOffload].Add(1)
	}
	return false
}

// routesWhole reports whether b is a TCP or UDP packet the gateway would
// route out through a link uplink: not to the gateway, nor broadcast or
// multicast, nor a fragment. route checks the rest (source, TTL) as for
// any packet.
func (p *Port) routesWhole(b []byte) bool {
	u := p.cfg.Uplink
	if u == nil || !p.cfg.Mode.RoutesOut() { // a user uplink's stack takes it whole too (user_link.go)
		return false
	}
	eth := pkt.Ethernet(b)
	if eth.Valid() && eth.Type() == pkt.TypeIPv6 {
		return p.routesWhole6(pkt.IPv6(eth.Payload()))
	}
	if !eth.Valid() || eth.Type() != pkt.TypeIPv4 {
		return false
	}
	ip := pkt.IPv4(eth.Payload())
	if !ip.Valid() || ip.IsFragment() || (ip.Protocol() != pkt.ProtoTCP && ip.Protocol() != pkt.ProtoUDP) {
		return false
	}
	dst := ip.Dst()
	return dst != p.ip && dst != p.bcast && dst != limitedBroadcast && !dst.IsMulticast()
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
