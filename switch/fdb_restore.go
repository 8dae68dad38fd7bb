package vswitch

import (
	"slices"

	"github.com/vswitch/vswitch/internal/pkt"
)

// RestoreLearned learns mac on vid at port as a frame from it seen at
// seen (unix seconds) would have: a binary upgrade carries the old
// process's table over, so the new one does not flood every destination
// until it has heard from it again. An entry the port could not have
// learned is skipped: a port missing or not in vid, a multicast or zero
// MAC, a guarded port (its frames are screened before they are learned),
// the switch's own address, a full table or port. It reports whether
// the entry is in the table now.
func (s *Switch) RestoreLearned(port string, vid uint16, mac pkt.MAC, seen int64) bool {
	p, ok := s.topo.Load().byName[port]
	if !ok || p.guard != nil || mac.IsMulticast() || mac.IsZero() || !carries(p.vlanCfg, vid) {
		return false
	}
	return s.fdb.learn(p, vid, mac, seen) == learnOK
}

// carries reports whether a port of v is a member of vid.
func carries(v VLANConfig, vid uint16) bool {
	if !v.Trunk {
		return vid == v.PVID
	}
	return vid == v.Native && vid != 0 || slices.Contains(v.Allowed, vid)
}
