// Package gateway is the in-process router on each network: an internal
// switch port with its own MAC on the network's VLAN (like virbr0's), that
// answers ARP for the gateway address, keeps a bounded neighbour cache,
// replies to ICMP echo, serves DHCP through package dhcp, hands DNS on
// port 53 to package dns (dns.go: a copy onto its queue), and answers
// anything else addressed to it as a Linux host would (ICMP port or
// protocol unreachable, TCP RST) or not at all.
//
// Nothing a guest sends may panic it or grow its memory: every reply comes
// from the frame pool onto a bounded queue (full: dropped and counted),
// the neighbour cache has a fixed size, and ICMP errors are rate limited.
// On nat and routed networks it routes to and from an Uplink (uplink.go),
// masquerading through package nat; it never routes between networks. An
// uplink's outside link is a routed switch port (vswitch.Router): the
// switch's reader and writer move its frames, the uplink only decides.
// It routes only packets whose source is a guest address of the network
// (rp_filter), and learns neighbours only from ARP and DHCP ACKs, never
// from an IP packet's source: a guest lying about its address gets
// nobody else's traffic.
// DHCP relay agents are answered at giaddr, port 67 (relay.go); a port
// is trusted as a relay by the mark the switch puts on its frames, never
// by a MAC.
// With Config.Querier it is the network's IGMP and MLD querier
// (querier.go) for the switch's snooping; its queries are rate-bounded and
// a lower querier on the network silences it.
// A network's mode is config.Mode, parsed once by package config (its
// only use of config: the type, never the parser).
// A network's Port is a vswitch.TryWriter: the switch hands it frames
// from the goroutine that read them, so what it does with a frame must
// never wait (durable lease writes are the store goroutine's). It is a
// vswitch.Injector too: what the uplink delivers to a guest is forwarded
// by the uplink's reader goroutine through the port's Ingress, not queued
// for the port's own reader.
package gateway
