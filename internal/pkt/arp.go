package pkt

import (
	"encoding/binary"
	"net/netip"
)

// ARP geometry for Ethernet/IPv4.
const (
	ARPLen     = 28
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a view of an Ethernet/IPv4 ARP packet; check Valid first.
type ARP []byte

// Valid reports whether a is a complete Ethernet/IPv4 ARP packet.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen && binary.BigEndian.Uint16(a[0:]) == 1 &&
		binary.BigEndian.Uint16(a[2:]) == TypeIPv4 && a[4] == 6 && a[5] == 4
}

func (a ARP) Op() uint16           { return binary.BigEndian.Uint16(a[6:]) }
func (a ARP) SenderMAC() MAC       { return MAC(a[8:14]) }
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[14:18])) }
func (a ARP) TargetMAC() MAC       { return MAC(a[18:24]) }
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[24:28])) }

// ARPFields describes a packet for Encode.
type ARPFields struct {
	Op                   uint16
	SenderMAC, TargetMAC MAC
	SenderIP, TargetIP   netip.Addr // IPv4
}

// Encode writes f into a, which must be ARPLen long.
func (a ARP) Encode(f *ARPFields) {
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], TypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], f.Op)
	copy(a[8:14], f.SenderMAC[:])
	s, t := f.SenderIP.As4(), f.TargetIP.As4()
	copy(a[14:18], s[:])
	copy(a[18:24], f.TargetMAC[:])
	copy(a[24:28], t[:])
}
