// Package autoconf6 configures an uplink's IPv6 from the outside network
// (uplink `address6: auto`), as a Linux host does with accept_ra and a
// DHCPv6 client: it solicits routers, forms an address by SLAAC from an
// advertised /64 or leases one by DHCPv6 (the RA's M flag), asks DHCPv6
// for DNS servers (the O flag), checks each address by duplicate address
// detection, and learns the default router, the link MTU and the DNS
// servers, with their lifetimes.
//
// The uplink drives it: every frame the uplink receives goes to
// Client.Handle, a timer calls Client.Tick, the frames to send come out
// of Config.Send, and the uplink reads the result with Client.State, a
// lock-free snapshot. The package does no I/O of its own and starts no
// goroutine.
//
// It must never trust the outside network: every message is validated
// as RFC 4861, RFC 4862 and RFC 8415 say (router advertisements only
// from a link-local source with hop limit 255), and whatever it refuses
// is counted with a typed reason (DropReason), never a panic. What it
// keeps is bounded (MaxPrefixes, MaxRouters, MaxDNS), so a hostile
// network sending thousands of advertisements cannot make it grow.
// Handle never allocates for an ordinary router advertisement, and
// returns at once for frames that are not autoconfiguration. It must not
// import switch/, gateway/ or any package above internal/pkt.
package autoconf6
