// Package mquery is an IGMP and MLD querier (RFC 3376 6, RFC 3810 7) for
// one link: the query timers, the querier election and the query frames.
// Both the gateway (the querier of its network) and the switch (the
// querier of a VLAN with no network, as the Linux bridge's mcast_querier)
// run one; each gives it a way to send a frame and shows it the multicast
// frames of its link.
//
// It sits below the switch and the gateway and imports neither. It is
// control-path code: a query goes out a few times a minute at most, and
// group-specific queries are rate limited, so a guest's leaves cannot be
// turned into a query flood. Observe, called for every multicast frame the
// link delivers, allocates nothing.
package mquery
