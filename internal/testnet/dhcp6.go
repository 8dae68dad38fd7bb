package testnet

import (
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// DHCPv6Client is a DHCPv6 client message as a test crafts it: the DUID
// duid, the server id serverID unless it is nil, Rapid Commit if rapid,
// and, unless typ is INFORMATION-REQUEST, an IA_NA (IAID iaid, T1 and T2
// 0) holding addr if it is valid.
func DHCPv6Client(typ uint8, xid uint32, duid, serverID []byte, rapid bool, iaid uint32, addr netip.Addr) []byte {
	w := pkt.DHCPv6Writer{B: make([]byte, 256)}
	w.Header(typ, xid)
	w.Option(pkt.DHCPv6OptClientID, duid)
	if serverID != nil {
		w.Option(pkt.DHCPv6OptServerID, serverID)
	}
	if rapid {
		w.Option(pkt.DHCPv6OptRapidCommit, nil)
	}
	if typ != pkt.DHCPv6InfoRequest {
		at := w.Begin(pkt.DHCPv6OptIANA)
		w.U32(iaid)
		w.U32(0)
		w.U32(0)
		if addr.IsValid() {
			ad := w.Begin(pkt.DHCPv6OptIAAddr)
			w.Addr(addr)
			w.U32(0)
			w.U32(0)
			w.End(ad)
		}
		w.End(at)
	}
	return w.B[:w.N]
}
