package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	dhcpSrvIP  = netip.MustParseAddr("192.0.2.2")
	dhcpSrvMAC = pkt.MAC{0x00, 0x00, 0x5e, 0x00, 0x01, 0x02}
)

// clientMsg checks a DHCP client message the uplink wrote, byte by byte
// (broadcast from its MAC, 0.0.0.0:68 -> 255.255.255.255:67, a 300-byte
// BOOTREQUEST with the broadcast flag and exactly these options) and
// returns its xid.
func clientMsg(t *testing.T, b []byte, typ uint8, want, server netip.Addr) uint32 {
	t.Helper()
	ip := checkIPv4(t, b)
	if pkt.Ethernet(b).Dst() != pkt.Broadcast || pkt.Ethernet(b).Src() != upMAC || ip.Src() != netip.IPv4Unspecified() ||
		ip.Dst() != netip.MustParseAddr("255.255.255.255") || ip.TTL() != 64 || ip.Protocol() != pkt.ProtoUDP || len(b) != 14+20+8+300 {
		t.Fatalf("DHCP frame % x", b[:42])
	}
	u := pkt.UDP(ip.Payload())
	if u.SrcPort() != 68 || u.DstPort() != 67 || u.Length() != 308 {
		t.Fatalf("UDP % x", u[:8])
	}
	m := pkt.DHCP(u.Payload())
	xid := m.XID()
	hdr := make([]byte, 240)
	hdr[0], hdr[1], hdr[2] = 1, 1, 6
	binary.BigEndian.PutUint32(hdr[4:], xid)
	hdr[10] = 0x80
	copy(hdr[28:], upMAC[:])
	binary.BigEndian.PutUint32(hdr[236:], 0x63825363)
	opts := []byte{53, 1, typ}
	if want.IsValid() {
		a := want.As4()
		opts = append(append(opts, 50, 4), a[:]...)
	}
	if server.IsValid() {
		a := server.As4()
		opts = append(append(opts, 54, 4), a[:]...)
	}
	opts = append(opts, 55, 3, 1, 3, 51, 255)
	if exp := append(append(hdr, opts...), make([]byte, 300-240-len(opts))...); string(m) != string(exp) {
		t.Fatalf("DHCP message\n% x\nwant\n% x", []byte(m), exp)
	}
	return xid
}

// serverMsg is a server's reply to the uplink: a BOOTREPLY of type typ
// for xid and chaddr, yiaddr, then opts (code, length, data...) as given.
func serverMsg(op uint8, xid uint32, chaddr pkt.MAC, typ uint8, yiaddr netip.Addr, opts ...byte) []byte {
	m := bootp(op, xid, 0, bootpAddrs{yi: yiaddr}, chaddr, typ, opts)
	return udpFrame(pkt.Broadcast, dhcpSrvMAC, dhcpSrvIP, netip.MustParseAddr("255.255.255.255"), 64, 67, 68, m)
}

func reply(xid uint32, typ uint8, yiaddr netip.Addr, opts ...byte) []byte {
	return serverMsg(pkt.BOOTReply, xid, upMAC, typ, yiaddr, opts...)
}

// Options of the server's replies.
var (
	optMask22  = []byte{1, 4, 255, 255, 252, 0}
	optRouter  = []byte{3, 8, 192, 0, 2, 254, 192, 0, 2, 253} // the first one counts
	optServer  = []byte{54, 4, 192, 0, 2, 2}
	optLease1h = []byte{51, 4, 0, 0, 0x0e, 0x10}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// The DHCP client on the uplink, driven through its link with a fake
// clock: DISCOVER, OFFER, REQUEST, ACK set the address and the next hop
// (the router option, not the server), renewal at T1, NAK starts over,
// unanswered DISCOVERs back off up to 30 s.
func TestUplinkDHCPClient(t *testing.T) {
	u, l, clk := startDHCPUplink(t)
	leased := netip.MustParseAddr("192.0.2.50")

	xid := clientMsg(t, l.expect(t), pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})
	// Ignored: another xid, another chaddr, a request, not an offer.
	l.in <- reply(xid+1, pkt.DHCPOffer, leased, optServer...)
	l.in <- serverMsg(pkt.BOOTReply, xid, otherMAC, pkt.DHCPOffer, leased, optServer...)
	l.in <- serverMsg(pkt.BOOTRequest, xid, upMAC, pkt.DHCPOffer, leased, optServer...)
	l.in <- reply(xid, pkt.DHCPAck, leased, optServer...)
	waitFor(t, func() bool { return len(l.in) == 0 && len(u.dhcpCh) == 0 })
	l.in <- reply(xid, pkt.DHCPOffer, leased, cat(optMask22, optRouter, optServer, optLease1h)...)
	if x := clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, dhcpSrvIP); x != xid {
		t.Fatalf("REQUEST xid %x, DISCOVER's %x", x, xid)
	}
	if u.Address().IsValid() {
		t.Fatal("address set by an OFFER")
	}
	l.in <- reply(xid, pkt.DHCPOffer, leased, optServer...) // not an ACK: ignored
	l.in <- reply(xid, pkt.DHCPAck, leased, cat(optMask22, optRouter, optServer, optLease1h)...)
	// Bound: announced, the router (option 3) asked for, T1 at half the lease.
	if b := l.expect(t); string(b) != string(arpFrame(pkt.Broadcast, upMAC, 1, upMAC, leased, pkt.MAC{}, leased)) {
		t.Fatalf("gratuitous ARP % x", b)
	}
	if b := l.expect(t); string(b) != string(arpFrame(pkt.Broadcast, upMAC, 1, upMAC, leased, pkt.MAC{}, netip.MustParseAddr("192.0.2.254"))) {
		t.Fatalf("ARP for the router % x", b)
	}
	if a := u.Address(); a != netip.PrefixFrom(leased, 22) {
		t.Fatalf("address %v", a)
	}
	clk.waitTimer(t, 30*time.Minute)
	l.quiet(t)

	// T1: renew the address held; an ACK keeps it (no new announcement),
	// with a new next hop and a lease below the minute (counted as one).
	clk.Advance(30 * time.Minute)
	xid = clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPAck, leased, cat([]byte{1, 4, 255, 255, 255, 0, 3, 4, 192, 0, 2, 1, 51, 4, 0, 0, 0, 10}, optServer)...)
	clk.waitTimer(t, 30*time.Second)
	if a := u.addr.Load(); a.prefix != netip.PrefixFrom(leased, 24) || a.ip != leased || a.gw != routerIP {
		t.Fatalf("after renewal %+v", a)
	}
	l.quiet(t)

	// A NAK to the renewal: the address goes, DISCOVER after a second.
	clk.Advance(30 * time.Second)
	xid = clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPNak, netip.Addr{}, optServer...)
	clk.waitTimer(t, time.Second)
	if u.Address().IsValid() {
		t.Fatal("address kept after a NAK")
	}
	clk.Advance(time.Second)
	clientMsg(t, l.expect(t), pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})

	// Nobody answers: 4 s per try, then 2, 4, 8, 16, 30, 30 s apart.
	for _, d := range []time.Duration{2, 4, 8, 16, 30, 30} {
		clk.waitTimer(t, 4*time.Second)
		clk.Advance(4 * time.Second)
		clk.waitTimer(t, d*time.Second)
		clk.Advance(d * time.Second)
		xid = clientMsg(t, l.expect(t), pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})
	}

	// An OFFER, then no ACK: start over (after the 30 s backoff).
	l.in <- reply(xid, pkt.DHCPOffer, leased, optServer...)
	xid = clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, dhcpSrvIP)
	clk.waitTimer(t, 4*time.Second)
	clk.Advance(4 * time.Second)
	clk.waitTimer(t, 30*time.Second)
	clk.Advance(30 * time.Second)

	// Bound again, no options beyond the type: a /24, no next hop, the
	// minimum lease; the backoff starts again from a second.
	xid = clientMsg(t, l.expect(t), pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPOffer, leased)
	clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPAck, leased)
	l.expect(t) // gratuitous ARP
	clk.waitTimer(t, 30*time.Second)
	if a := u.addr.Load(); a.prefix != netip.PrefixFrom(leased, 24) || a.gw.IsValid() {
		t.Fatalf("bound %+v", a)
	}
	// No next hop: off-link packets are dropped as no_route, and no ARP
	// asks for nothing.
	u.send(frameOf(append(make([]byte, 14), ip4(leased, remoteIP, 63, pkt.ProtoUDP, 1, 0, udp4(leased, remoteIP, 1, 2, nil))...)), clk.Now())
	if d := u.Drops(); d != [NumUplinkDrops]uint64{UplinkNoRoute: 1} {
		t.Fatalf("drops %v", d)
	}
	l.quiet(t)
	clk.Advance(30 * time.Second)
	xid = clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPNak, netip.Addr{})
	clk.waitTimer(t, time.Second)
}

// A renewal nobody answers keeps the address until the lease lapses,
// asking again at half the time left (no more than once a minute); then
// the address goes and the client starts over.
func TestUplinkDHCPLapse(t *testing.T) {
	u, l, clk := startDHCPUplink(t)
	leased := netip.MustParseAddr("192.0.2.50")
	xid := clientMsg(t, l.expect(t), pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPOffer, leased, cat(optServer, optLease1h)...)
	clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, dhcpSrvIP)
	l.in <- reply(xid, pkt.DHCPAck, leased, cat(optServer, optLease1h)...)
	l.expect(t) // gratuitous ARP
	clk.waitTimer(t, 30*time.Minute)
	// unanswered lets the client's wait d pass, takes its REQUEST for
	// leased, lets retry pass of the 4 s it waits for an answer, and
	// checks that it then waits next.
	unanswered := func(d, retry, next time.Duration) {
		t.Helper()
		clk.Advance(d)
		clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, netip.Addr{})
		clk.waitTimer(t, 4*time.Second)
		clk.Advance(retry)
		clk.waitTimer(t, next)
	}

	// T1 unanswered: held; again at half the 1796 s left.
	unanswered(30*time.Minute, 4*time.Second, 898*time.Second)
	if u.Address() != netip.PrefixFrom(leased, 24) {
		t.Fatal("address dropped before the lease lapsed")
	}
	// Answered this time, with a one-minute lease.
	clk.Advance(898 * time.Second)
	xid = clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, netip.Addr{})
	l.in <- reply(xid, pkt.DHCPAck, leased, optServer...)
	clk.waitTimer(t, 30*time.Second)
	unanswered(30*time.Second, 4*time.Second, 26*time.Second) // up to the lapse, not a minute
	if u.Address() != netip.PrefixFrom(leased, 24) {
		t.Fatal("address dropped before the lease lapsed")
	}
	unanswered(26*time.Second, 4*time.Second, time.Second)
	if u.Address().IsValid() {
		t.Fatal("address kept after the lease lapsed")
	}
	clk.Advance(time.Second)
	xid = clientMsg(t, l.expect(t), pkt.DHCPDiscover, netip.Addr{}, netip.Addr{})

	// A renewal whose wait ends exactly when the lease does: lapsed, no
	// further try.
	l.in <- reply(xid, pkt.DHCPOffer, leased, optServer...)
	clientMsg(t, l.expect(t), pkt.DHCPRequest, leased, dhcpSrvIP)
	l.in <- reply(xid, pkt.DHCPAck, leased, optServer...)
	l.expect(t) // gratuitous ARP
	clk.waitTimer(t, 30*time.Second)
	unanswered(30*time.Second, 30*time.Second, time.Second)
	if u.Address().IsValid() {
		t.Fatal("address kept after the lease lapsed")
	}
	l.quiet(t)
}

// startDHCPUplink starts an uplink with address: dhcp on a fake clock; it
// closes at the end of the test.
func startDHCPUplink(t *testing.T) (*Uplink, *memLink, *fakeClock) {
	u, l := newUplink(false)
	clk := newFakeClock()
	u.clk = clk
	startUplink(t, u)
	return u, l, clk
}
