package dhcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The rules that keep one guest from draining the pool (issue 13).

// wideServer serves 10.9.0.10-10.9.0.60: more addresses than one MAC may
// hold, so the limits, not the pool, decide.
func wideServer(t *testing.T, perMAC int) (*Server, *clock) {
	t.Helper()
	return newServer(t, Config{Network: "n", Gateway: gw, RangeStart: ip10, RangeEnd: netip.MustParseAddr("10.9.0.60"),
		Lease: time.Hour, MaxLeasesPerMAC: perMAC, Hosts: []Host{{MAC: mac(0xf0), IP: netip.MustParseAddr("10.9.0.20")}}}, nil)
}

func cid(i int) []byte { return []byte{0xff, byte(i >> 8), byte(i)} }

// wantDrops fails unless the drop counters are exactly want (others 0).
func wantDrops(t *testing.T, s *Server, want map[DropReason]uint64) {
	t.Helper()
	var w [NumDrops]uint64
	for r, n := range want {
		w[r] = n
	}
	if got := s.Drops(); got != w {
		t.Fatalf("drops %v, want %v", got, w)
	}
}

func TestRateLimitPerMAC(t *testing.T) {
	s, c := wideServer(t, 0)
	inform := func(m pkt.MAC) uint8 {
		typ, _, _ := reply(t, s, msg{typ: pkt.DHCPInform, mac: m, ciaddr: netip.MustParseAddr("10.9.0.200")})
		return typ
	}
	for i := range 20 {
		if inform(mac(1)) != pkt.DHCPAck {
			t.Fatalf("message %d of the burst not answered", i+1)
		}
	}
	if inform(mac(1)) != 0 {
		t.Fatal("21st message in the same instant answered")
	}
	wantDrops(t, s, map[DropReason]uint64{DropRateLimited: 1})
	// Another MAC has its own bucket; a rate-limited message is not
	// counted as received.
	if inform(mac(2)) != pkt.DHCPAck || s.Messages()["inform"] != 21 {
		t.Fatalf("other MAC, or messages %v", s.Messages())
	}
	// One more every 100 ms.
	c.t = c.t.Add(99 * time.Millisecond)
	if inform(mac(1)) != 0 {
		t.Fatal("answered before 100 ms")
	}
	c.t = c.t.Add(time.Millisecond)
	if inform(mac(1)) != pkt.DHCPAck || inform(mac(1)) != 0 {
		t.Fatal("not one message at 100 ms")
	}
	wantDrops(t, s, map[DropReason]uint64{DropRateLimited: 3})
	// Garbage from a flooding MAC is limited too, before it is parsed.
	bad := msg{typ: 0, mac: mac(1)}.bytes()
	s.Handle(bad, make([]byte, 1500))
	wantDrops(t, s, map[DropReason]uint64{DropRateLimited: 4})
	// Two seconds idle refill the burst, no more.
	c.t = c.t.Add(2 * time.Second)
	for range 20 {
		if inform(mac(1)) != pkt.DHCPAck {
			t.Fatal("burst not refilled")
		}
	}
	if inform(mac(1)) != 0 {
		t.Fatal("bucket held more than the burst")
	}
}

// A guest cannot refresh its own bucket by sending from many other MACs:
// the table evicts the bucket with the most credit, and an empty one has
// the least.
func TestRateLimiterTableBounded(t *testing.T) {
	l := newRateLimiter()
	now := int64(1e18)
	m := mac(1)
	for range rateBurst {
		if !l.allow(m, now) {
			t.Fatal("burst refused")
		}
	}
	for i := range 100_000 {
		l.allow(pkt.MACFromUint64(0x020000000000+uint64(i)), now)
	}
	if l.allow(m, now) {
		t.Fatal("a flood of other MACs refilled an empty bucket")
	}
	// A MAC pushed out by a flood comes back with a full bucket.
	if !l.allow(pkt.MACFromUint64(0x020000000000), now) {
		t.Fatal("evicted MAC refused")
	}
}

func TestMaxLeasesPerMAC(t *testing.T) {
	s, c := wideServer(t, 0)
	// INIT-REBOOT with a fresh client id each: the default four bind.
	var got []netip.Addr
	for i := range 4 {
		ip := netip.AddrFrom4([4]byte{10, 9, 0, byte(30 + i)})
		if typ, yi, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), clientID: cid(i), reqIP: ip}); typ != pkt.DHCPAck || yi != ip {
			t.Fatalf("reboot %d: %d %v", i, typ, yi)
		}
		got = append(got, ip)
	}
	before := s.Leases()
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), clientID: cid(4), reqIP: netip.MustParseAddr("10.9.0.40")}); typ != 0 {
		t.Fatalf("fifth lease: %d", typ)
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(5)}); typ != 0 {
		t.Fatalf("fifth offer: %d", typ)
	}
	wantDrops(t, s, map[DropReason]uint64{DropMACLeaseLimit: 2})
	if len(s.Leases()) != len(before) || len(s.byClient) != 4 {
		t.Fatalf("dropped messages changed the leases: %v", s.Leases())
	}
	// What the MAC holds it keeps: renewing and rediscovering work.
	if typ, yi, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), clientID: cid(2), ciaddr: got[2]}); typ != pkt.DHCPAck || yi != got[2] {
		t.Fatalf("renewal at the limit: %d %v", typ, yi)
	}
	if typ, yi, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(3)}); typ != pkt.DHCPOffer || yi != got[3] {
		t.Fatalf("rediscover at the limit: %d %v", typ, yi)
	}
	// Another MAC is not affected.
	if ip := bind(t, s, mac(2)); ip != ip10 {
		t.Fatalf("honest client: %v", ip)
	}
	// A RELEASE makes room for one more.
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(1), clientID: cid(0), ciaddr: got[0]})
	if ip := bindAs(t, s, mac(1), cid(6)); ip != ip11 {
		t.Fatalf("after release: %v", ip)
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(7)}); typ != 0 {
		t.Fatal("over the limit after release")
	}
	wantDrops(t, s, map[DropReason]uint64{DropMACLeaseLimit: 3})
	// Offers count while they are held: after a minute they lapse.
	s2, c2 := wideServer(t, 2)
	reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(0)})
	reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(1)})
	if typ, _, _ := reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(2)}); typ != 0 {
		t.Fatal("third offer with a limit of 2")
	}
	c2.t = c2.t.Add(OfferHold + time.Second)
	if typ, _, _ := reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(2)}); typ != pkt.DHCPOffer {
		t.Fatal("lapsed offers still counted")
	}
	// Expired leases do not count.
	c.t = c.t.Add(2 * time.Hour)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(8)}); typ != pkt.DHCPOffer {
		t.Fatal("expired leases still counted")
	}
}

func TestReleaseOnlyByHolder(t *testing.T) {
	s, _ := wideServer(t, 0)
	id := []byte{1, 0x52, 0x54, 0, 0, 0, 1} // udhcpc's client id: 01 and the MAC
	victim := bindAs(t, s, mac(1), id)
	// The attacker names the victim's client id and address from its own
	// MAC (the gateway makes chaddr the frame's source).
	for _, m := range []msg{
		{typ: pkt.DHCPRelease, mac: mac(2), clientID: id, ciaddr: victim},
		{typ: pkt.DHCPRelease, mac: mac(2), ciaddr: victim},
		{typ: pkt.DHCPRelease, mac: mac(1), clientID: id, ciaddr: ip11}, // the holder, another address
	} {
		reply(t, s, m)
	}
	wantDrops(t, s, map[DropReason]uint64{DropNotHolder: 3})
	if l, ok := leaseOf(s, mac(1)); !ok || l.State != "bound" || l.IP != victim || s.Active() != 1 {
		t.Fatalf("victim's lease: %+v %v", l, ok)
	}
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(1), clientID: id, ciaddr: victim})
	if l, _ := leaseOf(s, mac(1)); l.State != "released" || s.Active() != 0 {
		t.Fatalf("holder's release: %+v", l)
	}
	wantDrops(t, s, map[DropReason]uint64{DropNotHolder: 3})
}

func TestDeclineOnlyByHolderInRange(t *testing.T) {
	s, c := wideServer(t, 0)
	a := bind(t, s, mac(1))
	static := netip.MustParseAddr("10.9.0.20")
	for _, m := range []msg{
		{typ: pkt.DHCPDecline, mac: mac(1), reqIP: netip.MustParseAddr("10.9.0.200"), serverID: gw.Addr()}, // outside the range
		{typ: pkt.DHCPDecline, mac: mac(1), reqIP: static, serverID: gw.Addr()},                            // a static host's
		{typ: pkt.DHCPDecline, mac: mac(1), reqIP: ip11, serverID: gw.Addr()},                              // free, not held
		{typ: pkt.DHCPDecline, mac: mac(2), reqIP: a, serverID: gw.Addr()},                                 // another MAC's
		{typ: pkt.DHCPDecline, mac: mac(2), clientID: []byte{9}, reqIP: a, serverID: gw.Addr()},
		{typ: pkt.DHCPDecline, mac: mac(1), serverID: gw.Addr()},                                  // no address
		{typ: pkt.DHCPDecline, mac: mac(1), reqIP: a, serverID: netip.MustParseAddr("10.9.0.99")}, // another server's
	} {
		reply(t, s, m)
	}
	wantDrops(t, s, map[DropReason]uint64{DropDeclineRange: 2, DropNotHolder: 4, DropNotOurs: 1})
	if l, ok := leaseOf(s, mac(1)); !ok || l.IP != a || len(s.declined) != 0 {
		t.Fatalf("ignored declines changed state: %+v %v", l, s.declined)
	}
	// Declines count against the MAC until their quarantine ends: bind
	// and decline, again and again, ties up four addresses, no more.
	for i := range 4 {
		ip := bind(t, s, mac(1))
		if i == 0 && ip != a {
			t.Fatalf("rebind: %v", ip)
		}
		reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(1), reqIP: ip, serverID: gw.Addr()})
		if len(s.declined) != i+1 {
			t.Fatalf("decline %d: %d quarantined", i, len(s.declined))
		}
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1)}); typ != 0 {
		t.Fatal("offer with four addresses quarantined by the MAC")
	}
	wantDrops(t, s, map[DropReason]uint64{DropDeclineRange: 2, DropNotHolder: 4, DropNotOurs: 1, DropMACLeaseLimit: 1})
	if ip := bind(t, s, mac(2)); !ip.IsValid() {
		t.Fatal("honest client")
	}
	c.t = c.t.Add(Quarantine + time.Second)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1)}); typ != pkt.DHCPOffer {
		t.Fatal("ended quarantines still counted")
	}
}

func TestQuarantineBounded(t *testing.T) {
	s, c := newServer(t, Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/16"), RangeStart: netip.MustParseAddr("10.9.1.0"),
		RangeEnd: netip.MustParseAddr("10.9.2.255"), Lease: time.Hour}, nil)
	t0 := c.t
	var first netip.Addr
	for i := range maxDeclined + 10 {
		c.t = t0.Add(time.Duration(i) * time.Second)
		m := pkt.MACFromUint64(0x525400000000 + uint64(i))
		ip := netip.AddrFrom4([4]byte{10, 9, 1 + byte(i>>8), byte(i)})
		if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: m, reqIP: ip}); typ != pkt.DHCPAck {
			t.Fatalf("%d: %d", i, typ)
		}
		reply(t, s, msg{typ: pkt.DHCPDecline, mac: m, reqIP: ip, serverID: s.cfg.Gateway.Addr()})
		if i == 0 {
			first = ip
		}
	}
	if len(s.declined) != maxDeclined || s.quarantined(first, c.t) {
		t.Fatalf("%d quarantined, first still %v", len(s.declined), s.quarantined(first, c.t))
	}
	if last := netip.MustParseAddr("10.9.2.9"); !s.quarantined(last, c.t) {
		t.Fatal("the newest quarantine evicted")
	}
	wantDrops(t, s, nil)
}

// The holder survives a restart: a lease read back from the store still
// belongs to its MAC, for RELEASE and for the per-MAC limit.
func TestHolderAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	must(t, err)
	s, _ := wideServer(t, 2)
	s.store = st
	a := bindAs(t, s, mac(1), cid(1))
	bindAs(t, s, mac(1), cid(2))
	st2 := reopen(t, dir)
	s2, _ := newServer(t, s.cfg, st2)
	if typ, _, _ := reply(t, s2, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: cid(3)}); typ != 0 {
		t.Fatal("third lease after the restart with a limit of 2")
	}
	reply(t, s2, msg{typ: pkt.DHCPRelease, mac: mac(2), clientID: cid(1), ciaddr: a})
	wantDrops(t, s2, map[DropReason]uint64{DropMACLeaseLimit: 1, DropNotHolder: 1})
	reply(t, s2, msg{typ: pkt.DHCPRelease, mac: mac(1), clientID: cid(1), ciaddr: a})
	if l, ok := leaseOf(s2, mac(1)); !ok || s2.Active() != 1 || s2.Drops()[DropNotHolder] != 1 {
		t.Fatalf("holder's release after the restart: %+v, active %d, drops %v", l, s2.Active(), s2.Drops())
	}
}
