package tap

import (
	"net/netip"
	"slices"

	"github.com/vswitch/vswitch/internal/pkt"
)

// vxlanPeers is who a tunnel port floods to and hears from: immutable,
// swapped whole when a control plane changes it, so the frame path reads
// it with one atomic load.
type vxlanPeers struct {
	flood [4096][]uint32      // by VLAN: static remotes plus the VNI's learned VTEPs
	known map[uint32]struct{} // every VTEP a datagram may come from
	evpn  map[uint16][]uint32 // by VLAN: the control plane's VTEPs only
}

func newPeers(static []uint32, evpn map[uint16][]uint32) *vxlanPeers {
	p := &vxlanPeers{known: map[uint32]struct{}{}, evpn: evpn}
	for _, a := range static {
		p.known[a] = struct{}{}
	}
	for vid := range p.flood {
		p.flood[vid] = static
	}
	for vid, list := range evpn {
		all := slices.Clone(static)
		for _, a := range list {
			p.known[a] = struct{}{}
			if !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
		p.flood[vid] = all
	}
	return p
}

// SetFlood sets the VTEPs a control plane (EVPN type-3 routes) names for
// the VLAN whose VNI is vni: flooded to besides the static remotes, and
// heard from. It is not for the frame path (it rebuilds the peer set).
func (v *VXLAN) SetFlood(vni uint32, vteps []netip.Addr) {
	vid, ok := v.vidOf[vni]
	if !ok {
		return
	}
	old := v.peers.Load()
	evpn := make(map[uint16][]uint32, len(old.evpn)+1)
	for k, l := range old.evpn {
		evpn[k] = l
	}
	var list []uint32
	for _, a := range vteps {
		if a.Is4() {
			list = append(list, addr4(a))
		}
	}
	if len(list) == 0 {
		delete(evpn, vid)
	} else {
		evpn[vid] = list
	}
	v.peers.Store(newPeers(v.static, evpn))
}

// SetRemoteMAC pins mac on the VLAN of vni behind vtep (an EVPN type-2
// route): not aged, not moved by data-plane learning.
func (v *VXLAN) SetRemoteMAC(vni uint32, mac pkt.MAC, vtep netip.Addr) {
	if vid, ok := v.vidOf[vni]; ok && vtep.Is4() {
		v.vteps.pin(vid, mac, addr4(vtep))
	}
}

// DelRemoteMAC removes a pinned MAC (the route was withdrawn).
func (v *VXLAN) DelRemoteMAC(vni uint32, mac pkt.MAC) {
	if vid, ok := v.vidOf[vni]; ok {
		v.vteps.unpin(vid, mac)
	}
}

// VNIs is the port's VLAN to VNI map.
func (v *VXLAN) VNIs() map[uint16]uint32 {
	out := make(map[uint16]uint32, len(v.vidOf))
	for vni, vid := range v.vidOf {
		out[vid] = vni
	}
	return out
}

// Local is the underlay address the port sends from (unspecified: any).
func (v *VXLAN) Local() netip.Addr { return v.local }
