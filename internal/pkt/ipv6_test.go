package pkt

import (
	"net/netip"
	"testing"
)

func TestIPv6Addresses(t *testing.T) {
	m := MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	for _, c := range []struct {
		name      string
		got, want netip.Addr
	}{
		{"link-local EUI-64", LinkLocalFromMAC(m), netip.MustParseAddr("fe80::5054:ff:fe12:3456")},
		{"solicited-node", SolicitedNode(netip.MustParseAddr("fd00:122::abcd:1234")), netip.MustParseAddr("ff02::1:ffcd:1234")},
		{"all-nodes", IPv6AllNodes, netip.MustParseAddr("ff02::1")},
		{"all-routers", IPv6AllRouters, netip.MustParseAddr("ff02::2")},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if got, want := MulticastMAC6(netip.MustParseAddr("ff02::1:ffcd:1234")), (MAC{0x33, 0x33, 0xff, 0xcd, 0x12, 0x34}); got != want {
		t.Errorf("MulticastMAC6 %v, want %v", got, want)
	}
}

func TestIPv6UpperLayer(t *testing.T) {
	echo := icmp6Echo()
	for _, c := range []struct {
		name  string
		pkt   []byte
		proto uint8
		off   int
		ok    bool
	}{
		{"no extension", ip6Packet(ProtoICMPv6, echo), ProtoICMPv6, 40, true},
		{"hop-by-hop, dest opts", ip6Packet(ProtoHopByHop, cat(extHdr(ProtoDestOpts, 0), extHdr(ProtoICMPv6, 1), echo)), ProtoICMPv6, 64, true},
		{"atomic fragment", ip6Packet(ProtoFragment, cat(fragHdr(ProtoICMPv6, 0, false), echo)), ProtoICMPv6, 48, true},
		{"first fragment", ip6Packet(ProtoFragment, cat(fragHdr(ProtoICMPv6, 0, true), echo)), ProtoFragment, 48, true},
		{"later fragment", ip6Packet(ProtoFragment, cat(fragHdr(ProtoICMPv6, 3, false), echo)), ProtoFragment, 48, true},
		{"hop-by-hop second", ip6Packet(ProtoDestOpts, cat(extHdr(ProtoHopByHop, 0), extHdr(ProtoICMPv6, 0), echo)), 0, 0, false},
		{"past the payload", ip6Packet(ProtoRouting, extHdr(ProtoICMPv6, 2)[:16]), 0, 0, false},
		{"too many", ip6Packet(ProtoDestOpts, cat(extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(ProtoICMPv6, 0))), 0, 0, false},
		{"last header ends the payload", ip6Packet(ProtoHopByHop, extHdr(ProtoNoNext, 0)), ProtoNoNext, 48, true},
		{"a chain and no payload", ip6Packet(ProtoHopByHop, nil), 0, 0, false},
		{"seven bytes of a header", ip6Packet(ProtoDestOpts, extHdr(ProtoNoNext, 0)[:7]), 0, 0, false},
		{"eight is fine", ip6Packet(ProtoDestOpts, cat(extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(60, 0), extHdr(ProtoICMPv6, 0), echo)), ProtoICMPv6, 40 + 64, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ip := IPv6(c.pkt)
			if !ip.Valid() {
				t.Fatal("not valid")
			}
			p, off, ok := ip.UpperLayer()
			if p != c.proto && ok || off != c.off && ok || ok != c.ok {
				t.Fatalf("UpperLayer %d %d %v, want %d %d %v", p, off, ok, c.proto, c.off, c.ok)
			}
		})
	}
}

func TestICMPv6EchoReplyChecksum(t *testing.T) {
	b := ip6Packet(ProtoICMPv6, icmp6Echo())
	ip := IPv6(b)
	c := ICMPv6(ip.Payload())
	src, dst := ip.Src(), ip.Dst()
	ip.SetSrc(dst)
	ip.SetDst(src)
	c.SetType(ICMPv6EchoReply, 0)
	ph := ip.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c)))
	if !c.ChecksumOK(ph) || c.Checksum() != c.ComputeChecksum(ph) {
		t.Fatalf("reply checksum %#04x, want %#04x", c.Checksum(), c.ComputeChecksum(ph))
	}
}

// TestIPv6ValidAndHopLimit: Valid holds the payload length to the buffer
// (one byte short is refused); DecHopLimit forwards from 2 down to 1 but
// never from 1 or 0, which stay as they were.
func TestIPv6ValidAndHopLimit(t *testing.T) {
	b := ip6Packet(ProtoNoNext, make([]byte, 10))
	if !IPv6(b).Valid() || IPv6(b[:len(b)-1]).Valid() || IPv6(b[:IPv6Len-1]).Valid() {
		t.Fatalf("Valid: whole %v, one short %v, header cut %v", IPv6(b).Valid(), IPv6(b[:len(b)-1]).Valid(), IPv6(b[:IPv6Len-1]).Valid())
	}
	if !IPv6(append(append(b[:0:0], b...), 0)).Valid() {
		t.Fatal("a trailer past the payload makes the packet invalid")
	}
	for _, c := range []struct {
		hop, want uint8
		ok        bool
	}{{0, 0, false}, {1, 1, false}, {2, 1, true}, {255, 254, true}} {
		ip := IPv6(append(b[:0:0], b...))
		ip.SetHopLimit(c.hop)
		if ok := ip.DecHopLimit(); ok != c.ok || ip.HopLimit() != c.want {
			t.Errorf("hop limit %d: DecHopLimit %v, now %d; want %v, %d", c.hop, ok, ip.HopLimit(), c.ok, c.want)
		}
	}
	if ICMPv6(make([]byte, ICMPv6Len-1)).Valid() || !ICMPv6(make([]byte, ICMPv6Len)).Valid() {
		t.Fatal("ICMPv6 Valid at 7 / 8 bytes")
	}
}

// TestIsICMPv6Error: types below 128 are errors (RFC 4443 2.1), from 128
// on informational.
func TestIsICMPv6Error(t *testing.T) {
	for typ, want := range map[uint8]bool{0: true, 1: true, 127: true, 128: false, 129: false, 255: false} {
		if IsICMPv6Error(typ) != want {
			t.Errorf("type %d: IsICMPv6Error %v", typ, !want)
		}
	}
}
