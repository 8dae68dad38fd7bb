package pkt

import "net/netip"

// IP protocol numbers (IPv4 Protocol, IPv6 Next Header): the one place
// they are defined.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Network is the method set every network-layer view has: what a
// transport view and a rewrite need from the header in front of it: IPv4
// and IPv6 (whose PayloadProtocol is the upper-layer protocol after any
// extension headers).
//
// Frame-path code takes the concrete view, or uses Network as a type
// constraint (func f[N Network](n N)): boxing a view in the interface can
// allocate.
type Network interface {
	Src() netip.Addr
	Dst() netip.Addr
	PayloadProtocol() uint8
	Payload() []byte
	PseudoHeaderChecksum(proto uint8, length uint16) uint16
}

// Transport is the method set of the views whose checksum covers a
// pseudo-header and whose flows are told apart by ports: TCP and UDP.
// fullChecksum says what the checksum field holds: true for a complete
// checksum, false for a partial one (a virtio-net header's NEEDS_CSUM:
// the uncomplemented pseudo-header sum, finished later by whoever sums
// the rest).
type Transport interface {
	SrcPort() uint16
	DstPort() uint16
	Checksum() uint16
	SetSrcPort(p uint16, fullChecksum bool)
	SetDstPort(p uint16, fullChecksum bool)
	UpdateChecksumPseudoHeaderAddress(old, new netip.Addr, fullChecksum bool)
	ComputeChecksum(pseudo uint16) uint16
	SetChecksum(pseudo uint16)
}

var (
	_ Transport = TCP(nil)
	_ Transport = UDP(nil)
)
