package vswitch

import "github.com/vswitch/vswitch/internal/label"

// DropReason says why the switch did not deliver a frame. Each is a label
// value of vswitch_port_drops_total{reason}; docs/metrics.md lists them.
type DropReason uint8

const (
	DropRunt           DropReason = iota // shorter than an Ethernet header
	DropBadVLAN                          // truncated tag, or VID 4095
	DropVLANNotAllowed                   // a tag the port does not carry
	DropUntagged                         // untagged frame on a trunk without a native VLAN
	DropQinQ                             // stacked or 802.1ad tags where none are configured
	DropBadSrcMAC                        // multicast or all-zero source address
	DropSamePort                         // destination learned on the ingress port itself
	DropQueueFull                        // egress queue full: tail drop
	DropFDBLimit                         // source not learned: FDB or port MAC limit (frame still flooded)
	DropOversize                         // longer than the largest buffer
	DropTxError                          // the device refused the frame
	DropPortDown                         // egress port going away
	DropBadOffload                       // bad checksum/GSO metadata for a port that needs complete frames
	DropLocalMAC                         // source is the switch's own address (a gateway's MAC) from another port
	DropIsolated                         // between two isolated ports
	DropSpoofedMAC                       // a guarded port's frame from a MAC not its own
	DropSpoofedIP                        // a guarded port's IPv4 packet from an address not its own
	DropSpoofedARP                       // a guarded port's ARP claiming a MAC or address not its own
	DropGuardEtherType                   // a guarded port's frame neither IPv4 nor ARP (with ips or dhcp)
	DropMDBLimit                         // a report's group not joined: the port holds max_groups (the frame still goes to routers)
	DropMDBFull                          // a report's group not joined: the MDB is full (likewise)
	DropBadIGMP                          // IGMP message too short, truncated group record or bad checksum
	DropBadMLD                           // MLD message too short, truncated address record or bad checksum
	DropRAGuard                          // a router advertisement or redirect from an RA-guarded (guest) port
	DropSpoofedNA                        // a neighbour advertisement for the gateway's IPv6 address from another port
	DropSpoofedND                        // a guarded port's NS/NA/RS for an address or link-layer address not its own (guard6.go)
	DropMcastQuery                       // an IGMP or MLD query from a port that may not be a multicast router
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropRunt:           "runt",
	DropBadVLAN:        "bad_vlan",
	DropVLANNotAllowed: "vlan_not_allowed",
	DropUntagged:       "untagged_not_allowed",
	DropQinQ:           "qinq",
	DropBadSrcMAC:      "bad_src_mac",
	DropSamePort:       "same_port",
	DropQueueFull:      "queue_full",
	DropFDBLimit:       "fdb_limit",
	DropOversize:       "oversize",
	DropTxError:        "tx_error",
	DropPortDown:       "port_down",
	DropBadOffload:     "bad_offload",
	DropLocalMAC:       "local_mac",
	DropIsolated:       "isolated",
	DropSpoofedMAC:     "spoofed_mac",
	DropSpoofedIP:      "spoofed_ip",
	DropSpoofedARP:     "spoofed_arp",
	DropGuardEtherType: "guard_ethertype",
	DropMDBLimit:       "mdb_limit",
	DropMDBFull:        "mdb_full",
	DropBadIGMP:        "bad_igmp",
	DropBadMLD:         "bad_mld",
	DropRAGuard:        "ra_guard",
	DropSpoofedNA:      "spoofed_na",
	DropSpoofedND:      "spoofed_nd",
	DropMcastQuery:     "mcast_query_guest",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }
