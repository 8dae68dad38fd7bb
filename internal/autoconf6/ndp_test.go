package autoconf6

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestStart: the link-local address is probed from ::, taken a second
// later, and then routers are solicited from it three times, 4 s apart,
// and never again.
func TestStart(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.at(0)
	p := h.one()
	if p.icmpType != pkt.ICMPv6NeighSolicit || p.src != netip.IPv6Unspecified() || p.target != myLL ||
		p.dst != netip.MustParseAddr("ff02::1:ff12:3456") || p.hop != 255 || p.slla != (pkt.MAC{}) {
		t.Fatalf("probe %+v", p)
	}
	if s := h.c.State(); s.LinkLocal.IsValid() {
		t.Fatalf("tentative link-local published: %v", s.LinkLocal)
	}
	h.at(999 * time.Millisecond)
	if o := h.take(); len(o) != 0 || h.c.State().LinkLocal.IsValid() {
		t.Fatalf("before the probe's second: %d frames, %v", len(o), h.c.State().LinkLocal)
	}
	var rs []time.Duration
	for d := time.Second; d <= 60*time.Second; d += 500 * time.Millisecond {
		h.at(d)
		for _, f := range h.take() {
			s := decode(t, f)
			if s.icmpType != pkt.ICMPv6RouterSolicit || s.src != myLL || s.dst != pkt.IPv6AllRouters || s.slla != myMAC || s.hop != 255 {
				t.Fatalf("at %v: %+v", d, s)
			}
			rs = append(rs, d)
		}
	}
	if want := []time.Duration{time.Second, 5 * time.Second, 9 * time.Second}; !slices.Equal(rs, want) {
		t.Fatalf("solicitations at %v, want %v", rs, want)
	}
	if h.c.State().LinkLocal != myLL {
		t.Fatal("no link-local address")
	}
}

// TestSLAAC: an ordinary advertisement gives, after DAD, the EUI-64
// address in its /64 with the advertised lifetimes, the router, the MTU
// and the DNS server; and ends the solicitations.
func TestSLAAC(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.now = t0.Add(2 * time.Second)
	if !h.c.Handle(slaacRA()) {
		t.Fatal("RA not taken")
	}
	p := h.one()
	if p.icmpType != pkt.ICMPv6NeighSolicit || p.src != netip.IPv6Unspecified() || p.target != slaacA {
		t.Fatalf("DAD probe %+v", p)
	}
	s := h.c.State()
	if s.Addr.IsValid() {
		t.Fatalf("address published during DAD: %v", s.Addr)
	}
	if s.Router != rtrLL || s.RouterMAC != rtrMAC || !s.RouterUntil.Equal(h.now.Add(1800*time.Second)) || s.MTU != 1400 || fmt.Sprint(s.DNS) != "[2001:db8::53]" {
		t.Fatalf("state %+v", s)
	}
	h.at(3 * time.Second)
	s = h.c.State()
	want := netip.PrefixFrom(slaacA, 64)
	at := t0.Add(2 * time.Second)
	if s.Addr != want || s.Source != SourceSLAAC || !s.OnLink || !s.ValidUntil.Equal(at.Add(3600*time.Second)) || !s.PreferredUntil.Equal(at.Add(1800*time.Second)) {
		t.Fatalf("state %+v", s)
	}
	if got := s.ValidLifetime(t0.Add(3 * time.Second)); got != 3599*time.Second {
		t.Fatalf("valid lifetime %v", got)
	}
	for d := 3 * time.Second; d < 20*time.Second; d += time.Second {
		h.at(d)
	}
	if o := h.take(); len(o) != 0 {
		t.Fatalf("%d frames after the RA, want none (no more RS)", len(o))
	}
	if e := h.c.Events(); e[EventRA] != 1 || e[EventDADConflict] != 0 {
		t.Fatalf("events %v", e)
	}
	if d := h.drops(); len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
}

// TestDADConflict: another node's advertisement or probe of the
// tentative address makes it a duplicate: no address, counted. Our own
// probe coming back is not a conflict.
func TestDADConflict(t *testing.T) {
	for _, c := range []struct {
		name     string
		frame    []byte
		conflict bool
	}{
		{"NA", na(otherMAC, slaacA), true},
		{"probe", dadProbe(otherMAC, slaacA), true},
		{"own probe looped", dadProbe(myMAC, slaacA), false},
		{"NA for another address", na(otherMAC, netip.MustParseAddr("2001:db8:1::7")), false},
		{"NS from unicast", icmp6Frame(otherMAC, pkt.MulticastMAC6(pkt.SolicitedNode(slaacA)), netip.MustParseAddr("fe80::99"), pkt.SolicitedNode(slaacA), 255, dadProbe(otherMAC, slaacA)[icmpOff:]), false},
		{"NA hop limit 64", icmp6Frame(otherMAC, pkt.MulticastMAC6(pkt.IPv6AllNodes), netip.MustParseAddr("fe80::99"), pkt.IPv6AllNodes, 64, na(otherMAC, slaacA)[icmpOff:]), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.ready()
			h.c.Handle(slaacRA())
			h.take()
			if h.c.Handle(c.frame) {
				t.Fatal("a neighbour message is the uplink's too: Handle must report false")
			}
			h.at(2 * time.Second)
			s := h.c.State()
			if c.conflict {
				if s.Addr.IsValid() || h.c.Events()[EventDADConflict] != 1 {
					t.Fatalf("state %v, events %v", s.Addr, h.c.Events())
				}
				// The prefix stays held: the next RA does not probe again.
				h.c.Handle(slaacRA())
				h.at(3 * time.Second)
				if o := h.take(); len(o) != 0 || h.c.State().Addr.IsValid() {
					t.Fatalf("after another RA: %d frames, %v", len(o), h.c.State().Addr)
				}
				return
			}
			if s.Addr != netip.PrefixFrom(slaacA, 64) || h.c.Events()[EventDADConflict] != 0 {
				t.Fatalf("state %v, events %v", s.Addr, h.c.Events())
			}
		})
	}
}

// TestLinkLocalDuplicate: with its link-local address taken, the client
// does no IPv6: no solicitation, advertisements dropped as disabled.
func TestLinkLocalDuplicate(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.at(0)
	h.take()
	h.c.Handle(na(otherMAC, myLL))
	for d := time.Second; d < 20*time.Second; d += time.Second {
		h.at(d)
	}
	if o := h.take(); len(o) != 0 {
		t.Fatalf("%d frames sent with a duplicate link-local address", len(o))
	}
	h.c.Handle(slaacRA())
	h.at(21 * time.Second)
	if s := h.c.State(); s.LinkLocal.IsValid() || s.Router.IsValid() || s.Addr.IsValid() {
		t.Fatalf("state %+v", s)
	}
	if d := h.drops(); fmt.Sprint(d) != "map[disabled:1]" {
		t.Fatalf("drops %v", d)
	}
	if e := h.c.Events(); e[EventDADConflict] != 1 {
		t.Fatalf("events %v", e)
	}
}

// TestRAValidation: each advertisement RFC 4861 6.1.2 rejects is dropped
// with its reason and changes nothing; then a valid one is taken.
func TestRAValidation(t *testing.T) {
	good := slaacRA()
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	msg := raMsg(0, 1800, optPrefix(pfxA, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 3600, 1800))
	for _, c := range []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"hop limit 254", icmp6Frame(rtrMAC, allNodesMAC, rtrLL, pkt.IPv6AllNodes, 254, msg), "bad_hop_limit"},
		{"global source", icmp6Frame(rtrMAC, allNodesMAC, netip.MustParseAddr("2001:db8::1"), pkt.IPv6AllNodes, 255, msg), "not_link_local"},
		{"mapped link-local source", icmp6Frame(rtrMAC, allNodesMAC, netip.MustParseAddr("::ffff:169.254.0.1"), pkt.IPv6AllNodes, 255, msg), "not_link_local"},
		{"unspecified source", icmp6Frame(rtrMAC, allNodesMAC, netip.IPv6Unspecified(), pkt.IPv6AllNodes, 255, msg), "not_link_local"},
		{"bad checksum", mut(func(b []byte) { b[icmpOff+2] ^= 1 }), "bad_checksum"},
		{"code 1", icmp6Frame(rtrMAC, allNodesMAC, rtrLL, pkt.IPv6AllNodes, 255, append([]byte{134, 1}, msg[2:]...)), "bad_ndp"},
		{"short", icmp6Frame(rtrMAC, allNodesMAC, rtrLL, pkt.IPv6AllNodes, 255, msg[:12]), "bad_ndp"},
		{"zero-length option", icmp6Frame(rtrMAC, allNodesMAC, rtrLL, pkt.IPv6AllNodes, 255, append(append([]byte(nil), msg...), 3, 0, 0, 0, 0, 0, 0, 0)), "bad_ndp"},
		{"spoofed SLLA", ra(0, 1800, optSLLA(otherMAC), optPrefix(pfxA, pkt.NDPPrefixAuto, 3600, 1800)), "spoofed_lla"},
		{"to another MAC", icmp6Frame(rtrMAC, otherMAC, rtrLL, pkt.IPv6AllNodes, 255, msg), "not_for_us"},
		{"to another address", icmp6Frame(rtrMAC, allNodesMAC, rtrLL, netip.MustParseAddr("fe80::7"), 255, msg), "not_for_us"},
		{"own frame", icmp6Frame(myMAC, allNodesMAC, rtrLL, pkt.IPv6AllNodes, 255, msg), "own_frame"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.ready()
			if !h.c.Handle(c.frame) {
				t.Fatal("an RA is the client's: Handle must report true")
			}
			h.at(5 * time.Second)
			if d := h.drops(); fmt.Sprint(d) != fmt.Sprintf("map[%s:1]", c.reason) {
				t.Fatalf("drops %v, want %s:1", d, c.reason)
			}
			if s := h.c.State(); s.Router.IsValid() || s.Addr.IsValid() || h.c.Events()[EventRA] != 0 {
				t.Fatalf("state %+v", s)
			}
			// Positive control: the honest router still gets through.
			h.now = t0.Add(5 * time.Second)
			h.c.Handle(good)
			h.at(6 * time.Second)
			if s := h.c.State(); s.Router != rtrLL || s.Addr != netip.PrefixFrom(slaacA, 64) {
				t.Fatalf("after a good RA: %+v", s)
			}
		})
	}
}

// TestRAUnicast: an advertisement to the link-local address (an answer
// to the solicitation) is taken.
func TestRAUnicast(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.c.Handle(icmp6Frame(rtrMAC, myMAC, rtrLL, myLL, 255, raMsg(0, 600)))
	if s := h.c.State(); s.Router != rtrLL || !s.RouterUntil.Equal(h.now.Add(600*time.Second)) || len(h.drops()) != 0 {
		t.Fatalf("state %+v drops %v", s, h.drops())
	}
}

// TestPrefixOptions: what each kind of prefix option gives.
func TestPrefixOptions(t *testing.T) {
	LA := uint8(pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto)
	for _, c := range []struct {
		name   string
		opt    raOpt
		addr   string // the address published after DAD ("" none)
		reason string // the drop counted ("" none)
	}{
		{"L and A /64", optPrefix(pfxA, LA, 3600, 1800), "2001:db8:1:0:5054:ff:fe12:3456/64", ""},
		{"A only", optPrefix(pfxA, pkt.NDPPrefixAuto, 3600, 1800), "2001:db8:1:0:5054:ff:fe12:3456/64", ""},
		{"L only", optPrefix(pfxA, pkt.NDPPrefixOnLink, 3600, 1800), "", ""},
		{"neither", optPrefix(pfxA, 0, 3600, 1800), "", ""},
		{"A /48", optPrefix(netip.MustParsePrefix("2001:db8::/48"), pkt.NDPPrefixAuto, 3600, 1800), "", "bad_prefix"},
		{"L and A /56", optPrefix(netip.MustParsePrefix("2001:db8::/56"), LA, 3600, 1800), "", "bad_prefix"},
		{"link-local", optPrefix(netip.MustParsePrefix("fe80::/64"), LA, 3600, 1800), "", "bad_prefix"},
		{"multicast", optPrefix(netip.MustParsePrefix("ff02::/64"), LA, 3600, 1800), "", "bad_prefix"},
		{"::/64", optPrefix(netip.MustParsePrefix("::/64"), LA, 3600, 1800), "", "bad_prefix"},
		{"preferred over valid", optPrefix(pfxA, LA, 1800, 3600), "", "bad_prefix"},
		{"valid 0", optPrefix(pfxA, LA, 0, 0), "", ""},
		{"bad MTU", optMTU(1279), "", "bad_mtu"},
		{"MTU over the link's", optMTU(1501), "", "bad_mtu"},
		{"RDNSS multicast", optRDNSS(600, netip.MustParseAddr("ff02::1")), "", "bad_ndp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.ready()
			h.c.Handle(ra(0, 1800, c.opt))
			h.at(3 * time.Second)
			s := h.c.State()
			got := ""
			if s.Addr.IsValid() {
				got = s.Addr.String()
			}
			want := ""
			if c.reason != "" {
				want = fmt.Sprintf("map[%s:1]", c.reason)
			} else {
				want = "map[]"
			}
			if got != c.addr || fmt.Sprint(h.drops()) != want || s.MTU != 0 || len(s.DNS) != 0 {
				t.Fatalf("address %q drops %v (want %q, %s) mtu %d dns %v", got, h.drops(), c.addr, want, s.MTU, s.DNS)
			}
		})
	}
}

// TestTwoHourRule: RFC 4862 5.5.3 e: an advertisement cannot cut a
// SLAAC address's valid lifetime below two hours.
func TestTwoHourRule(t *testing.T) {
	LA := uint8(pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto)
	h := newHarness(t)
	h.ready()
	h.c.Handle(ra(0, 1800, optPrefix(pfxA, LA, 3*3600, 3600)))
	h.at(2 * time.Second)
	at := func(d time.Duration) time.Time { return t0.Add(2*time.Second + d) }
	for _, c := range []struct {
		when  time.Duration // after the address came up
		valid uint32
		want  time.Time // the valid deadline after it
	}{
		{0, 600, at(2 * time.Hour)},                                     // cut to two hours, not 10 minutes
		{10 * time.Minute, 60, at(2 * time.Hour)},                       // under two hours left: a shorter one is ignored
		{20 * time.Minute, 0, at(2 * time.Hour)},                        // and so is 0
		{70 * time.Minute, 3600, at(130 * time.Minute)},                 // longer than what is left: taken
		{80 * time.Minute, 3 * 3600, at(80*time.Minute + 3*time.Hour)},  // longer than two hours: taken
		{90 * time.Minute, 7201, at(90*time.Minute + 7201*time.Second)}, // over two hours, shorter than left: taken
		{100 * time.Minute, 0xffffffff, Forever},                        // infinite
	} {
		h.now = at(c.when)
		h.c.Handle(ra(0, 1800, optPrefix(pfxA, LA, c.valid, min(c.valid, 600))))
		if s := h.c.State(); !s.ValidUntil.Equal(c.want) || s.PreferredUntil.After(s.ValidUntil) {
			t.Fatalf("valid %d at %v: until %v, want %v", c.valid, c.when, s.ValidUntil, c.want)
		}
	}
}

// TestExpiry: address, router and DNS server go when their lifetimes
// end, and the address's deprecation is published.
func TestExpiry(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.c.Handle(ra(0, 30, optPrefix(pfxA, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 60, 20), optRDNSS(40, dnsA)))
	h.at(2 * time.Second)
	if s := h.c.State(); !s.Addr.IsValid() || !s.Router.IsValid() || len(s.DNS) != 1 {
		t.Fatalf("state %+v", s)
	}
	h.at(31 * time.Second)
	if s := h.c.State(); s.Router.IsValid() || !s.Addr.IsValid() || len(s.DNS) != 1 {
		t.Fatalf("at 31 s: %+v", s)
	}
	h.at(41 * time.Second)
	if next := h.c.Tick(h.now); !next.Equal(t0.Add(42 * time.Second)) {
		t.Fatalf("Tick with a deprecated address: next %v, want a second on", next)
	}
	if s := h.c.State(); len(s.DNS) != 0 || !s.Addr.IsValid() || !s.PreferredUntil.Before(h.now) {
		t.Fatalf("at 41 s: %+v", s)
	}
	h.at(61 * time.Second)
	if s := h.c.State(); s.Addr.IsValid() {
		t.Fatalf("at 61 s: %+v", s)
	}
	if e := h.c.Events(); e[EventAddrExpired] != 1 || e[EventRouterExpired] != 1 {
		t.Fatalf("events %v", e)
	}
}

// TestRouterLifetimeZero: a router that says lifetime 0 is no default
// router any more; the next one held takes over.
func TestRouterLifetimeZero(t *testing.T) {
	h := newHarness(t)
	h.ready()
	r2, r2MAC := netip.MustParseAddr("fe80::2"), pkt.MAC{2, 0, 0, 0, 0, 2}
	h.c.Handle(ra(0, 1800))
	h.c.Handle(raFrom(r2MAC, r2, 0, 1800))
	if s := h.c.State(); s.Router != rtrLL {
		t.Fatalf("router %v", s.Router)
	}
	h.c.Handle(ra(0, 0))
	if s := h.c.State(); s.Router != r2 || s.RouterMAC != r2MAC {
		t.Fatalf("router %v %v", s.Router, s.RouterMAC)
	}
}

// TestHostileFlood: 10,000 advertisements with distinct prefixes, and
// 10,000 from distinct routers, keep MaxPrefixes and MaxRouters and
// count every other one; the first prefix's address still comes up.
func TestHostileFlood(t *testing.T) {
	h := newHarness(t)
	h.ready()
	for i := range 10000 {
		p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 64)
		src := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 14: byte(i >> 8), 15: byte(i)})
		mac := pkt.MAC{2, 0, 0, 1, byte(i >> 8), byte(i)}
		h.c.Handle(raFrom(mac, src, 0, 1800, optPrefix(p, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 3600, 1800), optRDNSS(600, src)))
	}
	if n := len(h.take()); n != MaxPrefixes {
		t.Fatalf("%d DAD probes, want %d", n, MaxPrefixes)
	}
	want := fmt.Sprintf("map[dns_limit:%d prefix_limit:%d router_limit:%d]", 10000-MaxDNS, 10000-MaxPrefixes, 10000-MaxRouters)
	if d := fmt.Sprint(h.drops()); d != want {
		t.Fatalf("drops %s, want %s", d, want)
	}
	h.at(2 * time.Second)
	s := h.c.State()
	if s.Addr != netip.MustParsePrefix("2001:db8:0:0:5054:ff:fe12:3456/64") || s.Router != netip.MustParseAddr("fe80::") || len(s.DNS) != MaxDNS {
		t.Fatalf("state %+v", s)
	}
	if h.c.nPrefixes != MaxPrefixes || h.c.nRouters != MaxRouters || h.c.nRDNSS != MaxDNS {
		t.Fatalf("held %d prefixes %d routers %d DNS", h.c.nPrefixes, h.c.nRouters, h.c.nRDNSS)
	}
}

// TestAddrChoice: a global address before a ULA, a preferred one before
// a deprecated one.
func TestAddrChoice(t *testing.T) {
	LA := uint8(pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto)
	ula := netip.MustParsePrefix("fd00:1::/64")
	h := newHarness(t)
	h.ready()
	h.c.Handle(ra(0, 1800, optPrefix(ula, LA, 3600, 3600), optPrefix(pfxA, LA, 3600, 10)))
	h.at(2 * time.Second)
	if s := h.c.State(); s.Addr.Addr() != slaacA {
		t.Fatalf("address %v, want the global one", s.Addr)
	}
	h.at(12 * time.Second)
	if s := h.c.State(); s.Addr.Addr() != netip.MustParseAddr("fd00:1::5054:ff:fe12:3456") {
		t.Fatalf("address %v, want the ULA once the global one is deprecated", s.Addr)
	}
}

// TestNotOurs: frames that are no autoconfiguration are left to the
// uplink, uncounted.
func TestNotOurs(t *testing.T) {
	h := newHarness(t)
	h.ready()
	for _, f := range [][]byte{
		nil,
		make([]byte, 13),
		append(make([]byte, 12), 0x08, 0x00, 0x45),
		udp6Frame(547, 547, []byte{1, 2, 3, 4}),
		icmp6Frame(rtrMAC, myMAC, rtrLL, myLL, 64, []byte{128, 0, 0, 0, 0, 0, 0, 0}),
		na(rtrMAC, rtrLL),
	} {
		if h.c.Handle(f) {
			t.Fatalf("% x taken", f)
		}
	}
	if d := h.drops(); len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
}

// TestHandleOffloaded: a frame whose checksum the device left to be
// finished (NEEDS_CSUM: the field holds the pseudo-header sum) is taken
// by HandleOffloaded, and refused by Handle.
func TestHandleOffloaded(t *testing.T) {
	partial := func(f []byte, csumOff int) []byte {
		f = append([]byte(nil), f...)
		ip := pkt.IPv6(f[pkt.EthernetLen:])
		binary.BigEndian.PutUint16(f[csumOff:], ip.PseudoHeaderChecksum(ip.NextHeader(), uint16(ip.PayloadLen())))
		return f
	}
	h := newHarness(t)
	h.ready()
	r := partial(slaacRA(), icmpOff+2)
	if h.c.Handle(r); fmt.Sprint(h.drops()) != "map[bad_checksum:1]" {
		t.Fatalf("Handle: drops %v", h.drops())
	}
	h.c.HandleOffloaded(r)
	h.at(3 * time.Second)
	if s := h.c.State(); s.Addr.Addr() != slaacA || len(h.drops()) != 1 {
		t.Fatalf("HandleOffloaded: %+v, drops %v", s, h.drops())
	}

	h, _ = managed(t)
	adv := advertise()
	f := partial(h.dhcpFrame(adv), pkt.EthernetLen+pkt.IPv6Len+6)
	if h.c.Handle(f); fmt.Sprint(h.drops()) != "map[bad_checksum:1]" || len(h.take()) != 0 {
		t.Fatalf("Handle: drops %v", h.drops())
	}
	h.c.HandleOffloaded(f)
	if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6Request {
		t.Fatalf("HandleOffloaded: %+v", m)
	}
}

// TestConcurrent: Handle, Tick and State on three goroutines (run with
// -race): advertisements alternating two MTUs make new snapshots while
// another refreshes lifetimes in place; a reader never sees a preferred
// lifetime past the valid one, nor an address without its lifetimes.
func TestConcurrent(t *testing.T) {
	var mu sync.Mutex // the fake clock
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := New(Config{MAC: myMAC, Now: clock, Rand: fixedRand, Send: func([]byte) {}})
	c.Tick(t0.Add(-time.Microsecond))
	c.Tick(t0)
	c.Tick(t0.Add(time.Second))
	frames := [][]byte{slaacRA(), ra(0, 1800, optMTU(1280), optPrefix(pfxA, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 7200, 7200))}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			now = now.Add(100 * time.Millisecond) // DAD is over after ten
			mu.Unlock()
			c.Handle(frames[i%2])
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.Tick(clock())
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	seen := 0
	for seen < 1000 && time.Now().Before(deadline) {
		s := c.State()
		if s.Addr.IsValid() {
			seen++
			if s.PreferredUntil.After(s.ValidUntil) || s.ValidUntil.IsZero() {
				t.Fatalf("state %+v", s)
			}
		}
	}
	close(stop)
	wg.Wait()
	if seen < 1000 {
		t.Fatalf("the address seen %d times in 10 s", seen)
	}
}
