package mquery

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzObserve: whatever frames a link carries, Observe does not panic,
// sends nothing but valid IGMP and MLD group queries, and at most
// GroupQueriesPerSecond of them in a second.
func FuzzObserve(f *testing.F) {
	for _, seed := range seeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sent := 0
		q := New(pkt.MAC{2, 1, 2, 3, 4, 5}, netip.Addr{}, func(fr []byte) {
			sent++
			eth := pkt.Ethernet(fr)
			switch eth.Type() {
			case pkt.TypeIPv4:
				ip := pkt.IPv4(eth.Payload())
				if g := pkt.IGMP(ip.Payload()); !ip.Valid() || !ip.HeaderChecksumOK() || !g.Valid() || !g.ChecksumOK() || g.Type() != pkt.IGMPQuery || !g.Group().IsMulticast() {
					t.Fatalf("not an IGMP group query: % x", fr)
				}
			case pkt.TypeIPv6:
				ip := pkt.IPv6(eth.Payload())
				m, ok := ip.MLD()
				if !ip.Valid() || !ok || !m.Valid() || !m.ChecksumOK(ip.Src(), ip.Dst()) || m.Type() != pkt.MLDQuery || !m.Group().IsMulticast() {
					t.Fatalf("not an MLD group query: % x", fr)
				}
			default:
				t.Fatalf("sent % x", fr)
			}
		})
		now := time.Unix(1000, 0)
		for range 3 { // the same frame thrice in one second
			q.Observe(pkt.Ethernet(b), now)
		}
		if sent > GroupQueriesPerSecond {
			t.Fatalf("%d queries in a second", sent)
		}
	})
}

// seeds are an IGMPv2 leave of 239.1.2.3, an MLDv1 done of ff15::1 and
// the querier's own general queries.
func seeds() [][]byte {
	leave := []byte{pkt.IGMPv2Leave, 0, 0, 0, 239, 1, 2, 3}
	binary.BigEndian.PutUint16(leave[2:], ^pkt.Checksum(leave, 0))
	b4 := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen, 64)
	pkt.Ethernet(b4).Encode(&pkt.EthernetFields{Dst: pkt.MAC{1, 0, 0x5e, 0, 0, 2}, Src: pkt.MAC{0x52, 0x54, 0, 0, 0, 1}, Type: pkt.TypeIPv4})
	pkt.IPv4(b4[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: pkt.IPv4MinLen + 8, TTL: 1, Protocol: pkt.ProtoIGMP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("224.0.0.2")})
	b4 = append(b4, leave...)

	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::2")
	done := make([]byte, pkt.MLDMinLen)
	done[0] = pkt.MLDv1Done
	g := netip.MustParseAddr("ff15::1").As16()
	copy(done[8:], g[:])
	s16, d16 := src.As16(), dst.As16()
	binary.BigEndian.PutUint16(done[2:], ^pkt.Checksum(done, pkt.PseudoHeaderChecksum(pkt.ProtoICMPv6, s16[:], d16[:], uint16(len(done)))))
	b6 := make([]byte, pkt.EthernetLen+40, 128)
	pkt.Ethernet(b6).Encode(&pkt.EthernetFields{Dst: pkt.MAC{0x33, 0x33, 0, 0, 0, 2}, Src: pkt.MAC{0x52, 0x54, 0, 0, 0, 1}, Type: pkt.TypeIPv6})
	ip := b6[pkt.EthernetLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(done)))
	ip[6], ip[7] = 0, 1
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])
	b6 = append(append(b6, pkt.ProtoICMPv6, 0, 5, 2, 0, 0, 1, 0), done...)

	out := [][]byte{b4, b6}
	q := New(pkt.MAC{2, 9, 9, 9, 9, 9}, netip.Addr{}, func(fr []byte) { out = append(out, append([]byte(nil), fr...)) })
	q.Tick(time.Unix(1000, 0))
	return out
}

// TestSeedsAsk: the leave seeds do make group queries, so the fuzz
// target's property is not vacuous.
func TestSeedsAsk(t *testing.T) {
	var got []netip.Addr
	q := New(pkt.MAC{2, 1, 2, 3, 4, 5}, netip.Addr{}, func(fr []byte) {
		eth := pkt.Ethernet(fr)
		if eth.Type() == pkt.TypeIPv4 {
			got = append(got, pkt.IGMP(pkt.IPv4(eth.Payload()).Payload()).Group())
		} else {
			m, _ := pkt.IPv6(eth.Payload()).MLD()
			got = append(got, m.Group())
		}
	})
	for _, s := range seeds() {
		q.Observe(pkt.Ethernet(s), time.Unix(1000, 0))
	}
	if fmt.Sprint(got) != "[239.1.2.3 ff15::1]" {
		t.Errorf("group queries for %v, want [239.1.2.3 ff15::1]", got)
	}
}
