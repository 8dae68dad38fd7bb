package config

import (
	"fmt"
	"net/netip"

	"go.yaml.in/yaml/v3"
)

// BGP is the embedded BGP speaker of EVPN vxlan ports: FRR's `router bgp
// ASN` with `bgp router-id` and its neighbors, address family l2vpn evpn.
type BGP struct {
	ASN       uint32
	RouterID  netip.Addr
	Port      int // TCP port to listen on; 179 by default; -1: do not listen
	Neighbors []BGPNeighbor
	Line      int
}

// BGPNeighbor is one peer.
type BGPNeighbor struct {
	Address netip.Addr
	ASN     uint32
	Port    int // 0: 179
	Line    int
}

func (d *decoder) asn(v *yaml.Node, key string, dst *uint32) {
	var n int
	d.int(v, key, 1, 1<<32-1, &n)
	*dst = uint32(n)
}

func (d *decoder) bgp(k, n *yaml.Node) *BGP {
	b := &BGP{Line: k.Line, Port: 179}
	set := map[string]bool{}
	d.fields(n, "bgp", "bgp", []string{"asn", "router_id", "listen_port", "neighbors"}, func(key string, _, v *yaml.Node) {
		set[key] = true
		kp := "bgp." + key
		switch key {
		case "asn":
			d.asn(v, kp, &b.ASN)
		case "router_id":
			d.addr(v, kp, &b.RouterID)
		case "listen_port":
			d.int(v, kp, -1, 65535, &b.Port)
			if b.Port == 0 {
				d.errf(v, kp, "0 is not a port: -1 turns listening off")
			}
		case "neighbors":
			d.seq(v, kp, func(i int, item *yaml.Node) {
				p := fmt.Sprintf("%s[%d]", kp, i)
				nb := BGPNeighbor{Line: item.Line}
				has := map[string]bool{}
				d.fields(item, p, "a neighbor", []string{"address", "asn", "port"}, func(k string, _, v *yaml.Node) {
					has[k] = true
					switch k {
					case "address":
						d.addr(v, p+".address", &nb.Address)
					case "asn":
						d.asn(v, p+".asn", &nb.ASN)
					case "port":
						d.int(v, p+".port", 1, 65535, &nb.Port)
					}
				})
				if !has["address"] || !has["asn"] {
					d.errf(item, p, "a neighbor needs address and asn")
				}
				for _, o := range b.Neighbors {
					if o.Address == nb.Address && nb.Address.IsValid() {
						d.errf(item, p+".address", "%s is already a neighbor (line %d)", nb.Address, o.Line)
					}
				}
				b.Neighbors = append(b.Neighbors, nb)
			})
		}
	})
	if !set["asn"] || !set["router_id"] {
		d.errf(k, "bgp", "bgp needs asn and router_id")
	}
	return b
}

// checkEVPN ties evpn ports to the bgp key.
func (d *decoder) checkEVPN(c *Config) {
	first := 0
	for i, p := range c.Ports {
		if !p.VXLAN.EVPN {
			continue
		}
		if c.BGP == nil {
			d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Key: fmt.Sprintf("ports[%d].evpn", i), Msg: "evpn needs the top-level bgp key (asn, router_id, neighbors)"})
		}
		if first != 0 {
			d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Key: fmt.Sprintf("ports[%d].evpn", i), Msg: fmt.Sprintf("one vxlan port runs EVPN, and the port on line %d already does: give it all the VNIs", first)})
		}
		first = p.Line
	}
}
