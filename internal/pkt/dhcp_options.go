package pkt

import (
	"encoding/binary"
	"net/netip"
)

// DHCPOptionSet is what vswitch reads from a DHCP message's options,
// parsed in one pass for the server and the uplink's client alike. Byte
// slices alias the message. An option with a wrong length is ignored, as
// if absent; a walk that runs past the end sets Malformed.
type DHCPOptionSet struct {
	Type         uint8      // 53; 0 if absent
	RequestedIP  netip.Addr // 50
	ServerID     netip.Addr // 54
	Router       netip.Addr // 3, the first one
	MaskBits     int        // 1, as a prefix length (its leading one bits); -1 if absent
	LeaseTime    uint32     // 51, seconds; 0 if absent
	MaxSize      int        // 57; 0 if absent
	ClientID     []byte     // 61
	Hostname     []byte     // 12, as sent (not sanitised)
	ParamRequest []byte     // 55
	HasParams    bool       // 55 present (even empty)
	RelayAgent   []byte     // 82, the data as the relay sent it; nil if absent
	Malformed    bool
}

// ParseOptions reads the options of a valid message. It allocates nothing.
func (d DHCP) ParseOptions() DHCPOptionSet {
	o := DHCPOptionSet{MaskBits: -1}
	it := d.Options()
	for it.Next() {
		v := it.Data()
		switch it.Code() {
		case OptMessageType:
			if len(v) == 1 {
				o.Type = v[0]
			}
		case OptRequestedIP:
			if len(v) == 4 {
				o.RequestedIP = netip.AddrFrom4([4]byte(v))
			}
		case OptServerID:
			if len(v) == 4 {
				o.ServerID = netip.AddrFrom4([4]byte(v))
			}
		case OptRouter:
			if len(v) >= 4 {
				o.Router = netip.AddrFrom4([4]byte(v[:4]))
			}
		case OptSubnetMask:
			if len(v) == 4 {
				o.MaskBits = maskBits(binary.BigEndian.Uint32(v))
			}
		case OptLeaseTime:
			if len(v) == 4 {
				o.LeaseTime = binary.BigEndian.Uint32(v)
			}
		case OptMaxSize:
			if len(v) == 2 {
				o.MaxSize = int(binary.BigEndian.Uint16(v))
			}
		case OptClientID:
			if len(v) > 0 {
				o.ClientID = v
			}
		case OptHostname:
			o.Hostname = v
		case OptParamRequest:
			o.ParamRequest, o.HasParams = v, true
		case OptRelayAgent:
			o.RelayAgent = v
		}
	}
	o.Malformed = it.Malformed()
	return o
}

// maskBits is the prefix length of a netmask: its leading one bits.
func maskBits(m uint32) int {
	bits := 0
	for m&0x80000000 != 0 {
		bits++
		m <<= 1
	}
	return bits
}
