// Package dhcp is vswitch's DHCPv4 server: the address pool, static
// reservations, the lease state machine of RFC 2131 (DISCOVER, OFFER,
// REQUEST in its four flavours, ACK, NAK, DECLINE, RELEASE, INFORM), the
// options clients rely on, and a lease store that survives kill -9.
//
// It works on message bytes (pkt.DHCP views) and returns reply bytes; it
// does no network I/O (the gateway moves the frames). It must never hand
// out an address that another client holds, a static host's address to
// anyone else, or acknowledge a lease before it is on disk. Its memory is
// bounded by the size of its range: offers that are not taken expire.
package dhcp
