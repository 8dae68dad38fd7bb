package autoconf6

import "github.com/vswitch/vswitch/internal/label"

// DropReason says why the client refused a message, or an option of a
// router advertisement whose other options it took. Each is a label
// value; docs/metrics.md lists them.
type DropReason uint8

const (
	DropNotForUs        DropReason = iota // to another MAC or address (a promiscuous link)
	DropOwnFrame                          // from the client's own MAC: its own frame looped back
	DropHopLimit                          // NDP with a hop limit other than 255: routed here from off the link
	DropNotLinkLocal                      // a router advertisement from a source that is not link-local
	DropBadChecksum                       // ICMPv6 or UDP checksum does not verify
	DropBadNDP                            // NDP message too short, code not 0, malformed or zero-length option, bad RDNSS address
	DropSpoofedLLA                        // source link-layer address option that is not the frame's source MAC
	DropBadPrefix                         // a prefix option unusable for SLAAC: not /64, link-local or multicast, preferred > valid
	DropPrefixLimit                       // a new prefix while MaxPrefixes are held
	DropRouterLimit                       // a new router while MaxRouters are held
	DropBadMTU                            // an MTU option below 1280 or above the link's MTU
	DropDNSLimit                          // a DNS server while MaxDNS are held
	DropBadDHCP6                          // DHCPv6 reply malformed, not from port 547, or a bad IA
	DropDHCP6NotOurs                      // DHCPv6 reply to another transaction or client, or with no exchange running
	DropDHCP6Unexpected                   // DHCPv6 message the exchange does not wait for (type, server), or a failure status
	DropDHCP6NoAddrs                      // DHCPv6 advertise or reply without a usable address (NoAddrsAvail, link-local, multicast)
	DropDisabled                          // the link-local address is a duplicate: IPv6 is off on this link (RFC 4862 5.4.5)
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropNotForUs:        "not_for_us",
	DropOwnFrame:        "own_frame",
	DropHopLimit:        "bad_hop_limit",
	DropNotLinkLocal:    "not_link_local",
	DropBadChecksum:     "bad_checksum",
	DropBadNDP:          "bad_ndp",
	DropSpoofedLLA:      "spoofed_lla",
	DropBadPrefix:       "bad_prefix",
	DropPrefixLimit:     "prefix_limit",
	DropRouterLimit:     "router_limit",
	DropBadMTU:          "bad_mtu",
	DropDNSLimit:        "dns_limit",
	DropBadDHCP6:        "bad_dhcp6",
	DropDHCP6NotOurs:    "dhcp6_not_ours",
	DropDHCP6Unexpected: "dhcp6_unexpected",
	DropDHCP6NoAddrs:    "dhcp6_no_addrs",
	DropDisabled:        "disabled",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }

// Event is something that happened to the configuration, counted: a
// label value as DropReason is.
type Event uint8

const (
	EventRA            Event = iota // a router advertisement taken
	EventDADConflict                // an address (link-local, SLAAC or leased) found in use by another node
	EventAddrExpired                // an address's valid lifetime ran out
	EventRouterExpired              // a default router's lifetime ran out
	EventDHCP6Bound                 // DHCPv6 bound an address (REQUEST answered)
	EventDHCP6Renewed               // a RENEW or REBIND answered
	EventDHCP6Declined              // a leased address was a duplicate: DECLINE sent
	NumEvents
)

var eventNames = [NumEvents]string{
	EventRA:            "ra",
	EventDADConflict:   "dad_conflict",
	EventAddrExpired:   "addr_expired",
	EventRouterExpired: "router_expired",
	EventDHCP6Bound:    "dhcp6_bound",
	EventDHCP6Renewed:  "dhcp6_renewed",
	EventDHCP6Declined: "dhcp6_declined",
}

// String is the metric label value.
func (e Event) String() string { return label.Of(eventNames[:], e) }
