package vswitch

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	gwLL6   = netip.MustParseAddr("fe80::1")
	guest6a = netip.MustParseAddr("fe80::5054:ff:fe00:1")
)

// icmp6Frame builds Ethernet/IPv6 with the extension headers ext (their
// first protocol is next, the last names ICMPv6) and an ICMPv6 message
// of type typ with a 16-byte body starting with body.
func icmp6Frame(src pkt.MAC, next uint8, ext []byte, typ uint8, body []byte) []byte {
	msg := make([]byte, 24)
	msg[0] = typ
	copy(msg[8:], body)
	n := 14 + 40 + len(ext) + len(msg)
	b := make([]byte, max(n, 60))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC6(pkt.IPv6AllNodes), Src: src, Type: pkt.TypeIPv6})
	pkt.IPv6(b[14:]).Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(ext) + len(msg)), NextHeader: next, HopLimit: 255, Src: guest6a, Dst: pkt.IPv6AllNodes})
	copy(b[54:], ext)
	copy(b[54+len(ext):], msg)
	return b
}

func TestRAGuard(t *testing.T) {
	guest := access("guest", 1)
	guest.RAGuard = true
	s := newTestSwitch(t, Config{}, guest, access("other", 1), access("gw", 1), access("up", 1))
	if err := s.AddLocal("gw", 1, mac(9)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddLocalAddr6(1, gwLL6); err != nil {
		t.Fatal(err)
	}
	dest := []byte{pkt.ProtoICMPv6, 0, 1, 4, 0, 0, 0, 0} // destination options, PadN
	// A fragment header at offset off (8-byte units) with more to come.
	frag := func(next uint8, off uint16) []byte {
		return []byte{next, 0, byte(off >> 5), byte(off<<3) | 1, 0, 0, 0, 1}
	}
	target := gwLL6.As16()
	var nine []byte // more destination-options headers than the walk takes
	for i := range 9 {
		h := append([]byte(nil), dest...)
		if i < 8 {
			h[0] = pkt.ProtoDestOpts
		}
		nine = append(nine, h...)
	}
	for _, c := range []struct {
		name   string
		port   string
		frame  []byte
		reason DropReason // NumDropReasons: delivered
	}{
		{"RA", "guest", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6RouterAdvert, nil), DropRAGuard},
		{"redirect", "guest", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6Redirect, nil), DropRAGuard},
		{"RA behind destination options", "guest", icmp6Frame(mac(1), pkt.ProtoDestOpts, dest, pkt.ICMPv6RouterAdvert, nil), DropRAGuard},
		{"RA in a first fragment", "guest", icmp6Frame(mac(1), pkt.ProtoFragment, frag(pkt.ProtoICMPv6, 0), pkt.ICMPv6RouterAdvert, nil), DropRAGuard},
		{"chain continued in a fragment", "guest", icmp6Frame(mac(1), pkt.ProtoFragment, frag(pkt.ProtoDestOpts, 0), pkt.ProtoICMPv6, nil), DropRAGuard},
		{"RA behind nine headers", "guest", icmp6Frame(mac(1), pkt.ProtoDestOpts, nine, pkt.ICMPv6RouterAdvert, nil), DropRAGuard},
		{"NA for the gateway", "guest", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6NeighAdvert, target[:]), DropSpoofedNA},
		{"NA for the gateway from a port without RA guard", "up", icmp6Frame(mac(3), pkt.ProtoICMPv6, nil, pkt.ICMPv6NeighAdvert, target[:]), DropSpoofedNA},
		// Positive controls.
		{"RA from a port without RA guard", "up", icmp6Frame(mac(3), pkt.ProtoICMPv6, nil, pkt.ICMPv6RouterAdvert, nil), NumDropReasons},
		{"a guest's ping", "guest", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6EchoRequest, nil), NumDropReasons},
		{"a guest's fragmented ping", "guest", icmp6Frame(mac(1), pkt.ProtoFragment, frag(pkt.ProtoICMPv6, 0), pkt.ICMPv6EchoRequest, nil), NumDropReasons},
		{"a later fragment", "guest", icmp6Frame(mac(1), pkt.ProtoFragment, frag(pkt.ProtoICMPv6, 8), pkt.ICMPv6RouterAdvert, nil), NumDropReasons},
		{"a guest's own NA", "guest", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6NeighAdvert, guest6a.AsSlice()), NumDropReasons},
		{"the gateway's NA", "gw", icmp6Frame(mac(9), pkt.ProtoICMPv6, nil, pkt.ICMPv6NeighAdvert, target[:]), NumDropReasons},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := s.Port(c.port)
			s.ports[c.port].in <- c.frame
			watch := "other"
			if c.reason != NumDropReasons {
				s.waitDrop(t, c.port, c.reason, before.Drops[c.reason]+1)
				s.ports[watch].expectNone(t)
				return
			}
			if got := s.ports[watch].expect(t); !bytes.Equal(got, c.frame) {
				t.Fatalf("delivered % x", got)
			}
			after, _ := s.Port(c.port)
			if after.Drops != before.Drops {
				t.Fatalf("drops %v -> %v", before.Drops, after.Drops)
			}
		})
	}
	// Exactly one drop per dropped frame.
	g, _ := s.Port("guest")
	if g.Drops[DropRAGuard] != 6 || g.Drops[DropSpoofedNA] != 1 {
		t.Fatalf("guest drops ra_guard %d spoofed_na %d", g.Drops[DropRAGuard], g.Drops[DropSpoofedNA])
	}
}
