package autoconf6

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// fuzzRecord encodes one step of FuzzHandle's input: advance the clock
// by (step&0x3f)^3 seconds, fix the frame's checksum when step&0x80, hand
// the frame over, tick.
func fuzzRecord(step uint8, frame []byte) []byte {
	b := []byte{step, byte(len(frame) >> 8), byte(len(frame))}
	return append(b, frame...)
}

// upper is a frame's IPv6 header and upper-layer message, if it has them.
func upper(f []byte) (ip pkt.IPv6, proto uint8, l4 []byte, ok bool) {
	eth := pkt.Ethernet(f)
	if !eth.Valid() || eth.Type() != pkt.TypeIPv6 {
		return nil, 0, nil, false
	}
	ip = pkt.IPv6(eth.Payload())
	if !ip.Valid() {
		return nil, 0, nil, false
	}
	proto, off, ok := ip.UpperLayer()
	if !ok {
		return nil, 0, nil, false
	}
	return ip, proto, ip[off:ip.Len()], true
}

// fixChecksum recomputes the ICMPv6 or UDP checksum of a frame that
// parses that far, so the fuzzer's mutations get past it.
func fixChecksum(f []byte) {
	ip, proto, l4, ok := upper(f)
	switch {
	case !ok:
	case proto == pkt.ProtoICMPv6 && len(l4) >= 4:
		pkt.ICMPv6(l4).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(l4))))
	case proto == pkt.ProtoUDP && pkt.UDP(l4).Valid():
		pkt.UDP(l4).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(pkt.UDP(l4).Length())))
	}
}

// seen collects what the input offered: SLAAC prefixes (A flag, /64) in
// any router advertisement, and every 16-byte string (a leased address
// must be one of them).
type seen struct {
	prefixes map[netip.Prefix]bool
	all      [][]byte
}

func (s *seen) add(f []byte) {
	s.all = append(s.all, f)
	_, proto, l4, ok := upper(f)
	if !ok || proto != pkt.ProtoICMPv6 || len(l4) == 0 || l4[0] != pkt.ICMPv6RouterAdvert {
		return
	}
	for o := pkt.ICMPv6(l4).NDPOptions(); o.Next(); {
		if pi := pkt.NDPPrefixInfo(o.Data()); o.Type() == pkt.NDPOptPrefixInfo && pi.Valid() && pi.Flags()&pkt.NDPPrefixAuto != 0 && pi.PrefixLen() == 64 {
			s.prefixes[pi.Prefix().Masked()] = true
		}
	}
}

func (s *seen) holds(a netip.Addr) bool {
	b := a.As16()
	for _, f := range s.all {
		if bytes.Contains(f, b[:]) {
			return true
		}
	}
	return false
}

// FuzzHandle feeds a client whose link-local address is up a run of
// frames and clock steps. Whatever comes, nothing panics, what it sends
// is well-formed, and the state holds: an address only inside an
// accepted prefix (SLAAC: an advertised /64 with A, and the MAC's
// EUI-64) or one a message offered (DHCPv6), never link-local or
// multicast; no lifetime already over after a Tick, preferred never
// past valid; Tick's next time after now and within a second; a link-local router; an MTU in range; bounded tables.
func FuzzHandle(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { runFuzz(t, data) })
}

// fuzzSeeds: SLAAC, a DAD conflict, a DHCPv6 lease, stateless DHCPv6.
func fuzzSeeds() [][]byte {
	h0 := newHarness(&testing.T{})
	adv := advertise()
	info := reply(pkt.DHCPv6Reply, testXID)
	info.noIA, info.refresh, info.dns = true, 600, []netip.Addr{netip.MustParseAddr("2001:db8::54")}
	return [][]byte{
		append(fuzzRecord(1, slaacRA()), fuzzRecord(2, nil)...),
		append(fuzzRecord(0, slaacRA()), fuzzRecord(0, na(otherMAC, slaacA))...),
		bytes.Join([][]byte{
			fuzzRecord(0, ra(pkt.NDPRAManaged, 1800, optPrefix(netip.MustParsePrefix("2001:db8:77::/64"), pkt.NDPPrefixOnLink, 3600, 3600))),
			fuzzRecord(1, nil), // the SOLICIT begins
			fuzzRecord(1, nil), // and goes
			fuzzRecord(0, h0.dhcpFrame(adv)),
			fuzzRecord(0, h0.dhcpFrame(reply(pkt.DHCPv6Reply, testXID))),
			fuzzRecord(2, nil),
		}, nil),
		bytes.Join([][]byte{
			fuzzRecord(0, ra(pkt.NDPRAOther, 1800, optRDNSS(100, dnsA))),
			fuzzRecord(1, nil),
			fuzzRecord(1, nil),
			fuzzRecord(0x80, h0.dhcpFrame(info)),
		}, nil),
	}
}

// runFuzz is FuzzHandle's body.
func runFuzz(t *testing.T, data []byte) *harness {
	h := newHarness(t)
	h.ready()
	s := &seen{prefixes: map[netip.Prefix]bool{}}
	now := h.now
	for len(data) >= 3 {
		step, n := data[0], int(binary.BigEndian.Uint16(data[1:]))
		data = data[3:]
		n = min(n, len(data))
		frame := append([]byte(nil), data[:n]...)
		data = data[n:]
		if step&0x80 != 0 {
			fixChecksum(frame)
		}
		s.add(frame)
		k := time.Duration(step & 0x3f)
		now = now.Add(k * k * k * time.Second) // up to 2.9 days: lifetimes run out
		h.now = now
		h.c.Handle(frame)
		if o := h.take(); len(o) > MaxPrefixes+2 {
			t.Fatalf("%d frames sent for one", len(o))
		} else {
			for _, f := range o {
				decode(t, f)
			}
		}
		if next := h.c.Tick(now); !next.After(now) || next.After(now.Add(time.Second)) {
			t.Fatalf("Tick at %v: next %v", now, next) // a caller would spin, or oversleep
		}
		for _, f := range h.take() {
			decode(t, f)
		}
		check(t, h.c, s, now)
	}
	return h
}

// TestFuzzSeeds: the seeds reach what they are for.
func TestFuzzSeeds(t *testing.T) {
	var got []string
	for _, s := range fuzzSeeds() {
		st := runFuzz(t, s).c.State()
		got = append(got, fmt.Sprint(st.Addr, " ", st.Source, " ", st.DNS))
	}
	want := []string{
		"2001:db8:1:0:5054:ff:fe12:3456/64 slaac [2001:db8::53]",
		"invalid Prefix none [2001:db8::53]",
		"2001:db8:77::150/64 dhcpv6 [2001:db8::53]",
		"invalid Prefix none [2001:db8::53 2001:db8::54]",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func check(t *testing.T, c *Client, seen *seen, now time.Time) {
	st := c.State()
	if a := st.Addr; a.IsValid() {
		if !usablePrefix(a.Addr()) || !a.Contains(a.Addr()) {
			t.Fatalf("address %v", a)
		}
		switch st.Source {
		case SourceSLAAC:
			ll := myLL.As16()
			b := a.Addr().As16()
			if a.Bits() != 64 || !seen.prefixes[a.Masked()] || !bytes.Equal(b[8:], ll[8:]) {
				t.Fatalf("SLAAC address %v not from an advertised /64 (%v)", a, seen.prefixes)
			}
		case SourceDHCPv6:
			if !seen.holds(a.Addr()) {
				t.Fatalf("leased address %v offered by no message", a)
			}
		default:
			t.Fatalf("address %v from %v", a, st.Source)
		}
		if !st.ValidUntil.After(now) || st.PreferredUntil.After(st.ValidUntil) {
			t.Fatalf("lifetimes at %v: valid %v preferred %v", now, st.ValidUntil, st.PreferredUntil)
		}
	}
	if st.Router.IsValid() && (!isLinkLocal(st.Router) || !st.RouterUntil.After(now) || st.RouterMAC == myMAC) {
		t.Fatalf("router %v %v until %v (now %v)", st.Router, st.RouterMAC, st.RouterUntil, now)
	}
	if st.MTU != 0 && (st.MTU < 1280 || st.MTU > 1500) {
		t.Fatalf("MTU %d", st.MTU)
	}
	for _, d := range st.DNS {
		if d.IsMulticast() || d.IsUnspecified() || !d.Is6() {
			t.Fatalf("DNS %v", d)
		}
	}
	if len(st.DNS) > 2*MaxDNS || c.nPrefixes > MaxPrefixes || c.nRouters > MaxRouters || c.nRDNSS > MaxDNS {
		t.Fatalf("tables %d %d %d %d", len(st.DNS), c.nPrefixes, c.nRouters, c.nRDNSS)
	}
}
