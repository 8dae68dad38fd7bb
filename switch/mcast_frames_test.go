package vswitch

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Builders of IGMP and MLD frames for the snooping tests.

// ip4Frame is an untagged IPv4 frame from src to dst carrying payload.
func ip4Frame(src pkt.MAC, srcIP, dst netip.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen+len(payload))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC(dst), Src: src, Type: pkt.TypeIPv4})
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(pkt.IPv4MinLen + len(payload)),
		TTL: 1, Protocol: proto, Src: srcIP, Dst: dst})
	copy(b[pkt.EthernetLen+pkt.IPv4MinLen:], payload)
	return b
}

// igmp builds an IGMP message of typ for group with a right checksum.
func igmpMsg(typ uint8, maxResp uint8, group netip.Addr) []byte {
	b := make([]byte, pkt.IGMPMinLen)
	b[0], b[1] = typ, maxResp
	a := group.As4()
	copy(b[4:], a[:])
	binary.BigEndian.PutUint16(b[2:], ^pkt.Checksum(b, 0))
	return b
}

type rec struct {
	typ     uint8
	group   netip.Addr
	sources int
}

// records builds an IGMPv3 (type 0x22) or MLDv2 (143) report body.
func reportV3(typ uint8, recs []rec) []byte {
	b := make([]byte, 8)
	b[0] = typ
	binary.BigEndian.PutUint16(b[6:], uint16(len(recs)))
	for _, r := range recs {
		h := []byte{r.typ, 0, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(r.sources))
		b = append(b, h...)
		a := r.group.AsSlice()
		b = append(b, a...)
		for range r.sources {
			b = append(b, make([]byte, len(a))...)
		}
	}
	return b
}

func igmpV3Report(recs ...rec) []byte {
	b := reportV3(pkt.IGMPv3Report, recs)
	binary.BigEndian.PutUint16(b[2:], ^pkt.Checksum(b, 0))
	return b
}

var (
	igmpAllHosts = netip.MustParseAddr("224.0.0.1")
	igmpV3Dst    = netip.MustParseAddr("224.0.0.22")
	mldV2Dst     = netip.MustParseAddr("ff02::16")
	allNodes6    = netip.MustParseAddr("ff02::1")
)

// igmpFrame wraps an IGMP message in a frame from host h (MAC mac(h),
// address 10.0.0.h) to dst.
func igmpFrame(h byte, dst netip.Addr, msg []byte) []byte {
	return ip4Frame(mac(h), netip.AddrFrom4([4]byte{10, 0, 0, h}), dst, pkt.ProtoIGMP, msg)
}

// ip6Frame is an IPv6 frame from host h (fe80::h) to dst; with hbh the
// payload follows a hop-by-hop header holding a router alert, as MLD's
// does.
func ip6Frame(h byte, dst netip.Addr, nh uint8, hbh bool, payload []byte) []byte {
	src := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: h})
	var ext []byte
	if hbh {
		ext = []byte{nh, 0, 5, 2, 0, 0, 1, 0} // router alert (MLD), PadN
		nh = 0
	}
	b := make([]byte, pkt.EthernetLen+40)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC(dst), Src: mac(h), Type: pkt.TypeIPv6})
	ip := b[pkt.EthernetLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(payload)))
	ip[6], ip[7] = nh, 1
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	b = append(append(b, ext...), payload...)
	return b
}

// mldFrame wraps an MLD message (checksum filled in here) from host h.
func mldFrame(h byte, dst netip.Addr, msg []byte) []byte {
	src := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: h})
	s, d := src.As16(), dst.As16()
	msg[2], msg[3] = 0, 0
	ph := pkt.PseudoHeaderChecksum(pkt.ProtoICMPv6, s[:], d[:], uint16(len(msg)))
	binary.BigEndian.PutUint16(msg[2:], ^pkt.Checksum(msg, ph))
	return ip6Frame(h, dst, pkt.ProtoICMPv6, true, msg)
}

// mldV1 builds an MLDv1 message (or a v1-length query) for group.
func mldV1(typ uint8, delayMS uint16, group netip.Addr) []byte {
	b := make([]byte, pkt.MLDMinLen)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], delayMS)
	a := group.As16()
	copy(b[8:], a[:])
	return b
}

// udpTo is a UDP datagram frame from host h to group g.
func udpTo(h byte, g netip.Addr) []byte {
	if g.Is4() {
		return ip4Frame(mac(h), netip.AddrFrom4([4]byte{10, 0, 0, h}), g, pkt.ProtoUDP, make([]byte, 16))
	}
	return ip6Frame(h, g, pkt.ProtoUDP, false, make([]byte, 16))
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// mcastSwitch is benchSwitch with the ports known to the MDB, as AddPort
// does.
func mcastSwitch(t testing.TB, pcs ...PortConfig) (*Switch, []*swPort) {
	s, ports := benchSwitch(t, pcs...)
	for i, p := range ports {
		s.mdb.addPort(p, pcs[i].MaxGroups)
	}
	return s, ports
}

// inject runs one frame from port in through ingress at time now and
// returns how many frames each port got.
func inject(s *Switch, ports []*swPort, in int, b []byte, now int64) []int {
	f := NewFrame()
	f.SetData(b)
	s.ingress(ports[in], []*Frame{f}, now)
	return drain(ports)
}

// drain empties every port's queue and counts what each held.
func drain(ports []*swPort) []int {
	got := make([]int, len(ports))
	out := make([]*Frame, BatchSize)
	for i, p := range ports {
		for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
			got[i] += k
			for _, f := range out[:k] {
				f.Release()
			}
		}
	}
	return got
}
