package pkt

import (
	"net/netip"
	"testing"
)

// TestIGMPMLDBounds: the IGMP and MLD views' lengths are held at exactly
// their minimum and a byte short, a query is v3/v2 only at its full
// length and type, and MLD's floating-point delay starts at 32768.
func TestIGMPMLDBounds(t *testing.T) {
	mk := func(typ uint8, n int) []byte { b := make([]byte, n); b[0] = typ; return b }
	for _, c := range []struct {
		name      string
		got, want bool
	}{
		{"igmp 8 bytes", IGMP(mk(IGMPQuery, IGMPMinLen)).Valid(), true},
		{"igmp 7 bytes", IGMP(mk(IGMPQuery, IGMPMinLen-1)).Valid(), false},
		{"igmp v3 query at 12", IGMP(mk(IGMPQuery, IGMPv3QueryLen)).IsV3Query(), true},
		{"igmp v3 query at 11", IGMP(mk(IGMPQuery, IGMPv3QueryLen-1)).IsV3Query(), false},
		{"igmp report at 12", IGMP(mk(IGMPv3Report, IGMPv3QueryLen)).IsV3Query(), false},
		{"mld 7 bytes", MLD(mk(MLDv2Report, mldV2RepHead-1)).Valid(), false},
		{"mld v2 report head", MLD(mk(MLDv2Report, mldV2RepHead)).Valid(), true},
		{"mld query at 8", MLD(mk(MLDQuery, mldV2RepHead)).Valid(), false},
		{"mld query at 24", MLD(mk(MLDQuery, MLDMinLen)).Valid(), true},
		{"mld query at 23", MLD(mk(MLDQuery, MLDMinLen-1)).Valid(), false},
		{"mld v2 query at 28", MLD(mk(MLDQuery, MLDv2QueryLen)).IsV2Query(), true},
		{"mld v2 query at 27", MLD(mk(MLDQuery, MLDv2QueryLen-1)).IsV2Query(), false},
		{"mld report at 28", MLD(mk(MLDv2Report, MLDv2QueryLen)).IsV2Query(), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		n        int
		code, ms int
	}{{MLDv2QueryLen, 32767, 32767}, {MLDv2QueryLen, 32768, 32768}, {MLDv2QueryLen, 0x8001, (1 | 0x1000) << 3}, {MLDMinLen, 40000, 40000}} {
		b := mk(MLDQuery, c.n)
		b[4], b[5] = byte(c.code>>8), byte(c.code)
		if got := MLD(b).MaxRespMillis(); got != c.ms {
			t.Errorf("%d-byte query, code %d: %d ms, want %d", c.n, c.code, got, c.ms)
		}
	}
}

// TestGroupRecordsAuxData: a record's sources and aux data (counted in
// 4-byte words) are stepped over, so the next record is read where it
// starts, for IGMPv3 and MLDv2; a record cut short ends the walk as
// Truncated.
func TestGroupRecordsAuxData(t *testing.T) {
	g1, g2 := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.2.2.2")
	rec := func(typ, aux byte, nsrc int, g netip.Addr) []byte {
		a := g.AsSlice()
		b := append([]byte{typ, aux, 0, byte(nsrc)}, a...)
		b = append(b, make([]byte, nsrc*len(a)+int(aux)*4)...)
		for i := len(b) - int(aux)*4; i < len(b); i++ {
			b[i] = 0xee // aux data that is not a record
		}
		return b
	}
	igmp := append([]byte{IGMPv3Report, 0, 0, 0, 0, 0, 0, 2}, rec(RecordIsExclude, 1, 2, g1)...)
	igmp = append(igmp, rec(RecordToInclude, 0, 1, g2)...)
	m1, m2 := netip.MustParseAddr("ff05::1"), netip.MustParseAddr("ff05::2")
	mld := append([]byte{MLDv2Report, 0, 0, 0, 0, 0, 0, 2}, rec(RecordIsExclude, 2, 1, m1)...)
	mld = append(mld, rec(RecordAllowNew, 0, 3, m2)...)
	type rec3 struct { // a record's fields compared (its sources are tested beside IGMP)
		Type    uint8
		Sources int
		Group   netip.Addr
	}
	for _, c := range []struct {
		name string
		r    GroupRecords
		want []rec3
	}{
		{"igmp", IGMP(igmp).Records(), []rec3{{RecordIsExclude, 2, g1}, {RecordToInclude, 1, g2}}},
		{"mld", MLD(mld).Records(), []rec3{{RecordIsExclude, 1, m1}, {RecordAllowNew, 3, m2}}},
		{"igmp cut in the last record", IGMP(igmp[:len(igmp)-1]).Records(), []rec3{{RecordIsExclude, 2, g1}}},
	} {
		var got []rec3
		for r, ok := c.r.Next(); ok; r, ok = c.r.Next() {
			got = append(got, rec3{r.Type, r.Sources, r.Group})
		}
		truncated := len(c.want) == 1
		if len(got) != len(c.want) || c.r.Truncated != truncated {
			t.Fatalf("%s: %+v (truncated %v), want %+v", c.name, got, c.r.Truncated, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s: record %d %+v, want %+v", c.name, i, got[i], c.want[i])
			}
		}
	}
}
