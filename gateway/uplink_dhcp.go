package gateway

import (
	"encoding/binary"
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
			u.cfg.Log.Info("uplink leased its address", "uplink", u.cfg.Name, "address", lease.prefix, "gateway", lease.gw, "lease", lease.time)
			prev := u.addr.Load()
			u.addr.Store(&uplinkAddr{prefix: lease.prefix, ip: lease.prefix.Addr(), gw: lease.gw})
			if prev == nil || prev.ip != lease.prefix.Addr() {
				u.announce(u.addr.Load())
			}
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
			d := pkt.DHCP(msg)
			if !d.Valid() || d.Op() != pkt.BOOTReply || d.XID() != xid || d.CHAddr() != u.mac {
				continue
			}
			o := d.ParseOptions()
			got, bits := o.Type, o.MaskBits
			if bits < 0 {
				bits = 24 // no mask option: assume the classful /24
			}
			l := dhcpLease{gw: o.Router, server: o.ServerID, time: time.Duration(o.LeaseTime) * time.Second}
			if got == pkt.DHCPNak {
				return dhcpLease{nak: true}, false
			}
			if got != typ {
				continue
			}
			l.prefix = netip.PrefixFrom(d.YIAddr(), bits)
			if l.time < time.Minute {
				l.time = time.Minute // renew no more than twice a minute
			}
			return l, true
		}
	}
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
