package vswitch

import (
	"fmt"
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// IPv6 first-hop safety. RA guard (RFC 6105): a port with
// PortConfig.RAGuard (the daemon sets it on guest ports) may not send
// router advertisements or redirects, so no guest becomes the other
// guests' router (ra_guard). The extension-header chain is walked, and a
// first fragment whose upper layer is not inside it is dropped too, as
// RFC 7113 asks: hiding an RA behind headers or fragments does not get
// it through; nor does a chain the walk cannot finish. And no port but the gateway's may advertise the gateway's
// IPv6 addresses (AddLocalAddr6): an NA claiming one is dropped
// (spoofed_na), as a frame with the gateway's MAC is (local_mac).
//
// The check reads the frame in place and one atomic pointer; it runs only
// for IPv6 frames.

// localAddr6 is one of the gateway's IPv6 addresses on a VLAN.
type localAddr6 struct {
	vid  uint16
	addr netip.Addr
}

// AddLocalAddr6 marks a as the address of the local port (a gateway) on
// vid: an NA for it from any other port is dropped.
func (s *Switch) AddLocalAddr6(vid uint16, a netip.Addr) error {
	if !a.Is6() || a.Is4In6() {
		return fmt.Errorf("local address %v: not IPv6", a)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []localAddr6
	if old := s.local6.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, localAddr6{vid, a})
	s.local6.Store(&next)
	return nil
}

// screen6 applies RA guard and the local-address rule to an IPv6 frame.
func (s *Switch) screen6(p *swPort, f *Frame) DropReason {
	ip := pkt.IPv6(pkt.Ethernet(f.Bytes()).Payload())
	if !ip.Valid() {
		return NumDropReasons // not a packet anyone will take: the receiver's to count
	}
	it := ip.ExtHeaders()
	var last []byte
	for it.Next() {
		last = it.Data()
	}
	proto, off := it.Upper()
	if it.Malformed() {
		// A chain the walk cannot finish (more than 8 headers, say) could
		// hide an RA that a host's own parser, with no such bound, finds.
		if p.raGuard {
			return DropRAGuard
		}
		return NumDropReasons
	}
	if proto == pkt.ProtoFragment {
		fh := pkt.IPv6FragmentHeader(last)
		if !p.raGuard || fh.Offset() != 0 {
			return NumDropReasons // a later fragment is nothing without its first
		}
		next := fh.NextHeader()
		if pkt.IsIPv6ExtHeader(next) {
			return DropRAGuard // the chain goes on into the fragment (RFC 7112 forbids it)
		}
		if next == pkt.ProtoICMPv6 && off < ip.Len() && isRouterMessage(ip[off]) {
			return DropRAGuard
		}
		return NumDropReasons
	}
	if proto != pkt.ProtoICMPv6 || off >= ip.Len() {
		return NumDropReasons
	}
	switch typ := ip[off]; {
	case p.raGuard && isRouterMessage(typ):
		return DropRAGuard
	case typ == pkt.ICMPv6NeighAdvert && !p.local.Load() && ip.Len()-off >= pkt.NDPNeighAdvertLen:
		if s.isLocal6(f.vid, pkt.NDPNeighAdvert(ip[off:ip.Len()]).Target()) {
			return DropSpoofedNA
		}
	}
	return NumDropReasons
}

// isRouterMessage: what only a router sends.
func isRouterMessage(typ uint8) bool {
	return typ == pkt.ICMPv6RouterAdvert || typ == pkt.ICMPv6Redirect
}

func (s *Switch) isLocal6(vid uint16, a netip.Addr) bool {
	l := s.local6.Load()
	if l == nil {
		return false
	}
	for _, e := range *l {
		if e.vid == vid && e.addr == a {
			return true
		}
	}
	return false
}
