//go:build !race

package vswitch

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestQuerierPortAllocs: what the switch hands its querier's port (data
// nobody joined, reports, another switch's query, unicast) costs no
// allocation.
func TestQuerierPortAllocs(t *testing.T) {
	g6 := addr("ff02::1:ff00:2")
	qp := newQuerierPort(querierMAC)
	defer qp.Close()
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"dad probe", udpTo(2, g6)},
		{"igmp report", igmpFrame(1, addr("239.1.2.3"), igmpMsg(pkt.IGMPv2Report, 0, addr("239.1.2.3")))},
		{"mldv2 report", mldFrame(3, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordToExclude, g6, 0}}))},
		{"query from 0.0.0.0", ip4Frame(mac(7), netip.IPv4Unspecified(), igmpAllHosts, pkt.ProtoIGMP, igmpMsg(pkt.IGMPQuery, 10, netip.IPv4Unspecified()))},
		{"unicast", frame(mac(1), mac(2))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFrame()
			defer f.Release()
			f.SetData(tt.b)
			frames := []*Frame{f}
			if a := testing.AllocsPerRun(1000, func() { qp.WriteBatch(frames) }); a != 0 {
				t.Errorf("%v allocs per frame, want 0", a)
			}
		})
	}
	if n := qp.out.Take(make([]*Frame, BatchSize)); n != 0 {
		t.Errorf("%d queries queued, want 0", n)
	}
}
