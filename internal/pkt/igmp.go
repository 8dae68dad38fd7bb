package pkt

import (
	"encoding/binary"
	"net/netip"
)

// ProtoIGMP is the IPv4 protocol number of IGMP. It lives here rather than
// beside the others in network.go so this file stands alone.
const ProtoIGMP = 2

// IGMP message types (RFC 1112, RFC 2236, RFC 3376) and geometry.
const (
	IGMPQuery       = 0x11
	IGMPv1Report    = 0x12
	IGMPv2Report    = 0x16
	IGMPv2Leave     = 0x17
	IGMPv3Report    = 0x22
	IGMPMinLen      = 8  // v1/v2 messages, and a v3 report's fixed part
	IGMPv3QueryLen  = 12 // a v3 query without sources
	igmpRecordsOff  = 8
	groupRecordHead = 4 // type, aux data len, number of sources
)

// Group record types of IGMPv3 and MLDv2 reports (RFC 3376 4.2.12,
// RFC 3810 5.2.12): the same numbers in both.
const (
	RecordIsInclude   = 1
	RecordIsExclude   = 2
	RecordToInclude   = 3
	RecordToExclude   = 4
	RecordAllowNew    = 5
	RecordBlockOld    = 6
	recordTypeInvalid = 0
)

// IGMP is a view of an IGMP message (the IPv4 payload); check Valid first.
type IGMP []byte

// Valid checks the length a message of its type needs. A v3 report's group
// records are checked as they are read (Records).
func (b IGMP) Valid() bool { return len(b) >= IGMPMinLen }

func (b IGMP) Type() uint8    { return b[0] }
func (b IGMP) MaxResp() uint8 { return b[1] }

// MaxRespTenths decodes a query's maximum response time in tenths of a
// second: v3 codes from 128 on are floating point (RFC 3376 4.1.1), and
// IGMPv1 queries (code 0) mean 10 s.
func (b IGMP) MaxRespTenths() int {
	c := int(b[1])
	switch {
	case c == 0:
		return 100
	case c < 128 || !b.IsV3Query():
		return c
	}
	return (c&0xf | 0x10) << ((c>>4)&7 + 3)
}

// Group is the group address of a v1/v2 message or a query (0.0.0.0 in a
// general query; meaningless in a v3 report).
func (b IGMP) Group() netip.Addr { return netip.AddrFrom4([4]byte(b[4:8])) }

// ChecksumOK verifies the checksum over the whole message.
func (b IGMP) ChecksumOK() bool { return Checksum(b, 0) == 0xffff }

// IsV3Query reports whether a query is IGMPv3's (RFC 3376 7.1: 12 octets or
// more; v2 queries are exactly 8).
func (b IGMP) IsV3Query() bool { return b[0] == IGMPQuery && len(b) >= IGMPv3QueryLen }

// Records walks a v3 report's group records.
func (b IGMP) Records() GroupRecords {
	return GroupRecords{b: b[igmpRecordsOff:], left: int(binary.BigEndian.Uint16(b[6:])), addrLen: 4}
}

// IGMPQueryFields describe a query to build.
type IGMPQueryFields struct {
	Group   netip.Addr // zero or 0.0.0.0: a general query
	MaxResp uint8      // tenths of a second (v3: a code; values below 128 are literal)
	V3      bool
	QRV     uint8 // v3: robustness variable (0..7)
	QQIC    uint8 // v3: querier's query interval code (seconds below 128)
}

// EncodeIGMPQuery writes a query into b (IGMPMinLen or IGMPv3QueryLen
// bytes) with its checksum and returns its length.
func EncodeIGMPQuery(b []byte, f *IGMPQueryFields) int {
	n := IGMPMinLen
	if f.V3 {
		n = IGMPv3QueryLen
	}
	clear(b[:n])
	b[0], b[1] = IGMPQuery, f.MaxResp
	if f.Group.Is4() {
		g := f.Group.As4()
		copy(b[4:8], g[:])
	}
	if f.V3 {
		b[8], b[9] = f.QRV&7, f.QQIC
	}
	binary.BigEndian.PutUint16(b[2:], ^Checksum(b[:n], 0))
	return n
}

// GroupRecords iterates over the group records of an IGMPv3 or MLDv2
// report. It never reads past the message: a record that does not fit ends
// the walk and sets Truncated.
type GroupRecords struct {
	b         []byte
	left      int
	addrLen   int
	Truncated bool
}

// GroupRecord is one record: its type, group address and sources.
type GroupRecord struct {
	Type    uint8
	Sources int
	Group   netip.Addr
	srcs    []byte // Sources addresses of the group's length, in the message
}

// Source is the record's source i (0 <= i < Sources), of the group's
// family.
func (r GroupRecord) Source(i int) netip.Addr {
	if r.Group.Is4() {
		return netip.AddrFrom4([4]byte(r.srcs[i*4:]))
	}
	return netip.AddrFrom16([16]byte(r.srcs[i*16:]))
}

// Next returns the next record, or false at the end (or on a truncated
// record).
func (r *GroupRecords) Next() (GroupRecord, bool) {
	if r.left <= 0 {
		return GroupRecord{}, false
	}
	h := groupRecordHead + r.addrLen
	if len(r.b) < h {
		r.Truncated, r.left = true, 0
		return GroupRecord{}, false
	}
	aux := int(r.b[1]) * 4
	nsrc := int(binary.BigEndian.Uint16(r.b[2:]))
	size := h + nsrc*r.addrLen + aux
	if len(r.b) < size {
		r.Truncated, r.left = true, 0
		return GroupRecord{}, false
	}
	rec := GroupRecord{Type: r.b[0], Sources: nsrc, srcs: r.b[h : h+nsrc*r.addrLen]}
	if r.addrLen == 4 {
		rec.Group = netip.AddrFrom4([4]byte(r.b[4:8]))
	} else {
		rec.Group = netip.AddrFrom16([16]byte(r.b[4:20]))
	}
	r.b = r.b[size:]
	r.left--
	return rec, true
}

// Joins reports whether a record leaves the host listening to its group
// (from some or all sources): a switch without source filtering forwards
// the group to it. TO_INCLUDE or IS_INCLUDE with no sources is a leave;
// BLOCK_OLD changes only the sources.
func (r GroupRecord) Joins() (join, leave bool) {
	switch r.Type {
	case RecordIsExclude, RecordToExclude:
		return true, false
	case RecordIsInclude, RecordToInclude:
		return r.Sources > 0, r.Sources == 0
	case RecordAllowNew:
		return r.Sources > 0, false
	}
	return false, false
}

// MulticastMAC is the Ethernet address of IPv4 or IPv6 group g (RFC 1112
// 6.4, RFC 2464 7).
func MulticastMAC(g netip.Addr) MAC {
	if g.Is4() {
		a := g.As4()
		return MAC{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
	}
	a := g.As16()
	return MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}
