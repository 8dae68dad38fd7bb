package gateway

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

// checkMLDReport decodes r with gopacket and checks it is an MLDv2
// report from src to ff02::16 behind a router alert, with a checksum
// that verifies, of exactly the gateway's groups with record type rec.
func checkMLDReport(t *testing.T, p *Port, r []byte, src netip.Addr, rec uint8) {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if eth.Dst() != pkt.MulticastMAC6(mldRouters) || !ip.Valid() || ip.Src() != src || ip.Dst() != mldRouters || ip.HopLimit() != 1 ||
		ip.NextHeader() != pkt.ProtoHopByHop || string(ip[40:48]) != string(hbhRouterAlert[:]) {
		t.Fatalf("MLD report headers % x", r)
	}
	c := pkt.ICMPv6(ip.Payload())
	if !c.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c)))) {
		t.Fatal("MLD report checksum")
	}
	pk := gopacket.NewPacket(r, layers.LayerTypeEthernet, gopacket.Default)
	m, ok := pk.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(*layers.MLDv2MulticastListenerReportMessage)
	if !ok {
		t.Fatalf("gopacket finds no MLDv2 report: %v", pk)
	}
	want := []netip.Addr{pkt.IPv6AllRouters, pkt.SolicitedNode(p.v6.ll), pkt.SolicitedNode(p.v6.global)}
	if len(m.MulticastAddressRecords) != len(want) || int(m.NumberOfMulticastAddressRecords) != len(want) {
		t.Fatalf("%d records, want %d", len(m.MulticastAddressRecords), len(want))
	}
	for i, rr := range m.MulticastAddressRecords {
		if uint8(rr.RecordType) != rec || rr.N != 0 || addrOf(rr.MulticastAddress) != want[i] {
			t.Fatalf("record %d: %+v, want type %d for %v", i, rr, rec, want[i])
		}
	}
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// mldQueryFrame is an MLDv2 general query from a router's link-local
// address, with hop limit hop.
func mldQueryFrame(hop uint8) []byte {
	q := make([]byte, 28)
	pkt.ICMPv6(q).EncodeHeader(pkt.ICMPv6MLDQuery, 0, 10000<<16)
	src := netip.MustParseAddr("fe80::99")
	b := frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), guestMAC, src, pkt.IPv6AllNodes, hop, pkt.ProtoHopByHop, append(hbhRouterAlert[:], q...))
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	c := pkt.ICMPv6(ip[48:ip.Len()])
	c.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c))))
	return b
}

func TestMLDQuery(t *testing.T) {
	p := newPort6("t", gw6, nil)
	out := exchange(t, p, mldQueryFrame(1))
	if len(out) != 1 {
		t.Fatalf("%d answers to a general query", len(out))
	}
	checkMLDReport(t, p, out[0], p.v6.ll, pkt.RecordIsExclude)
	// A query that was routed (hop limit not 1) is refused.
	if out := exchange(t, p, mldQueryFrame(2)); len(out) != 0 || p.Drops()[DropBadNDP] != 1 {
		t.Fatalf("routed query: %d answers, drops %v", len(out), p.Drops())
	}
	// A flood of queries gets a bounded answer.
	n := 0
	for range 30 {
		p.handle(mldQueryFrame(1), time.Unix(5, 0))
		n += len(takeAll(p.q))
	}
	if n != 10 {
		t.Fatalf("%d reports to 30 queries in a second, want 10", n)
	}
}
