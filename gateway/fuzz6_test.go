package gateway

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// FuzzGateway6 sends arbitrary frames to an IPv6 network's gateway that
// routes to a second network. Nothing may panic, and every frame either
// gateway emits must be well formed: from its own MAC, IPv6 whose payload
// length fits the frame; its own ICMPv6 (from one of its addresses, with
// a checksum that verifies and zeroed padding) or a routed packet (to a
// guest the second gateway learned, the hop limit one lower, the bytes
// otherwise the input's).
func FuzzGateway6(f *testing.F) {
	gw := gw6.Addr()
	echo := make([]byte, 16)
	pkt.ICMPv6(echo).EncodeHeader(pkt.ICMPv6EchoRequest, 0, 1)
	rs := make([]byte, pkt.NDPRouterSolicitLen)
	pkt.ICMPv6(rs).EncodeHeader(pkt.ICMPv6RouterSolicit, 0, 0)
	f.Add(solicitNS(guest6, gw, guestMAC))
	f.Add(solicitNS(guest6LL, pkt.LinkLocalFromMAC(StableMAC("a")), guestMAC))
	f.Add(frame6(StableMAC("a"), guestMAC, guest6, gw, 64, pkt.ProtoICMPv6, echo))
	f.Add(frame6(pkt.MulticastMAC6(pkt.IPv6AllRouters), guestMAC, guest6LL, pkt.IPv6AllRouters, 255, pkt.ProtoICMPv6, rs))
	f.Add(frame6(StableMAC("a"), guestMAC, guest6, guest6B, 64, pkt.ProtoUDP, []byte("0123456789abcdef")))
	f.Add(frame6(StableMAC("a"), guestMAC, guest6, guest6B, 1, pkt.ProtoUDP, []byte("hop")))
	f.Add(frame6(StableMAC("a"), guestMAC, guest6, gw, 64, pkt.ProtoUDP, udp6(guest6, gw, 1, 54, []byte("closed"))))
	f.Add(frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), guestMAC, guest6, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, naMsg(guest6, pkt.NDPNAOverride, guestMAC)))
	f.Add(mldQueryFrame(1))
	syn := make([]byte, pkt.TCPMinLen)
	pkt.TCP(syn).Encode(&pkt.TCPFields{SrcPort: 1, DstPort: 22, Flags: pkt.TCPFlagSYN})
	f.Add(frame6(StableMAC("a"), guestMAC, guest6, gw, 64, pkt.ProtoTCP, syn))
	f.Add(frame6(StableMAC("a"), guestMAC, guest6, gw, 64, 132, make([]byte, 12)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > vswitch.SmallDataLen {
			return
		}
		r := NewRouter6()
		a, o := newPort6("a", gw6, r), newPort6("b", gw6B, r)
		o.v6.neigh.learn(guest6B, guestMACB, t0)
		a.handle(b, t0)
		for _, p := range []*Port{a, o} {
			for _, out := range takeAll(p.q) {
				checkEmitted6(t, p, out, b)
			}
		}
	})
}

func checkEmitted6(t *testing.T, p *Port, r, in []byte) {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if len(r) < pkt.EthernetLen || eth.Src() != p.MAC() || eth.Type() != pkt.TypeIPv6 || !ip.Valid() || len(r) < pkt.EthernetLen+ip.Len() {
		t.Fatalf("frame from %v: % x", eth.Src(), r)
	}
	if p.v6.own(ip.Src()) >= 0 {
		switch ip.NextHeader() {
		case pkt.ProtoUDP:
			t.Fatalf("a DNS answer without a DNS server: % x", r)
		case pkt.ProtoTCP: // a RST
			seg := pkt.TCP(ip.Payload())
			if !seg.Valid() || seg.Flags()&pkt.TCPFlagRST == 0 || seg.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(seg)))) != seg.Checksum() {
				t.Fatalf("RST % x", r)
			}
			return
		}
		c := pkt.ICMPv6(ip.Payload())
		if ip.PayloadProtocol() != pkt.ProtoICMPv6 || !c.Valid() || !c.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c)))) ||
			len(r) != max(pkt.EthernetLen+ip.Len(), 60) || string(r[pkt.EthernetLen+ip.Len():]) != string(make([]byte, len(r)-pkt.EthernetLen-ip.Len())) {
			t.Fatalf("the gateway's ICMPv6 % x", r)
		}
		if (c.Type() == pkt.ICMPv6NeighAdvert || c.Type() == pkt.ICMPv6RouterAdvert || c.Type() == pkt.ICMPv6NeighSolicit) && ip.HopLimit() != 255 {
			t.Fatalf("NDP with hop limit %d", ip.HopLimit())
		}
		return
	}
	// Routed: the input's packet, to the learned guest, hop limit down one.
	src := pkt.IPv6(in[pkt.EthernetLen:])
	if eth.Dst() != guestMACB || ip.Dst() != guest6B || ip.HopLimit() != src.HopLimit()-1 || len(r) != pkt.EthernetLen+src.Len() ||
		string(r[pkt.EthernetLen+8:]) != string(in[pkt.EthernetLen+8:pkt.EthernetLen+src.Len()]) {
		t.Fatalf("routed % x from % x", r, in)
	}
}
