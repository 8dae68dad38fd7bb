package pkt

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Seeds: an IGMPv2 report, a v3 report with two records (one with a
// source and aux data), a v3 query, and MLDv1/v2 messages as Linux sends
// them.
var (
	seedIGMPv2Report = []byte{0x16, 0, 0xfa, 0xfc, 239, 1, 2, 3}
	seedIGMPv3Report = []byte{0x22, 0, 0, 0, 0, 0, 0, 2,
		4, 0, 0, 0, 239, 1, 1, 1,
		1, 1, 0, 1, 239, 2, 2, 2, 10, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}
	seedIGMPv3Query = []byte{0x11, 0x8f, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0}
	seedMLDv2Report = append([]byte{143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0},
		netip.MustParseAddr("ff02::1:ff00:2").AsSlice()...)
	seedMLDv1Report = append([]byte{131, 0, 0, 0, 0, 0, 0, 0}, netip.MustParseAddr("ff15::1").AsSlice()...)
	seedMLDv2Query  = append(append([]byte{130, 0, 0, 0, 0x80, 0x10, 0, 0}, make([]byte, 16)...), 2, 125, 0, 0)
	// An MLDv2 report whose record has a source (ALLOW_NEW_SOURCES):
	// IPv6 sources, which the walk reads as such.
	seedMLDv2Source = append(append([]byte{143, 0, 0, 0, 0, 0, 0, 1, 5, 0, 0, 1},
		netip.MustParseAddr("ff15::1").AsSlice()...), netip.MustParseAddr("2001:db8::1").AsSlice()...)
)

// FuzzIGMP: the view never panics or reads past the message, and agrees
// with gopacket's decoder on every field the switch uses.
func FuzzIGMP(f *testing.F) {
	for _, s := range [][]byte{seedIGMPv2Report, seedIGMPv3Report, seedIGMPv3Query} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g := IGMP(b)
		if !g.Valid() {
			return
		}
		_ = g.ChecksumOK()
		var ref layers.IGMP
		switch g.Type() {
		case IGMPv3Report:
			err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
			refs := make([]refRecord, len(ref.GroupRecords))
			for i, rr := range ref.GroupRecords {
				refs[i] = refRecord{uint8(rr.Type), int(rr.NumberOfSources), netIP4(rr.MulticastAddress), rr.SourceAddresses}
			}
			recs := g.Records()
			n := sameRecords(t, &recs, refs, err)
			if n != len(ref.GroupRecords) {
				t.Fatalf("%d records, gopacket %d", n, len(ref.GroupRecords))
			}
			if recs.Truncated == (n == int(ref.NumberOfGroupRecords)) {
				t.Fatalf("truncated %v after %d of %d records", recs.Truncated, n, ref.NumberOfGroupRecords)
			}
		case IGMPQuery:
			if !g.IsV3Query() {
				return
			}
			ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
			if g.Group() != netIP4(ref.GroupAddress) {
				t.Fatalf("group %v, gopacket %v", g.Group(), ref.GroupAddress)
			}
			// gopacket swaps exponent and mantissa of codes >= 128
			// (RFC 3376 4.1.1: 1 exp(3) mant(4)); compare the literal ones.
			if c := g.MaxResp(); c > 0 && c < 128 && time.Duration(g.MaxRespTenths())*100*time.Millisecond != ref.MaxResponseTime {
				t.Fatalf("max resp %d tenths, gopacket %v", g.MaxRespTenths(), ref.MaxResponseTime)
			}
			// A query we build from what we read verifies and reads back
			// the same.
			var out [IGMPv3QueryLen]byte
			EncodeIGMPQuery(out[:], &IGMPQueryFields{Group: g.Group(), MaxResp: g.MaxResp(), V3: true, QRV: b[8], QQIC: b[9]})
			q := IGMP(out[:])
			if !q.ChecksumOK() || q.Group() != g.Group() || q.MaxRespTenths() != g.MaxRespTenths() || !q.IsV3Query() {
				t.Fatalf("re-encoded query % x", out)
			}
		}
	})
}

// FuzzMLD: likewise for MLD against gopacket's MLDv1 and MLDv2 layers
// (which start after the 4-byte ICMPv6 header).
func FuzzMLD(f *testing.F) {
	for _, s := range [][]byte{seedMLDv2Report, seedMLDv1Report, seedMLDv2Query, seedMLDv2Source} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := MLD(b)
		if !m.Valid() {
			return
		}
		switch m.Type() {
		case MLDv2Report:
			var ref layers.MLDv2MulticastListenerReportMessage
			err := ref.DecodeFromBytes(b[4:], gopacket.NilDecodeFeedback)
			refs := make([]refRecord, len(ref.MulticastAddressRecords))
			for i, rr := range ref.MulticastAddressRecords {
				refs[i] = refRecord{uint8(rr.RecordType), int(rr.N), netIP16(rr.MulticastAddress), rr.SourceAddresses}
			}
			recs := m.Records()
			n := sameRecords(t, &recs, refs, err)
			// gopacket appends the record it failed on; the walk stops
			// before it.
			if recs.Truncated != (err != nil) || err == nil && n != len(ref.MulticastAddressRecords) {
				t.Fatalf("%d records truncated=%v; gopacket %d, err %v", n, recs.Truncated, len(ref.MulticastAddressRecords), err)
			}
		case MLDQuery, MLDv1Report, MLDv1Done:
			var ref layers.MLDv1Message
			if err := ref.DecodeFromBytes(b[4:], gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("gopacket refused a valid message: %v", err)
			}
			if m.Group() != netIP16(ref.MulticastAddress) || time.Duration(m.MaxRespDelay())*time.Millisecond != ref.MaximumResponseDelay {
				t.Fatalf("group %v delay %d, gopacket %v %v", m.Group(), m.MaxRespDelay(), ref.MulticastAddress, ref.MaximumResponseDelay)
			}
			if !m.IsV2Query() {
				return
			}
			var q2 layers.MLDv2MulticastListenerQueryMessage
			if err := q2.DecodeFromBytes(b[4:], gopacket.NilDecodeFeedback); err != nil {
				return // sources past the end: the switch reads none of them
			}
			if time.Duration(m.MaxRespMillis())*time.Millisecond != q2.MaximumResponseDelay() {
				t.Fatalf("max resp %d ms, gopacket %v", m.MaxRespMillis(), q2.MaximumResponseDelay())
			}
			src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1")
			var out [MLDv2QueryLen]byte
			EncodeMLDv2Query(out[:], &MLDQueryFields{Group: m.Group(), MaxRespDelay: m.MaxRespDelay(), QRV: b[24], QQIC: b[25]}, src, dst)
			q := MLD(out[:])
			if !q.Valid() || !q.ChecksumOK(src, dst) || q.Group() != m.Group() || q.MaxRespMillis() != m.MaxRespMillis() {
				t.Fatalf("re-encoded query % x", out)
			}
		}
	})
}

// refRecord is a group record as gopacket reads it (IGMPv3 or MLDv2).
type refRecord struct {
	typ     uint8
	sources int
	group   netip.Addr
	srcs    []net.IP
}

// sameRecords walks recs against gopacket's records ref (err: what its
// decoder said) and returns how many it read: each has gopacket's type,
// source count, group and sources, the sources of the group's family.
func sameRecords(t *testing.T, recs *GroupRecords, ref []refRecord, err error) int {
	t.Helper()
	n := 0
	for r, ok := recs.Next(); ok; r, ok = recs.Next() {
		if n >= len(ref) {
			t.Fatalf("record %d beyond gopacket's %d (err %v)", n, len(ref), err)
		}
		rr := ref[n]
		if r.Type != rr.typ || r.Sources != rr.sources || r.Group != rr.group {
			t.Fatalf("record %d = %+v, gopacket %+v", n, r, rr)
		}
		for i := range r.Sources {
			want := netIP16(rr.srcs[i])
			if r.Group.Is4() {
				want = netIP4(rr.srcs[i])
			}
			if r.Source(i) != want {
				t.Fatalf("record %d source %d = %v, gopacket %v", n, i, r.Source(i), rr.srcs[i])
			}
		}
		n++
	}
	return n
}

func netIP4(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To4())
	return a
}

func netIP16(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To16())
	return a
}
