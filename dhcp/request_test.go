package dhcp

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	ip10 = netip.MustParseAddr("10.9.0.10")
	ip11 = netip.MustParseAddr("10.9.0.11")
	ip12 = netip.MustParseAddr("10.9.0.12")
)

// leaseOf is the client's lease as `show leases` has it.
func leaseOf(s *Server, m pkt.MAC) (Lease, bool) {
	for _, l := range s.Leases() {
		if l.MAC == m.String() {
			return l, true
		}
	}
	return Lease{}, false
}

// optionCodes lists a reply's options in order.
func optionCodes(rep Reply) []uint8 {
	var codes []uint8
	it := pkt.DHCP(rep.Msg).Options()
	for it.Next() {
		codes = append(codes, it.Code())
	}
	return codes
}

func option(rep Reply, code uint8) []byte {
	it := pkt.DHCP(rep.Msg).Options()
	for it.Next() {
		if it.Code() == code {
			return it.Data()
		}
	}
	return nil
}

func TestSelecting(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	// Another server's offer taken: no answer, ours withdrawn, the address
	// free for the next client at once.
	reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1)})
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: ip10, serverID: netip.MustParseAddr("10.9.0.99")}); typ != 0 {
		t.Fatalf("answered %d to a request for another server", typ)
	}
	if d := s.Drops(); d[DropNotOurs] != 1 || len(s.byClient) != 0 {
		t.Fatalf("drops %v, %d clients", d, len(s.byClient))
	}
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2)}); ip != ip10 {
		t.Fatalf("withdrawn offer still held: next client offered %v", ip)
	}
	// Another server's id from a client we never offered: ignored, and
	// other clients' offers untouched.
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(3), reqIP: ip10, serverID: netip.MustParseAddr("10.9.0.99")}); typ != 0 || len(s.byClient) != 1 {
		t.Fatalf("answered %d, %d clients", typ, len(s.byClient))
	}
	// A bound client asking another server keeps its lease here (it may
	// come back).
	ip := bind(t, s, mac(2))
	reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: ip11, serverID: netip.MustParseAddr("10.9.0.99")})
	if l, ok := leaseOf(s, mac(2)); !ok || l.IP != ip || l.State != "bound" {
		t.Fatalf("bound lease after a request elsewhere: %+v %v", l, ok)
	}
	// Our id, but not the address offered, or no offer at all: NAK.
	reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)})
	if typ, _, _ := reply(t, s, selecting(mac(4), ip12)); typ != pkt.DHCPNak {
		t.Fatalf("request for another address than offered: %d", typ)
	}
	if typ, _, _ := reply(t, s, selecting(mac(5), ip12)); typ != pkt.DHCPNak {
		t.Fatalf("request with no offer: %d", typ)
	}
}

func TestInitReboot(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	a := bind(t, s, mac(1))
	cases := []struct {
		name string
		m    msg
		want uint8
	}{
		{"no requested address", msg{typ: pkt.DHCPRequest, mac: mac(2)}, pkt.DHCPNak},
		{"held by another client", msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: a}, pkt.DHCPNak},
		{"another subnet", msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: netip.MustParseAddr("172.16.0.5")}, pkt.DHCPNak},
		{"in the prefix, outside the range", msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: netip.MustParseAddr("10.9.0.30")}, pkt.DHCPNak},
		{"the gateway", msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: gw.Addr()}, pkt.DHCPNak},
		{"its own address", msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: a}, pkt.DHCPAck},
		{"a free one", msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: ip12}, pkt.DHCPAck},
	}
	for _, tc := range cases {
		typ, yi, rep := reply(t, s, tc.m)
		if typ != tc.want {
			t.Fatalf("%s: type %d, want %d", tc.name, typ, tc.want)
		}
		if typ == pkt.DHCPAck && (yi != tc.m.reqIP || rep.Broadcast || rep.DstIP != tc.m.reqIP || rep.DstMAC != tc.m.mac) {
			t.Fatalf("%s: ack %v %+v", tc.name, yi, rep)
		}
		if typ == pkt.DHCPNak && (yi != netip.IPv4Unspecified() || !rep.Broadcast || string(option(rep, pkt.OptMessage)) != "address not available") {
			t.Fatalf("%s: nak %v %+v", tc.name, yi, rep)
		}
	}
	// Moving to another free address gives up the old one.
	c.t = c.t.Add(time.Minute)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: ip11}); typ != pkt.DHCPAck {
		t.Fatal("move not acked")
	}
	if got := keys(s.Leases()); len(got) != 2 || got[1].ip != ip11 || got[1].mac != mac(2).String() || got[1].expiry != c.t.Add(time.Hour).UnixNano() {
		t.Fatalf("leases %+v", got)
	}
	// An expired lease of another client may be taken; a released one too.
	c.t = c.t.Add(2 * time.Hour)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(3), reqIP: a}); typ != pkt.DHCPAck {
		t.Fatal("expired address not given")
	}
	reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: ip11})
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(2), ciaddr: ip11})
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(4), reqIP: ip11}); typ != pkt.DHCPAck {
		t.Fatal("released address not given")
	}
	// An unexpired bound lease is not: still NAK.
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(5), reqIP: a}); typ != pkt.DHCPNak {
		t.Fatal("bound address given away")
	}
}

func TestRenewingRebinding(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	a := bind(t, s, mac(1))
	c.t = c.t.Add(30 * time.Minute)
	// RENEWING: unicast, ciaddr set, no server id needed.
	typ, yi, rep := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: a})
	if typ != pkt.DHCPAck || yi != a || rep.Broadcast || rep.DstIP != a || rep.DstMAC != mac(1) {
		t.Fatalf("renew: %d %v %+v", typ, yi, rep)
	}
	if l, _ := leaseOf(s, mac(1)); !l.Expiry.Equal(c.t.Add(time.Hour)) {
		t.Fatalf("renewed to %v, want %v", l.Expiry, c.t.Add(time.Hour))
	}
	// REBINDING: the same, broadcast.
	typ, yi, rep = reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: a, broadcast: true})
	if typ != pkt.DHCPAck || yi != a || !rep.Broadcast {
		t.Fatalf("rebind: %d %v %+v", typ, yi, rep)
	}
	// Renewing an address the client does not hold, or only was offered,
	// or that is someone else's: NAK.
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: ip12}); typ != pkt.DHCPNak {
		t.Fatalf("renew of another address: %d", typ)
	}
	_, off, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2)})
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), ciaddr: off}); typ != pkt.DHCPNak {
		t.Fatalf("renew of an offer: %d", typ)
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(3), ciaddr: a}); typ != pkt.DHCPNak {
		t.Fatalf("renew of another client's address: %d", typ)
	}
	if l, _ := leaseOf(s, mac(1)); l.IP != a || l.State != "bound" {
		t.Fatalf("lease after foreign renewals: %+v", l)
	}
	if s.Active() != 1 {
		t.Fatalf("active %d", s.Active())
	}
}

// A reservation is the MAC's, whatever client id it comes with, and no
// other MAC's under any client id.
func TestReservationFollowsTheMAC(t *testing.T) {
	web := ip12
	s, _ := newServer(t, Config{Hosts: []Host{{MAC: mac(9), IP: web, Name: "web"}}}, nil)
	id := []byte{0xff, 7}
	typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(9), clientID: id})
	if typ != pkt.DHCPOffer || ip != web {
		t.Fatalf("static offer %d %v", typ, ip)
	}
	typ, _, rep := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(9), clientID: id, reqIP: web, serverID: gw.Addr()})
	if typ != pkt.DHCPAck || string(option(rep, pkt.OptHostname)) != "web" {
		t.Fatalf("static ack %d, name %q", typ, option(rep, pkt.OptHostname))
	}
	// The same client id from another MAC: not the reservation, in any
	// REQUEST flavour.
	for name, m := range map[string]msg{
		"selecting":   {typ: pkt.DHCPRequest, mac: mac(1), clientID: id, reqIP: web, serverID: gw.Addr()},
		"init-reboot": {typ: pkt.DHCPRequest, mac: mac(1), clientID: id, reqIP: web},
		"renewing":    {typ: pkt.DHCPRequest, mac: mac(1), clientID: id, ciaddr: web},
	} {
		if typ, _, _ := reply(t, s, m); typ != pkt.DHCPNak {
			t.Fatalf("%s: reserved address to another MAC: %d", name, typ)
		}
	}
	// The host under a new client id gets it, and the old id's lease goes.
	typ, ip, _ = reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(9)})
	if typ != pkt.DHCPOffer || ip != web || len(s.byClient) != 1 {
		t.Fatalf("new client id: %d %v, %d clients", typ, ip, len(s.byClient))
	}
	// A static host asking for another address: NAK.
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(9), reqIP: ip10}); typ != pkt.DHCPNak {
		t.Fatalf("static host took %v: %d", ip10, typ)
	}
}

// Reservations on the gateway, network or broadcast address, and range
// ends on them, are never handed out.
func TestNeverNetworkOrBroadcast(t *testing.T) {
	p := netip.MustParsePrefix("10.9.0.1/30") // .0 network, .1 gateway, .2 guest, .3 broadcast
	s, _ := newServer(t, Config{Network: "n", Gateway: p, RangeStart: netip.MustParseAddr("10.9.0.0"), RangeEnd: netip.MustParseAddr("10.9.0.3"),
		Hosts: []Host{{MAC: mac(8), IP: netip.MustParseAddr("10.9.0.3")}, {MAC: mac(9), IP: netip.MustParseAddr("10.9.0.1")}}}, nil)
	if ip := bind(t, s, mac(1)); ip != netip.MustParseAddr("10.9.0.2") {
		t.Fatalf("got %v", ip)
	}
	for _, m := range []pkt.MAC{mac(2), mac(8), mac(9)} {
		if typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: m}); typ != 0 {
			t.Fatalf("%v offered %v", m, ip)
		}
	}
	for _, a := range []string{"10.9.0.0", "10.9.0.3"} {
		if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: netip.MustParseAddr(a)}); typ != pkt.DHCPNak {
			t.Fatalf("init-reboot for %s: %d", a, typ)
		}
	}
	// A /31 has no network or broadcast address (RFC 3021).
	p31 := netip.MustParsePrefix("10.9.0.0/31")
	s31, _ := newServer(t, Config{Network: "n", Gateway: p31, RangeStart: netip.MustParseAddr("10.9.0.0"), RangeEnd: netip.MustParseAddr("10.9.0.1")}, nil)
	if typ, ip, _ := reply(t, s31, msg{typ: pkt.DHCPDiscover, mac: mac(1)}); typ != pkt.DHCPOffer || ip != netip.MustParseAddr("10.9.0.1") {
		t.Fatalf("/31: %d %v", typ, ip)
	}
}

func TestDeclineQuarantine(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	a := bind(t, s, mac(1)) // .10
	bind(t, s, mac(2))      // .11
	// A DECLINE to another server, without an address, or of an address
	// the client does not hold changes nothing.
	reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(1), reqIP: a, serverID: netip.MustParseAddr("10.9.0.99")})
	reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(1), serverID: gw.Addr()})
	if l, ok := leaseOf(s, mac(1)); !ok || l.IP != a || len(s.declined) != 0 {
		t.Fatalf("ignored declines changed state: %+v %v", l, s.declined)
	}
	reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(1), reqIP: ip12, serverID: gw.Addr()})
	if l, ok := leaseOf(s, mac(1)); !ok || l.IP != a {
		t.Fatalf("declining another address dropped the lease: %+v %v", l, ok)
	}
	delete(s.declined, ip12)
	// The real thing: the lease goes, the address is out for 10 minutes.
	t0 := c.t
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(1), reqIP: a, serverID: gw.Addr()}); typ != 0 {
		t.Fatal("decline answered")
	}
	if _, ok := leaseOf(s, mac(1)); ok {
		t.Fatal("declined lease kept")
	}
	if got := bind(t, s, mac(1)); got != ip12 {
		t.Fatalf("after decline got %v, want %v", got, ip12)
	}
	c.t = t0.Add(10*time.Minute - time.Nanosecond) // the constant written out: a test of its value
	if typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(3)}); typ != 0 {
		t.Fatalf("quarantined address offered just before the end of the quarantine: %v", ip)
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(3), reqIP: a}); typ != pkt.DHCPNak {
		t.Fatalf("quarantined address acked: %d", typ)
	}
	c.t = t0.Add(10 * time.Minute)
	if typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(3)}); typ != pkt.DHCPOffer || ip != a {
		t.Fatalf("at the end of the quarantine: %d %v", typ, ip)
	}
	c.t = t0.Add(10*time.Minute + time.Nanosecond)
	reply(t, s, msg{typ: pkt.DHCPInform, mac: mac(3)})
	if len(s.declined) != 0 {
		t.Fatalf("ended quarantine remembered: %v", s.declined)
	}
}

func TestRelease(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	a := bind(t, s, mac(1))
	// Wrong ciaddr, or another client: nothing.
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: ip12})
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(2), ciaddr: a})
	if l, _ := leaseOf(s, mac(1)); l.State != "bound" || s.Active() != 1 {
		t.Fatalf("foreign release: %+v", l)
	}
	c.t = c.t.Add(time.Minute)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: a}); typ != 0 {
		t.Fatal("release answered")
	}
	if l, _ := leaseOf(s, mac(1)); l.State != "released" || !l.Expiry.Equal(c.t) || l.IP != a || s.Active() != 0 {
		t.Fatalf("released: %+v, active %d", l, s.Active())
	}
	// An offer cannot be released.
	_, off, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2)})
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(2), ciaddr: off})
	if !s.byClient["mac:"+mac(2).String()].offered {
		t.Fatal("offer released")
	}
	// The released address goes to a new client only when nothing unused
	// is left; its owner gets it back before that.
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(3)}); ip != ip12 {
		t.Fatalf("new client offered %v", ip)
	}
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)}); ip != a {
		t.Fatalf("pool full: offered %v, want the released %v", ip, a)
	}
}

func TestInform(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	ci := netip.MustParseAddr("10.9.0.200") // configured by hand, outside the range
	typ, yi, rep := reply(t, s, msg{typ: pkt.DHCPInform, mac: mac(5), ciaddr: ci, params: []byte{6, 15, 51}})
	if typ != pkt.DHCPAck || yi != netip.IPv4Unspecified() || rep.Broadcast || rep.DstIP != ci || rep.DstMAC != mac(5) {
		t.Fatalf("inform: %d %v %+v", typ, yi, rep)
	}
	if got := optionCodes(rep); !slices.Equal(got, []uint8{53, 54, 6, 15}) {
		t.Fatalf("inform options %v", got)
	}
	if len(s.byClient) != 0 || s.Messages()["ack"] != 1 || s.Messages()["inform"] != 1 {
		t.Fatalf("inform left %d clients, messages %v", len(s.byClient), s.Messages())
	}
}

func TestClientIDs(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	// One MAC, two client ids (two OSes in one VM): two addresses.
	a := bindAs(t, s, mac(1), []byte{1})
	b := bindAs(t, s, mac(1), []byte{2})
	if a != ip10 || b != ip11 {
		t.Fatalf("%v %v", a, b)
	}
	// An empty client id counts as none; a later one does not undo an
	// earlier one.
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2), clientID: []byte{}}); ip != ip12 {
		t.Fatalf("empty client id: %v", ip)
	}
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2), extra: []byte{61, 1, 2, 61, 0}}); ip != b {
		t.Fatalf("client id then empty: %v, want %v", ip, b)
	}
	if got := keys(s.Leases()); got[0].clientID != "01" || got[1].clientID != "02" {
		t.Fatalf("%+v", got)
	}
}

func bindAs(t *testing.T, s *Server, m pkt.MAC, id []byte) netip.Addr {
	t.Helper()
	_, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: m, clientID: id})
	if typ, got, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: m, clientID: id, reqIP: ip, serverID: gw.Addr()}); typ != pkt.DHCPAck || got != ip {
		t.Fatalf("bind %v/%x: %d %v", m, id, typ, got)
	}
	return ip
}

func TestSticky(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	t0 := c.t
	a := bind(t, s, mac(1)) // .10, expires t0+1h
	c.t = t0.Add(10 * time.Minute)
	b := bind(t, s, mac(2)) // .11, t0+70m
	c.t = t0.Add(20 * time.Minute)
	bind(t, s, mac(3)) // .12, t0+80m
	// A bound client rediscovering keeps its address and its lease.
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2)}); ip != b {
		t.Fatalf("rediscover: %v", ip)
	}
	c.t = t0.Add(20*time.Minute + 2*OfferHold)
	if l, ok := leaseOf(s, mac(2)); !ok || l.State != "bound" || !l.Expiry.Equal(t0.Add(70*time.Minute)) {
		t.Fatalf("rediscovering turned the lease into an offer: %+v %v", l, ok)
	}
	// Expired: a newcomer takes the one that expired first; the others'
	// owners get theirs back, even asking for another address.
	c.t = t0.Add(3 * time.Hour)
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)}); ip != a {
		t.Fatalf("newcomer offered %v, want the oldest %v", ip, a)
	}
	if _, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2), reqIP: ip12}); ip != b {
		t.Fatalf("expired client offered %v, want its %v", ip, b)
	}
	// A new client asking for a free address gets it.
	s2, _ := newServer(t, Config{}, nil)
	if _, ip, _ := reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(1), reqIP: ip12}); ip != ip12 {
		t.Fatalf("requested address not offered: %v", ip)
	}
	if _, ip, _ := reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(2), reqIP: netip.MustParseAddr("10.9.0.40")}); ip != ip10 {
		t.Fatalf("out of range request: offered %v", ip)
	}
}

func TestOffersLapseAfterAMinute(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	t0 := c.t
	for i := byte(1); i <= 3; i++ {
		reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(i)})
	}
	c.t = t0.Add(60 * time.Second) // the constant written out: a test of its value
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)}); typ != 0 {
		t.Fatal("offers lapsed before 60 s")
	}
	// Within the hold the offer can be taken.
	if typ, _, _ := reply(t, s, selecting(mac(1), ip10)); typ != pkt.DHCPAck {
		t.Fatalf("offer taken at 60 s: %d", typ)
	}
	c.t = t0.Add(60*time.Second + time.Nanosecond)
	if typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)}); typ != pkt.DHCPOffer || ip != ip11 {
		t.Fatalf("after 60 s: %d %v", typ, ip)
	}
	if typ, _, _ := reply(t, s, selecting(mac(3), ip12)); typ != pkt.DHCPNak {
		t.Fatal("lapsed offer acked")
	}
	if n := len(s.byClient); n != 2 {
		t.Fatalf("%d clients remembered, want 2", n)
	}
}

// Option 12 from a client is kept only if it is a plain DNS label.
func TestHostnameSanitised(t *testing.T) {
	cases := []struct {
		name string
		sent []byte
		want string
	}{
		{"label", []byte("vm-01"), "vm-01"},
		{"upper case and digits", []byte("Web7"), "Web7"},
		{"63 bytes", bytes.Repeat([]byte("a"), 63), strings.Repeat("a", 63)},
		{"64 bytes", bytes.Repeat([]byte("a"), 64), ""},
		{"dots", []byte("a.example"), ""},
		{"NUL", []byte("vm\x00"), ""},
		{"newline", []byte("vm\nevil 10.9.0.1"), ""},
		{"escape", []byte("\x1b[2Jvm"), ""},
		{"DEL", []byte("vm\x7f"), ""},
		{"space", []byte("vm 1"), ""},
		{"slash", []byte("../vm"), ""},
		{"underscore", []byte("vm_1"), ""},
		{"non-ASCII", []byte("caf\xc3\xa9"), ""},
		{"high byte", []byte{'v', 0xff}, ""},
		{"empty", []byte{}, ""},
		{"bounds", []byte("az09AZ-"), "az09AZ-"},
		{"just outside", []byte("`"), ""},
		{"just outside 2", []byte("{"), ""},
		{"just outside 3", []byte("@"), ""},
		{"just outside 4", []byte("["), ""},
		{"just outside 5", []byte("/"), ""},
		{"just outside 6", []byte(":"), ""},
	}
	for i, tc := range cases {
		s, _ := newServer(t, Config{}, nil)
		m := mac(byte(i))
		_, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: m})
		reply(t, s, msg{typ: pkt.DHCPRequest, mac: m, reqIP: ip, serverID: gw.Addr(), hostname: tc.sent})
		if l, _ := leaseOf(s, m); l.Hostname != tc.want {
			t.Errorf("%s: kept %q, want %q", tc.name, l.Hostname, tc.want)
		}
	}
	// A later bad name does not erase a good one; a later good one wins.
	s, _ := newServer(t, Config{}, nil)
	_, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1)})
	for _, h := range []struct{ sent, want string }{{"vm1", "vm1"}, {"a.b", "vm1"}, {"", "vm1"}, {"vm2", "vm2"}} {
		reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: ip, serverID: gw.Addr(), hostname: []byte(h.sent)})
		if l, _ := leaseOf(s, mac(1)); l.Hostname != h.want {
			t.Fatalf("after %q: %q, want %q", h.sent, l.Hostname, h.want)
		}
	}
	// A client's own name is stored, never sent back as option 12.
	if _, _, rep := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: ip, serverID: gw.Addr()}); option(rep, pkt.OptHostname) != nil {
		t.Fatal("client's own name sent back")
	}
}

func TestOptionsByParameterList(t *testing.T) {
	full := Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/20"), RangeStart: ip10, RangeEnd: ip12, Lease: 2 * time.Hour,
		DNS: []netip.Addr{gw.Addr(), netip.MustParseAddr("192.0.2.53")}, Domain: "lab", Router: true, MTU: 1400,
		Hosts: []Host{{MAC: mac(9), IP: netip.MustParseAddr("10.9.0.50"), Name: "web"}}}
	bare := Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/24"), RangeStart: ip10, RangeEnd: ip12}
	cases := []struct {
		name   string
		cfg    Config
		m      msg
		codes  []uint8
		values map[uint8][]byte
	}{
		{name: "no list: everything configured", cfg: full, m: msg{typ: pkt.DHCPDiscover, mac: mac(1)},
			codes: []uint8{53, 54, 51, 58, 59, 1, 3, 6, 15, 26, 28},
			values: map[uint8][]byte{
				51: {0, 0, 0x1c, 0x20}, 58: {0, 0, 0x0e, 0x10}, 59: {0, 0, 0x18, 0x9c},
				1: {255, 255, 240, 0}, 3: {10, 9, 0, 1}, 6: {10, 9, 0, 1, 192, 0, 2, 53}, 15: []byte("lab"),
				26: {0x05, 0x78}, 28: {10, 9, 15, 255}, 54: {10, 9, 0, 1}, 53: {pkt.DHCPOffer}}},
		{name: "list in any order", cfg: full, m: msg{typ: pkt.DHCPDiscover, mac: mac(1), params: []byte{28, 3, 99, 1}},
			codes: []uint8{53, 54, 51, 58, 59, 1, 3, 28}},
		{name: "empty list", cfg: full, m: msg{typ: pkt.DHCPDiscover, mac: mac(1), params: []byte{}},
			codes: []uint8{53, 54, 51, 58, 59}},
		{name: "static host name on its ack", cfg: full, m: msg{typ: pkt.DHCPRequest, mac: mac(9), reqIP: netip.MustParseAddr("10.9.0.50"), params: []byte{12}},
			codes: []uint8{53, 54, 51, 58, 59, 12}, values: map[uint8][]byte{12: []byte("web")}},
		{name: "isolated network: no router even if asked", cfg: bare, m: msg{typ: pkt.DHCPDiscover, mac: mac(1), params: []byte{1, 3, 6, 15, 26, 28}},
			codes:  []uint8{53, 54, 51, 58, 59, 1, 28},
			values: map[uint8][]byte{51: {0, 0, 0x0e, 0x10}, 1: {255, 255, 255, 0}, 28: {10, 9, 0, 255}}},
		{name: "bare: nothing unconfigured", cfg: bare, m: msg{typ: pkt.DHCPDiscover, mac: mac(1)},
			codes: []uint8{53, 54, 51, 58, 59, 1, 28}},
	}
	for _, tc := range cases {
		s, _ := newServer(t, tc.cfg, nil)
		buf := make([]byte, 1500)
		rep, ok := s.Handle(tc.m.bytes(), buf)
		if !ok {
			t.Fatalf("%s: no reply", tc.name)
		}
		if got := optionCodes(rep); !slices.Equal(got, tc.codes) {
			t.Errorf("%s: options %v, want %v", tc.name, got, tc.codes)
		}
		for code, v := range tc.values {
			if got := option(rep, code); !bytes.Equal(got, v) {
				t.Errorf("%s: option %d = % x, want % x", tc.name, code, got, v)
			}
		}
		end := pkt.DHCPOptionsOff + 1
		for _, code := range optionCodes(rep) {
			end += 2 + len(option(rep, code))
		}
		if len(rep.Msg) != max(300, end) {
			t.Errorf("%s: %d bytes, want %d (padded to the 300-byte BOOTP minimum)", tc.name, len(rep.Msg), max(300, end))
		}
	}
}

// A reply never exceeds what the client takes: options that do not fit
// are left out.
func TestReplyFitsTheClient(t *testing.T) {
	var dns []netip.Addr
	for i := range 16 {
		dns = append(dns, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	cfg := Config{Network: "n", Gateway: gw, RangeStart: ip10, RangeEnd: ip12, DNS: dns, Domain: strings.Repeat("d", 250), Router: true, MTU: 1500}
	s, _ := newServer(t, cfg, nil)
	short := []uint8{53, 54, 51, 58, 59, 1, 3, 6, 26, 28} // 356 bytes: the domain (252) does not fit
	cases := []struct {
		maxSize uint16
		codes   []uint8
	}{
		{0, short},   // no option 57: a 576-byte datagram
		{575, short}, // below the legal minimum: the same
		{625, short},
		{626, []uint8{53, 54, 51, 58, 59, 1, 3, 6, 15}}, // the domain fits exactly; nothing after it does
		{1500, []uint8{53, 54, 51, 58, 59, 1, 3, 6, 15, 26, 28}},
	}
	for _, tc := range cases {
		buf := make([]byte, 1500)
		rep, ok := s.Handle(msg{typ: pkt.DHCPDiscover, mac: mac(1), maxSize: tc.maxSize}.bytes(), buf)
		if !ok {
			t.Fatal("no reply")
		}
		if got := optionCodes(rep); !slices.Equal(got, tc.codes) {
			t.Errorf("max %d: options %v, want %v", tc.maxSize, got, tc.codes)
		}
		if limit := max(576, int(tc.maxSize)) - 28; len(rep.Msg) > limit {
			t.Errorf("max %d: %d bytes", tc.maxSize, len(rep.Msg))
		}
	}
}

func TestCountersAndDefaults(t *testing.T) {
	s := NewServer(Config{Network: "n", Gateway: gw, RangeStart: ip10, RangeEnd: ip12}, nil)
	_, _, rep := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1)})
	if got := option(rep, pkt.OptLeaseTime); !bytes.Equal(got, []byte{0, 0, 0x0e, 0x10}) {
		t.Fatalf("default lease % x, want an hour", got)
	}
	reply(t, s, selecting(mac(1), ip10))
	reply(t, s, selecting(mac(2), ip11)) // NAK
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(3)})
	reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(3)})
	want := map[string]uint64{"discover": 1, "offer": 1, "request": 2, "ack": 1, "nak": 1, "release": 1, "decline": 1, "inform": 0}
	if got := s.Messages(); len(got) != len(want) {
		t.Fatalf("messages %v", got)
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("messages %v, want %v", got, want)
			}
		}
	}
	if s.Active() != 1 {
		t.Fatalf("active %d", s.Active())
	}
}
