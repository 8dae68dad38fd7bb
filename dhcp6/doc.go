// Package dhcp6 is vswitch's DHCPv6 server (RFC 8415) for a network with
// address6: stateful addresses from a range (IA_NA: SOLICIT, ADVERTISE,
// REQUEST, REPLY, RENEW, REBIND, RELEASE, DECLINE, CONFIRM, Rapid
// Commit) and static reservations by MAC or DUID, or, without a range,
// stateless service (INFORMATION-REQUEST answered with DNS servers and
// the domain search list).
//
// It works on message bytes (pkt.DHCPv6 views) and returns reply bytes;
// it does no network I/O (the gateway moves the frames). It must never
// hand one address to two clients, an address outside the range (or a
// reserved one to anyone but its host), or send a REPLY that binds or
// extends a lease before the lease is on disk: its leases live in the
// DHCPv4 server's dhcp.Store under dhcp.Key6 and are written by the same
// group commit (commit.go), so a kill -9 keeps every lease a client was
// told about.
//
// # Hostile clients
//
// A DUID is whatever the client says, so the limits key on the frame's
// source MAC, which the switch learned: a MAC's messages are
// rate-limited before they are parsed (dhcp.RateLimiter), and it holds at
// most Config.MaxLeasesPerMAC leases and offers at once, which bounds any
// one DUID as well. Only the client (DUID and IAID) holding a lease may
// renew, release or decline it. Memory is bounded by maxLeases, the
// quarantine (maxDeclined) and the commit buffers (maxPending). Every
// message it does not serve is a counted DropReason.
package dhcp6
