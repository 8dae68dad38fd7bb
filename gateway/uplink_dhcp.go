package gateway

import (
	"encoding/binary"
	mathbits "math/bits"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// dhcpClient leases the uplink's outside address (uplink `address: dhcp`):
// DISCOVER, OFFER, REQUEST, ACK from the uplink's own MAC, then renewal
// at T1; a NAK or a lapsed lease starts over. Until bound, routed traffic
// is dropped and counted as no_address.
func (u *Uplink) dhcpClient() {
	defer u.wg.Done()
	backoff := time.Second
	for {
		lease, ok := u.acquire(netip.Addr{})
		for ok {
			u.bind(lease)
			backoff = time.Second
			lease, ok = u.renew(lease)
		}
		select {
		case <-u.done:
			return // closing, not a lost lease
		default:
		}
		if u.addr.Load() != nil {
			u.cfg.Log.Warn("uplink lost its DHCP lease", "uplink", u.cfg.Name)
			u.addr.Store(nil)
		}
		select {
		case <-u.done:
			return
		case <-u.clk.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// bind takes a lease: its address and next hop, with a gratuitous ARP
// when the address is new.
func (u *Uplink) bind(l dhcpLease) {
	u.cfg.Log.Info("uplink leased its address", "uplink", u.cfg.Name, "address", l.prefix, "gateway", l.gw, "lease", l.time)
	if !l.gw.IsValid() {
		u.cfg.Log.Warn("uplink lease names no usable router: no default route, only the outside link is reached", "uplink", u.cfg.Name)
	}
	prev := u.addr.Load()
	a := &uplinkAddr{prefix: l.prefix, ip: l.prefix.Addr(), gw: l.gw}
	u.addr.Store(a)
	if prev == nil || prev.ip != a.ip {
		u.announce(a)
	}
}

// renew keeps l alive: a REQUEST at T1 and, while unanswered, again at
// half the time left (RFC 2131 4.4.5), no more often than once a minute,
// until the lease lapses. A lost reply costs nothing while the lease
// holds. It returns the renewed lease, or false on a NAK, a lapse or
// Close.
func (u *Uplink) renew(l dhcpLease) (dhcpLease, bool) {
	expiry := u.clk.Now().Add(l.time)
	wait := l.time / 2 // T1
	for {
		select {
		case <-u.done:
			return dhcpLease{}, false
		case <-u.clk.After(wait):
		}
		next, ok := u.acquire(l.prefix.Addr())
		if ok || next.nak {
			return next, ok
		}
		left := expiry.Sub(u.clk.Now())
		if left <= 0 {
			return next, false
		}
		wait = min(max(left/2, time.Minute), left)
	}
}

type dhcpLease struct {
	prefix netip.Prefix
	gw     netip.Addr
	server netip.Addr
	time   time.Duration
	nak    bool // the server refused (ok is false)
}

// acquire runs one exchange: DISCOVER/OFFER/REQUEST/ACK, or, when
// renewing have, REQUEST/ACK for it.
func (u *Uplink) acquire(have netip.Addr) (dhcpLease, bool) {
	xid := rand.Uint32()
	var want, server netip.Addr
	if have.IsValid() {
		want = have
	} else {
		u.sendDHCP(xid, pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})
		off, ok := u.awaitDHCP(xid, pkt.DHCPOffer)
		if !ok {
			return dhcpLease{}, false
		}
		want, server = off.prefix.Addr(), off.server
	}
	u.sendDHCP(xid, pkt.DHCPRequest, want, server)
	ack, ok := u.awaitDHCP(xid, pkt.DHCPAck)
	return ack, ok
}

// awaitDHCP waits up to 4 s for a reply of type typ to xid (a NAK ends it).
func (u *Uplink) awaitDHCP(xid uint32, typ uint8) (dhcpLease, bool) {
	deadline := u.clk.After(4 * time.Second)
	for {
		select {
		case <-u.done:
			return dhcpLease{}, false
		case <-deadline:
			return dhcpLease{}, false
		case msg := <-u.dhcpCh:
			switch l, r := readLease(msg, xid, u.mac, typ); r {
			case replyNak:
				return l, false
			case replyLease:
				return l, true
			}
		}
	}
}

// dhcpReply is what a server's message means to the client's exchange.
type dhcpReply uint8

const (
	replyOther dhcpReply = iota // not for this exchange, another type, or unusable
	replyNak
	replyLease
)

// readLease reads a server's message for exchange xid of the client with
// MAC mac, waiting for a reply of type typ. The outside network is not
// trusted: a lease is taken only as the message states it, and only when
// it is usable. yiaddr must be a unicast address and not its subnet's
// own or broadcast address; the subnet comes from a contiguous, nonzero
// mask (any other mask is ignored, as if absent: /24). The router, when
// it is a unicast address other than the lease's and its subnet's,
// becomes the next hop; otherwise there is none (no default route).
func readLease(msg []byte, xid uint32, mac pkt.MAC, typ uint8) (dhcpLease, dhcpReply) {
	d := pkt.DHCP(msg)
	if !d.Valid() || d.Op() != pkt.BOOTReply || d.XID() != xid || d.CHAddr() != mac {
		return dhcpLease{}, replyOther
	}
	o := d.ParseOptions()
	if o.Type == pkt.DHCPNak {
		return dhcpLease{nak: true}, replyNak
	}
	if o.Type != typ {
		return dhcpLease{}, replyOther
	}
	pfx := netip.PrefixFrom(d.YIAddr(), subnetBits(d))
	if !hostIn(pfx.Addr(), pfx) {
		return dhcpLease{}, replyOther
	}
	// At least a minute: renew no more than twice a minute. The longest
	// lease (2^32-1 s, "infinite") still fits a Duration.
	l := dhcpLease{prefix: pfx, server: o.ServerID, time: max(time.Duration(o.LeaseTime)*time.Second, time.Minute)}
	if o.Router != pfx.Addr() && hostIn(o.Router, pfx) {
		l.gw = o.Router
	}
	return l, replyLease
}

// subnetBits is the prefix length of d's subnet mask option (the last
// one, as ParseOptions reads options), or 24 when it is absent, zero or
// not contiguous.
func subnetBits(d pkt.DHCP) int {
	bits := 24
	it := d.Options()
	for it.Next() {
		if v := it.Data(); it.Code() == pkt.OptSubnetMask && len(v) == 4 {
			m := binary.BigEndian.Uint32(v)
			if inv := ^m; m != 0 && inv&(inv+1) == 0 {
				bits = 32 - mathbits.Len32(inv)
			} else {
				bits = 24
			}
		}
	}
	return bits
}

// hostIn reports whether a can be a host on the outside link whose
// subnet is pfx: a unicast address (not in 0/8, loopback, link-local,
// multicast or 240/4, broadcast included) and, below /31, not the
// subnet's first or last address. a need not be inside pfx (a /32
// lease's router is not).
func hostIn(a netip.Addr, pfx netip.Prefix) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	if b[0] == 0 || b[0] == 127 || b[0] >= 224 || b[0] == 169 && b[1] == 254 {
		return false
	}
	s, v := newSubnet(pfx), addr32(a)
	return !s.contains(v) || s.host(v)
}

// sendDHCP broadcasts a client message from the uplink's MAC.
func (u *Uplink) sendDHCP(xid uint32, typ uint8, want, server netip.Addr) {
	f, b := newFrame()
	const hdr = pkt.EthernetLen + pkt.IPv4MinLen + pkt.UDPLen
	m := b[hdr : hdr+300]
	clear(m)
	m[0], m[1], m[2] = pkt.BOOTRequest, 1, 6
	binary.BigEndian.PutUint32(m[4:], xid)
	binary.BigEndian.PutUint16(m[10:], pkt.DHCPFlagBroadcast)
	copy(m[28:34], u.mac[:])
	binary.BigEndian.PutUint32(m[236:], pkt.DHCPCookie)
	w := pkt.DHCPOptionWriter{B: m, N: pkt.DHCPOptionsOff}
	w.Add(pkt.OptMessageType, typ)
	if want.IsValid() {
		w.AddAddr(pkt.OptRequestedIP, want)
	}
	if server.IsValid() {
		w.AddAddr(pkt.OptServerID, server)
	}
	w.Add(pkt.OptParamRequest, pkt.OptSubnetMask, pkt.OptRouter, pkt.OptLeaseTime)
	w.End()
	n := 300
	any4, bcast := netip.AddrFrom4([4]byte{}), netip.AddrFrom4([4]byte{255, 255, 255, 255})
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: u.mac, Type: pkt.TypeIPv4})
	pkt.EncodeUDP(b[pkt.EthernetLen+pkt.IPv4MinLen:], any4, bcast, pkt.DHCPClientPort, pkt.DHCPServerPort, n)
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(pkt.IPv4MinLen + pkt.UDPLen + n), TTL: 64,
		Protocol: pkt.ProtoUDP, Src: any4, Dst: bcast})
	u.enqueue(f, hdr+n)
}
