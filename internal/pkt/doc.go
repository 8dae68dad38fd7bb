// Package pkt holds zero-copy views of the packet headers vswitch reads and
// writes on the frame path: Ethernet, 802.1Q, the virtio-net header, ARP,
// IPv4, IPv6 (with a bounded extension-header walk), TCP, UDP, ICMPv4,
// ICMPv6 with the NDP messages and options, IGMP and MLD, the DHCP and
// DHCPv6 messages and the VXLAN header, with the Internet checksum.
//
// A view is a named []byte with accessors; validate its length once with
// Valid, then the accessors trust it. Nothing here allocates, locks, logs or
// returns an error value on the frame path: callers turn a failed Valid into
// a counted drop reason. Every parser in this package has a fuzz target.
//
// # Rewriting headers
//
// Setters keep checksums right incrementally (RFC 1624), so a rewrite
// costs a few additions, not a pass over the packet. IPv4's setters (SetSrc,
// SetDst, SetTTL, DecTTL, SetID, SetTotalLen) update the header checksum.
// The TCP and UDP checksums cover a pseudo-header with the addresses, so a
// NAT that changes an address tells the L4 view too:
//
//	old := ip.Src()
//	ip.SetSrc(outside)
//	TCP(ip.Payload()).UpdateChecksumPseudoHeaderAddress(old, outside, !partial)
//
// fullChecksum (the last argument there, and of SetSrcPort/SetDstPort)
// says what the L4 checksum field holds. true: a complete checksum.
// false: a partial one, as a virtio-net header with NEEDS_CSUM leaves it:
// the uncomplemented pseudo-header sum, which whoever finishes the
// checksum sums the segment onto. A partial sum follows address changes
// but not port changes (ports are not in the pseudo-header). UDP over
// IPv4 keeps a complete checksum of 0 ("none") at 0 and stores a computed
// 0 as 0xffff. ICMPv4's and ICMPv6's SetIdent and SetSeq update their
// checksum.
// ComputeChecksum and SetChecksum compute a checksum in full, for headers
// built by hand: TCP's Encode and header setters (SetSeq, SetAck,
// SetFlags, SetWindow, with fullChecksum false) then one SetChecksum, to
// build a reply or cut a segment.
//
// # IPv6
//
// Protocol numbers (ProtoTCP, ...) and TCP flags (TCPFlagSYN, ...) are
// defined here only. A network view has the methods of Network (Src, Dst
// as netip.Addr, PayloadProtocol, Payload, PseudoHeaderChecksum); TCP and
// UDP have those of Transport and take addresses as netip.Addr, IPv4 or
// IPv6, so the IPv6 view sits in front of them unchanged. The
// interfaces document the shape and serve as type constraints; frame-path
// code calls the concrete views, since boxing a view can allocate. IPv6
// has no header checksum; its Payload and PayloadProtocol are the upper
// layer after the extension headers (ExtHeaders walks them, at most
// IPv6MaxExtHeaders). ICMPv6 sits beside ICMPv4 with the pseudo-header
// sum as an argument of its checksum methods; the NDP views (RS, RA, NS,
// NA, redirect) are named types over the same ICMPv6 bytes.
package pkt
