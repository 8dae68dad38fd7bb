// Package pkt holds zero-copy views of the packet headers vswitch reads and
// writes on the frame path: Ethernet, 802.1Q, the virtio-net header, and
// (as the gateway grows) ARP, IPv4, TCP, UDP and ICMP.
//
// A view is a named []byte with accessors; validate its length once with
// Valid, then the accessors trust it. Nothing here allocates, locks, logs or
// returns an error value on the frame path: callers turn a failed Valid into
// a counted drop reason. Every parser in this package has a fuzz target.
package pkt
