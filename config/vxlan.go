package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/vswitch/vswitch/internal/pkt"
)

// VXLAN is a vxlan port's tunnel: Linux's `ip link add type vxlan id VNI
// local ADDR dstport PORT` and its static `bridge fdb append 00:00:00:00:00:00
// dst REMOTE` flood entries, for several VLANs at once.
type VXLAN struct {
	Local   netip.Addr        // underlay source address; unset: any
	DstPort uint16            // UDP port; 4789 when unset
	VNIs    map[uint16]uint32 // VLAN -> VNI
	Remotes []netip.Addr      // static VTEPs
	EVPN    bool              // remote VTEPs and MACs also from BGP EVPN routes
}

var vxlanKeys = []string{"local", "dstport", "vnis", "remotes", "evpn"}

// vxlanKey parses one of a vxlan port's own keys.
func (d *decoder) vxlanKey(key string, v *yaml.Node, kp string, x *VXLAN) {
	switch key {
	case "local":
		d.addr(v, kp, &x.Local)
	case "evpn":
		d.bool(v, kp, &x.EVPN)
	case "dstport":
		var n int
		d.int(v, kp, 1, 65535, &n)
		x.DstPort = uint16(n)
	case "vnis":
		if v.Kind != yaml.MappingNode {
			d.errf(v, kp, "must map VLANs to VNIs, like {10: 1010, 20: 1020}")
			return
		}
		x.VNIs = map[uint16]uint32{}
		seen := map[uint32]uint16{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			var vid uint16
			d.vlan(k, kp, &vid)
			s, ok := d.scalar(val, fmt.Sprintf("%s.%s", kp, k.Value))
			if !ok || vid == 0 {
				continue
			}
			vni, err := strconv.ParseUint(s, 10, 32)
			if err != nil || vni < 1 || vni > pkt.VXLANMaxVNI {
				d.errf(val, fmt.Sprintf("%s.%s", kp, k.Value), "%q is not a VNI (1-%d)", s, pkt.VXLANMaxVNI)
				continue
			}
			if other, dup := seen[uint32(vni)]; dup {
				d.errf(val, fmt.Sprintf("%s.%s", kp, k.Value), "VNI %d is already VLAN %d's", vni, other)
				continue
			}
			if _, dup := x.VNIs[vid]; dup {
				d.errf(k, kp, "VLAN %d listed twice", vid)
				continue
			}
			seen[uint32(vni)] = vid
			x.VNIs[vid] = uint32(vni)
		}
	case "remotes":
		d.seq(v, kp, func(i int, item *yaml.Node) {
			var a netip.Addr
			d.addr(item, fmt.Sprintf("%s[%d]", kp, i), &a)
			if !a.IsValid() {
				return
			}
			if !a.IsGlobalUnicast() && !a.IsLoopback() || a == netip.IPv4Unspecified() {
				d.errf(item, fmt.Sprintf("%s[%d]", kp, i), "%s is not a unicast address", a)
				return
			}
			if slices.Contains(x.Remotes, a) {
				d.errf(item, kp, "%s listed twice", a)
				return
			}
			x.Remotes = append(x.Remotes, a)
		})
	}
}

// checkVXLAN validates a vxlan port: the port is a trunk of its VNIs'
// VLANs (tagged inside the switch, untagged in the tunnel).
func (d *decoder) checkVXLAN(p *Port, n *yaml.Node, path string, set map[string]*yaml.Node) {
	for _, key := range []string{"vlan", "trunk", "native"} {
		if k := set[key]; k != nil {
			d.errf(k, path+"."+key, "a vxlan port carries the VLANs of its vnis map: %s does not apply", key)
		}
	}
	if set["vnis"] == nil {
		d.errf(n, path, "a vxlan port needs vnis: the VLANs it carries and their VNIs, like {10: 1010}")
	}
	if len(p.VXLAN.Remotes) == 0 && !p.VXLAN.EVPN {
		d.errf(n, path, "a vxlan port needs remotes: the VTEPs to send to (or evpn: true to learn them)")
	}
	if p.VXLAN.DstPort == 0 {
		p.VXLAN.DstPort = pkt.VXLANPort
	}
	p.Trunk, p.VLAN, p.Native = nil, 0, 0
	for vid := range p.VXLAN.VNIs {
		p.Trunk = append(p.Trunk, vid)
	}
	slices.Sort(p.Trunk)
}
