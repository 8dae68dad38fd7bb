package config

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Querier is multicast_querier: the VLANs with no network on which the
// switch itself is the IGMP and MLD querier (the Linux bridge's
// mcast_querier). The zero value is off, the default.
type Querier struct {
	// All: every VLAN a port carries that has no network
	// (multicast_querier: true).
	All bool
	// VLANs listed (multicast_querier: [10, 20]).
	VLANs []uint16
	Line  int
}

// QuerierVLANs is the sorted list of VLANs on which the switch runs its querier:
// the listed ones, or with All every VLAN a port carries (access, native
// or trunked) but a network's, whose gateway is its querier.
func (c *Config) QuerierVLANs() []uint16 {
	q := c.MulticastQuerier
	if !q.All {
		return slices.Clone(q.VLANs)
	}
	var on [4096]bool
	for _, p := range c.Ports {
		if len(p.Trunk) == 0 {
			on[max(p.VLAN, 1)] = true
			continue
		}
		for _, v := range p.Trunk {
			on[v] = true
		}
		on[p.Native] = true
	}
	for _, n := range c.Networks {
		on[n.VLAN] = false
	}
	var out []uint16
	for v := 1; v < len(on); v++ {
		if on[v] {
			out = append(out, uint16(v))
		}
	}
	return out
}

// querier parses multicast_querier: true, false or a list of VLAN IDs.
func (d *decoder) querier(v *yaml.Node, key string) Querier {
	q := Querier{Line: v.Line}
	if v.Kind == yaml.ScalarNode {
		d.bool(v, key, &q.All)
		return q
	}
	if v.Kind != yaml.SequenceNode {
		d.errf(v, key, "must be true, false or a list of VLAN IDs")
		return q
	}
	d.seq(v, key, func(i int, item *yaml.Node) {
		var vid uint16
		d.vlan(item, fmt.Sprintf("%s[%d]", key, i), &vid)
		if vid == 0 {
			return
		}
		if slices.Contains(q.VLANs, vid) {
			d.errf(item, key, "VLAN %d listed twice", vid)
			return
		}
		q.VLANs = append(q.VLANs, vid)
	})
	slices.Sort(q.VLANs)
	return q
}

// checkQuerier: the querier serves snooping, and a network's VLAN has
// its gateway as querier already.
func (d *decoder) checkQuerier(c *Config) {
	q := c.MulticastQuerier
	if !q.All && len(q.VLANs) == 0 {
		return
	}
	if !c.MulticastSnooping {
		d.errs = append(d.errs, &Error{File: d.file, Line: q.Line, Key: "multicast_querier",
			Msg: "needs multicast_snooping: the querier only keeps the snooping table fresh"})
	}
	for _, vid := range q.VLANs {
		for _, n := range c.Networks {
			if n.VLAN == vid {
				d.errs = append(d.errs, &Error{File: d.file, Line: q.Line, Key: "multicast_querier",
					Msg: fmt.Sprintf("VLAN %d has network %s (line %d), whose gateway is its querier", vid, n.Name, n.Line)})
			}
		}
	}
}
