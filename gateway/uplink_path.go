package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
)

// The uplink's path for both families: output and output6 end in
// outward, handle's IPv4 and input6 in inward, so masquerade, hairpin,
// the NAT-verdict-to-drop mapping and the hop to a network are written
// once.

// inward hands an outside packet f, IPv4 or IPv6 (header and payload in
// ip, destination dst), to its network: through the NAT when it is sent
// to the uplink's own address (toUs), else to the routed network that
// holds dst. One hop on, it goes to the guest's neighbour entry; true
// means f was handed on, false that it was counted and dropped.
func (u *Uplink) inward(f *vswitch.Frame, ip []byte, dst netip.Addr, toUs bool, now time.Time) bool {
	v4, mode := dst.Is4(), config.ModeRouted // routed networks take inbound
	if toUs {
		var v nat.Verdict
		var e *nat.Entry
		if v4 {
			v, e = u.cfg.NAT.Inbound(natPacket(ip, &f.VNet), now.Unix())
		} else {
			v, e = u.cfg.NAT.Inbound6(natPacket(ip, &f.VNet), now.Unix())
		}
		if v != nat.Translated {
			u.natDrop(v)
			return false
		}
		if v4 {
			u.countTranslated(1, &f.VNet)
		} else {
			u.countTranslated6(1, &f.VNet)
		}
		dst, mode = e.Inside.Src.Addr(), config.ModeNAT
	}
	target := u.network(dst, mode)
	if target == nil {
		u.drops[UplinkNotTracked].Add(1)
		return false
	}
	if v4 && !pkt.IPv4(ip).DecTTL() || !v4 && !pkt.IPv6(ip).DecHopLimit() {
		u.drops[UplinkTTL].Add(1)
		return false
	}
	if v4 {
		return target.deliver(f, now)
	}
	return target.deliver6(f, now)
}

// outward is the rest of output and output6 once the uplink has its
// address src of the packet's family: masquerade behind src when
// translate is set, back in when that makes the packet a port forward's
// (hairpin), else out to the next hop.
func (u *Uplink) outward(f *vswitch.Frame, src netip.Addr, translate bool, now time.Time) {
	v4 := src.Is4()
	if translate {
		ipb := f.Bytes()[pkt.EthernetLen:]
		var v nat.Verdict
		var dst netip.Addr
		if v4 {
			v, _ = u.cfg.NAT.Outbound(natPacket(ipb, &f.VNet), src, now.Unix())
			dst = pkt.IPv4(ipb).Dst()
		} else {
			v, _ = u.cfg.NAT.Outbound6(natPacket(ipb, &f.VNet), src, now.Unix())
			dst = pkt.IPv6(ipb).Dst()
		}
		if v != nat.Translated {
			u.natDrop(v)
			f.Release()
			return
		}
		if v4 {
			u.countTranslated(0, &f.VNet)
		} else {
			u.countTranslated6(0, &f.VNet)
		}
		if dst == src {
			u.hairpin(f, now)
			return
		}
	}
	if v4 {
		u.send(f, now)
	} else {
		u.send6(f, now)
	}
}

// natDrop counts a packet the NAT refused, in either direction.
func (u *Uplink) natDrop(v nat.Verdict) {
	switch v {
	case nat.TableFull:
		u.drops[UplinkConntrackFull].Add(1)
	case nat.SourceLimit:
		u.drops[UplinkSourceLimit].Add(1)
	case nat.Fragment:
		u.drops[UplinkFragment].Add(1)
	case nat.Malformed:
		u.drops[UplinkMalformed].Add(1)
	default:
		u.drops[UplinkNotTracked].Add(1)
	}
}

// network finds the attached network whose prefix (IPv4) or /64 (IPv6)
// holds a, if it has that mode.
func (u *Uplink) network(a netip.Addr, mode config.Mode) *Port {
	var p *Port
	if a.Is4() {
		p = u.routes.Load().lookup(a)
	} else {
		p = u.routes.Load().lookup6(a)
	}
	if p != nil && p.cfg.Mode == mode {
		return p
	}
	return nil
}
