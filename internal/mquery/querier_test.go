package mquery

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestRecordsAsk: of an IGMPv3 report's records, a leave (TO_IN {}) and
// those that drop sources (TO_IN with sources, BLOCK) get their group
// asked; joins (IS_IN, ALLOW, IS_EX, TO_EX) do not.
func TestRecordsAsk(t *testing.T) {
	src := []byte{10, 9, 9, 9}
	types := []uint8{pkt.RecordIsInclude, pkt.RecordIsExclude, pkt.RecordToInclude, pkt.RecordToExclude, pkt.RecordAllowNew, pkt.RecordBlockOld, pkt.RecordToInclude}
	msg := make([]byte, 8)
	msg[0] = pkt.IGMPv3Report
	binary.BigEndian.PutUint16(msg[6:], uint16(len(types)))
	for i, typ := range types {
		nsrc := 1
		if i == len(types)-1 {
			nsrc = 0 // TO_IN {}: a leave
		}
		msg = append(msg, typ, 0, 0, byte(nsrc), 239, 0, 0, byte(i+1))
		if nsrc == 1 {
			msg = append(msg, src...)
		}
	}
	binary.BigEndian.PutUint16(msg[2:], ^pkt.Checksum(msg, 0))
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen, 128)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MAC{1, 0, 0x5e, 0, 0, 22}, Src: pkt.MAC{0x52, 0x54, 0, 0, 0, 1}, Type: pkt.TypeIPv4})
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(pkt.IPv4MinLen + len(msg)), TTL: 1, Protocol: pkt.ProtoIGMP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("224.0.0.22")})
	b = append(b, msg...)
	var got []netip.Addr
	q := New(pkt.MAC{2, 1, 2, 3, 4, 5}, netip.Addr{}, func(fr []byte) {
		got = append(got, pkt.IGMP(pkt.IPv4(pkt.Ethernet(fr).Payload()).Payload()).Group())
	})
	q.Observe(pkt.Ethernet(b), time.Unix(1000, 0))
	if fmt.Sprint(got) != "[239.0.0.3 239.0.0.6 239.0.0.7]" {
		t.Errorf("group queries for %v, want [239.0.0.3 239.0.0.6 239.0.0.7]", got)
	}
}
