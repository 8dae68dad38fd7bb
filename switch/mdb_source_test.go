package vswitch

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// srcRec is a group record with real source addresses.
type srcRec struct {
	typ   uint8
	group netip.Addr
	srcs  []netip.Addr
}

// reportSrc builds an IGMPv3 (type 0x22) or MLDv2 (143) report body with
// the records' sources.
func reportSrc(typ uint8, recs ...srcRec) []byte {
	b := make([]byte, 8)
	b[0] = typ
	binary.BigEndian.PutUint16(b[6:], uint16(len(recs)))
	for _, r := range recs {
		h := []byte{r.typ, 0, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(len(r.srcs)))
		b = append(append(b, h...), r.group.AsSlice()...)
		for _, s := range r.srcs {
			b = append(b, s.AsSlice()...)
		}
	}
	if typ == pkt.IGMPv3Report {
		binary.BigEndian.PutUint16(b[2:], ^pkt.Checksum(b, 0))
	}
	return b
}

// record parses r back as the switch sees it.
func record(r srcRec) pkt.GroupRecord {
	var recs pkt.GroupRecords
	if r.group.Is4() {
		recs = pkt.IGMP(reportSrc(pkt.IGMPv3Report, r)).Records()
	} else {
		recs = pkt.MLD(reportSrc(pkt.MLDv2Report, r)).Records()
	}
	rec, _ := recs.Next()
	return rec
}

// TestSourceFilterStates: the per-port router state of RFC 3376 6.4, step
// by step: what each record does to which sources pass, and when their
// timers (group membership interval 260 s, last member query time 2 s)
// end.
func TestSourceFilterStates(t *testing.T) {
	g := addr("232.1.1.1")
	s1, s2, s3 := addr("10.1.0.1"), addr("10.1.0.2"), addr("10.1.0.3")
	const now = 1000
	type check struct {
		at   int64
		src  netip.Addr
		pass bool
	}
	type step struct {
		typ  uint8
		srcs []netip.Addr
	}
	many := make([]netip.Addr, maxFilterSources+1)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 2, 0, byte(i)})
	}
	tests := []struct {
		name  string
		asm   bool // the port joined any-source first (filter nil, not new)
		steps []step
		nilF  bool // EXCLUDE {} after the steps
		want  []check
	}{
		{name: "include one source", steps: []step{{pkt.RecordIsInclude, []netip.Addr{s1}}},
			want: []check{{now, s1, true}, {now, s2, false}, {now + 260, s1, true}, {now + 261, s1, false}}},
		{name: "allow adds", steps: []step{{pkt.RecordAllowNew, []netip.Addr{s1}}, {pkt.RecordAllowNew, []netip.Addr{s2}}},
			want: []check{{now, s1, true}, {now, s2, true}, {now, s3, false}}},
		{name: "to_in drops the others after the last member query time", steps: []step{{pkt.RecordIsInclude, []netip.Addr{s1, s2}}, {pkt.RecordToInclude, []netip.Addr{s2}}},
			want: []check{{now + 2, s1, true}, {now + 3, s1, false}, {now + 260, s2, true}}},
		{name: "block", steps: []step{{pkt.RecordIsInclude, []netip.Addr{s1, s2}}, {pkt.RecordBlockOld, []netip.Addr{s1}}},
			want: []check{{now + 2, s1, true}, {now + 3, s1, false}, {now + 3, s2, true}}},
		{name: "include on an any-source member keeps every source", asm: true, steps: []step{{pkt.RecordIsInclude, []netip.Addr{s1}}},
			want: []check{{now, s1, true}, {now, s2, true}, {now + 260, s2, true}, {now + 261, s2, false}, {now + 261, s1, false}}},
		{name: "exclude one source", steps: []step{{pkt.RecordIsExclude, []netip.Addr{s1}}},
			want: []check{{now, s1, false}, {now, s2, true}, {now + 260, s2, true}, {now + 261, s2, false}}},
		{name: "allow out of exclude", steps: []step{{pkt.RecordIsExclude, []netip.Addr{s1}}, {pkt.RecordAllowNew, []netip.Addr{s1}}},
			want: []check{{now, s1, true}, {now, s2, true}}},
		{name: "exclude to include", steps: []step{{pkt.RecordIsExclude, []netip.Addr{s1}}, {pkt.RecordToInclude, []netip.Addr{s2}}},
			want: []check{{now + 2, s3, true}, {now + 3, s3, false}, {now + 3, s1, false}, {now + 3, s2, true}}},
		{name: "two hosts' excludes: only the common source is excluded", steps: []step{{pkt.RecordIsExclude, []netip.Addr{s1, s2}}, {pkt.RecordIsExclude, []netip.Addr{s2, s3}}},
			want: []check{{now, s1, true}, {now, s2, false}, {now, s3, true}}},
		{name: "any-source refresh", asm: true, steps: []step{{pkt.RecordIsExclude, nil}}, nilF: true},
		{name: "exclude nothing after include", steps: []step{{pkt.RecordIsInclude, []netip.Addr{s1}}, {pkt.RecordToExclude, nil}}, nilF: true},
		{name: "too many sources: every source", steps: []step{{pkt.RecordIsInclude, many}}, nilF: true},
		{name: "a full list gives up too", steps: []step{{pkt.RecordIsInclude, many[:maxFilterSources]}, {pkt.RecordAllowNew, []netip.Addr{s1}}}, nilF: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *srcFilter
			isNew := !tt.asm
			for _, st := range tt.steps {
				rec := record(srcRec{st.typ, g, st.srcs})
				f = applyRecord(f, isNew, &rec, now)
				isNew = false
			}
			if (f == nil) != tt.nilF {
				t.Fatalf("filter %v, want nil %v", f, tt.nilF)
			}
			for _, c := range tt.want {
				if got := f.allows(c.src.As16(), c.at); got != c.pass {
					t.Errorf("%v at +%d s: passes %v, want %v", c.src, c.at-now, got, c.pass)
				}
			}
		})
	}
}

// TestSnoopSourceFilter: c asks for 239.1.2.3 from 10.0.0.1 only (IGMPv3
// INCLUDE) and ff15::1 from fe80::1 only (MLDv2): a's datagrams reach c,
// b's do not, while the router port gets both; a v2 report (any source)
// then opens the group to b's too. A port that excluded a source gets the
// others.
func TestSnoopSourceFilter(t *testing.T) {
	s, ports := fourPorts(t)
	now := time.Now().Unix()
	g, g6 := addr("239.1.2.3"), addr("ff15::1")
	inject(s, ports, pR, query4(), now-2)
	inject(s, ports, pR, query6(), now-2)
	inject(s, ports, pC, igmpFrame(3, igmpV3Dst, reportSrc(pkt.IGMPv3Report, srcRec{pkt.RecordIsInclude, g, []netip.Addr{addr("10.0.0.1")}})), now)
	msg := reportSrc(pkt.MLDv2Report, srcRec{pkt.RecordToInclude, g6, []netip.Addr{addr("fe80::1")}})
	inject(s, ports, pC, mldFrame(3, mldV2Dst, msg), now)
	inject(s, ports, pB, igmpFrame(2, igmpV3Dst, reportSrc(pkt.IGMPv3Report, srcRec{pkt.RecordIsExclude, g, []netip.Addr{addr("10.0.0.1")}})), now)
	for _, tt := range []struct {
		from int
		b    []byte
		want []int // r a b c
	}{
		{pA, udpTo(1, g), []int{1, 0, 0, 1}},   // from 10.0.0.1: c asked for it, b excluded it
		{pR, udpTo(100, g), []int{0, 0, 1, 0}}, // from 10.0.0.100: b's, not c's
		{pA, udpTo(1, g6), []int{1, 0, 0, 1}},
		{pB, udpTo(2, g6), []int{1, 0, 0, 0}},
	} {
		if got := inject(s, ports, tt.from, tt.b, now); !slices.Equal(got, tt.want) {
			t.Errorf("from port %d: %v, want %v", tt.from, got, tt.want)
		}
	}
	inject(s, ports, pC, igmpFrame(3, g, igmpMsg(pkt.IGMPv2Report, 0, g)), now)
	if got := inject(s, ports, pR, udpTo(100, g), now); !slices.Equal(got, []int{0, 0, 1, 1}) {
		t.Errorf("after c's v2 report, from 10.0.0.100: %v, want [0 0 1 1]", got)
	}
}
