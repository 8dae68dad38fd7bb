package vswitch

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzScreen6 checks RA guard against gopacket's decoder: whenever
// gopacket finds an ICMPv6 router advertisement or redirect in a frame
// from a guarded port, the screen drops it; and it never drops a frame
// from a guarded port as ra_guard unless gopacket finds one, the frame is
// a first fragment (whose upper layer is not whole), or its extension
// chain is one the walk refuses. An NA for the gateway's address from
// any other port is always dropped.
func FuzzScreen6(f *testing.F) {
	target := gwLL6.As16()
	dest := []byte{pkt.ProtoICMPv6, 0, 1, 4, 0, 0, 0, 0}
	f.Add(icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6RouterAdvert, nil))
	f.Add(icmp6Frame(mac(1), pkt.ProtoDestOpts, dest, pkt.ICMPv6Redirect, nil))
	f.Add(icmp6Frame(mac(1), pkt.ProtoFragment, []byte{pkt.ProtoICMPv6, 0, 0, 1, 0, 0, 0, 1}, pkt.ICMPv6RouterAdvert, nil))
	f.Add(icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6NeighAdvert, target[:]))
	f.Add(icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6EchoRequest, nil))
	s := New(Config{})
	defer s.Close()
	s.AddLocalAddr6(1, gwLL6)
	guarded, plain := &swPort{raGuard: true}, &swPort{}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < pkt.EthernetLen || len(b) > SmallDataLen {
			return
		}
		pkt.Ethernet(b).SetType(pkt.TypeIPv6)
		fr := NewFrame()
		defer fr.Release()
		fr.SetData(b)
		fr.vid = 1
		got := s.screen6(guarded, fr)
		other := s.screen6(plain, fr)

		ip := pkt.IPv6(b[pkt.EthernetLen:])
		var icmpType int = -1
		p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
		if l, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			icmpType = int(l.TypeCode.Type())
		}
		router := icmpType == pkt.ICMPv6RouterAdvert || icmpType == pkt.ICMPv6Redirect
		if router && ip.Valid() && got != DropRAGuard {
			t.Fatalf("gopacket finds ICMPv6 type %d, RA guard lets it through (%v): % x", icmpType, got, b)
		}
		if got == DropRAGuard && !router {
			_, _, ok := ip.UpperLayer()
			if ok && !ip.IsFragment() {
				t.Fatalf("ra_guard for a frame gopacket reads as ICMPv6 type %d: % x", icmpType, b)
			}
		}
		if other == DropRAGuard {
			t.Fatal("ra_guard on a port without it")
		}
		if got == DropSpoofedNA || other == DropSpoofedNA {
			if proto, off, ok := ip.UpperLayer(); !ok || proto != pkt.ProtoICMPv6 || ip[off] != pkt.ICMPv6NeighAdvert ||
				pkt.NDPNeighAdvert(ip[off:ip.Len()]).Target() != gwLL6 {
				t.Fatalf("spoofed_na for % x", b)
			}
		}
	})
}
