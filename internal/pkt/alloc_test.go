//go:build !race

package pkt

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestSettersAllocs: the rewrite setters run per packet in the NAT and
// the gateway, so they must not allocate.
func TestSettersAllocs(t *testing.T) {
	tcpPkt := IPv4(refPacket(t, refIPv4(layers.IPProtocolTCP, addrA, addrB), refTCP(), []byte("data")))
	udpPkt := IPv4(refPacket(t, refIPv4(layers.IPProtocolUDP, addrA, addrB), refUDP(), []byte("data")))
	icmpPkt := IPv4(refPacket(t, refIPv4(layers.IPProtocolICMPv4, addrA, addrB), refICMP(), []byte("data")))
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1")
	v6Pkt := ip6Packet(ProtoHopByHop, cat(extHdr(ProtoICMPv6, 0), icmp6Echo()))
	ra, raOut := ndpRA(), make([]byte, len(ndpRA()))
	pfx := netip.MustParsePrefix("fd00:122::/64")
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"IPv4", func() {
			ip := tcpPkt
			ip.SetSrc(addrC)
			ip.SetDst(addrD)
			ip.SetTTL(9)
			ip.DecTTL()
			ip.SetID(3)
			ip.SetTotalLen(uint16(len(ip)))
			ip.SetChecksum()
			_ = ip.PseudoHeaderChecksum(ProtoTCP, 20)
		}},
		{"TCP", func() {
			s := TCP(tcpPkt.Payload())
			s.SetSrcPort(1, true)
			s.SetDstPort(2, false)
			s.UpdateChecksumPseudoHeaderAddress(addrA, addrC, true)
			s.UpdateChecksumPseudoHeaderAddress(addrC, addrA, false)
			s.SetSeq(3, true)
			s.SetAck(4, false)
			s.SetFlags(TCPFlagACK, true)
			s.SetWindow(5, true)
			s.Encode(&TCPFields{Seq: 1})
			s.SetChecksum(1)
		}},
		{"UDP", func() {
			u := UDP(udpPkt.Payload())
			u.SetSrcPort(1, true)
			u.SetDstPort(2, false)
			u.UpdateChecksumPseudoHeaderAddress(addrA, addrC, true)
			u.UpdateChecksumPseudoHeaderAddress(addrC, addrA, false)
			u.SetChecksum(1)
		}},
		{"UDP frame", func() {
			var b [UDP4FrameHdrLen]byte
			EncodeUDP4Frame(b[:], MAC{1}, MAC{2}, IPv4Fields{TTL: 64, Src: addrA, Dst: addrB}, 68, 67, 0)
		}},
		{"DHCP header", func() {
			var b [DHCPOptionsOff]byte
			DHCP(b[:]).Encode(&DHCPFields{Op: BOOTReply, XID: 1, YIAddr: addrA, CHAddr: b[28:34]})
		}},
		{"ICMPv4", func() {
			c := ICMPv4(icmpPkt.Payload())
			c.SetIdent(7)
			c.SetSeq(8)
			c.SetChecksum()
		}},
		{"IPv6", func() {
			ip := IPv6(v6Pkt)
			ip.SetSrc(v6a)
			ip.SetDst(v6b)
			ip.DecHopLimit()
			ip.SetFlowLabel(1)
			ip.SetTrafficClass(2)
			_, _, _ = ip.UpperLayer()
			c := ICMPv6(ip.Payload())
			c.SetIdent(1)
			c.SetSeq(2)
			c.UpdateChecksumPseudoHeaderAddress(v6a, v6b)
			c.SetChecksum(ip.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c))))
		}},
		{"NDP", func() {
			it := NDPRouterAdvert(ra).Options()
			for it.Next() {
			}
			w := NDPOptionWriter{B: raOut, N: NDPRouterAdvertLen}
			w.AddLinkLayerAddr(NDPOptSourceLLA, MAC{1})
			w.AddPrefixInfo(pfx, NDPPrefixAuto, 1, 2)
			w.AddMTU(1500)
			w.AddRDNSS(1, v6a)
			_ = LinkLocalFromMAC(MAC{1})
			_ = SolicitedNode(v6a)
		}},
		{"IPv6 address update", func() {
			_ = ChecksumUpdateAddress(0x1234, v6a, v6b)
		}},
	} {
		if n := testing.AllocsPerRun(100, c.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", c.name, n)
		}
	}
}

func TestParseOptionsAllocs(t *testing.T) {
	m := dhcpWith(OptMessageType, 1, DHCPRequest, OptClientID, 3, 1, 2, 3, OptRequestedIP, 4, 10, 0, 0, 9)
	if a := testing.AllocsPerRun(1000, func() { _ = m.ParseOptions() }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
