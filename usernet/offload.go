package usernet

import (
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Super-frames between the switch and the stack.
//
// Packets cross with a virtio-net header whose offsets count from the IP
// header, as a TUN device's (IFF_TUN, IFF_VNET_HDR) do. Guests' TCP
// super-frames (TSO, up to 64 KiB) go into the stack whole: gVisor's TCP
// takes a segment of any length the window allows, so one super-frame is
// one trip through the stack, not 45. Their checksums are partial (the
// guest's kernel left them for the "device" to finish): the NIC says it
// offloads receive checksums, so gVisor checks none, and Inject checks
// those of complete packets itself (checksumsOK) as gVisor would have.
//
// The stack's TCP sends super-frames too: its link offers host GSO, so a
// connection's segments leave up to gsoMaxSize long with a partial
// checksum and the MSS in their GSO options (outHeader makes the
// virtio-net header of it). The switch hands them whole to a guest port
// that takes the header, and cuts them into MSS-sized segments for one
// that does not (a QEMU socket port), as a kernel does for a device
// without TSO. The link's MTU stays the network's: it is what the stack
// advertises as its MSS and sends unsegmented (SYN-ACKs, UDP, ICMP), and
// what the guest can take is the guest network's MTU, not 64 KiB.

// gsoMaxSize is the longest super-frame the stack sends: gVisor keeps a
// segment's payload under it less 161 bytes, so with the IP and TCP
// headers it stays within the IPv4 length field.
const gsoMaxSize = 1<<16 - 1

// link is the stack's NIC: a channel endpoint that offers host GSO up to
// gsoMaxSize (channel's own says 32 KiB) and takes receive checksums as
// checked.
type link struct{ *channel.Endpoint }

func newLink(size int, mtu uint32) link {
	ep := channel.New(size, mtu, "")
	ep.LinkEPCapabilities = stack.CapabilityRXChecksumOffload
	ep.SupportedGSOKind = stack.HostGSOSupported
	return link{ep}
}

func (link) GSOMaxSize() uint32 { return gsoMaxSize }

// outHeader is the virtio-net header of a packet the stack sends: none
// for a complete one, a partial checksum for a TCP segment with GSO
// options (the stack left its checksum to the device), and a TCPv4
// super-frame to cut at the MSS when its payload is longer than that.
func outHeader(p *stack.PacketBuffer) pkt.VirtioNetHdr {
	g := p.GSOOptions
	if g.Type != stack.GSOTCPv4 || !g.NeedsCsum {
		return pkt.VirtioNetHdr{}
	}
	l3 := len(p.NetworkHeader().Slice())
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: uint16(l3), CsumOffset: g.CsumOffset}
	if p.Data().Size() > int(g.MSS) {
		h.GSOType, h.GSOSize = pkt.VirtioNetHdrGSOTCPv4, g.MSS
		h.HdrLen = uint16(l3 + len(p.TransportHeader().Slice()))
	}
	return h
}

// checksumsOK checks a complete packet's IP header and TCP or UDP
// checksum (the NIC claims receive offload, so gVisor checks neither).
func checksumsOK(v pkt.IPv4) bool {
	if !v.HeaderChecksumOK() {
		return false
	}
	if v.IsFragment() {
		// The transport checksum covers the reassembled datagram, which
		// gVisor makes and, with the NIC's receive offload, no longer
		// checks: a fragmented datagram's is taken as it comes (a guest's
		// own kernel made it, and no wire lies between).
		return true
	}
	l4 := v[v.HeaderLen():v.TotalLen()]
	switch v.Protocol() {
	case pkt.ProtoTCP:
		if len(l4) < header.TCPMinimumSize {
			return false
		}
	case pkt.ProtoUDP:
		if len(l4) < header.UDPMinimumSize {
			return false
		}
		if l4[udpChecksumOffset] == 0 && l4[udpChecksumOffset+1] == 0 {
			return true // UDP over IPv4 may carry no checksum
		}
	default:
		return true
	}
	return pkt.Checksum(l4, v.PseudoHeaderChecksum(v.Protocol(), uint16(len(l4)))) == 0xffff
}

// refuse says why a guest's packet with header h may not enter the
// stack, or NumDrops when it may. A partial or validated checksum is the
// guest's own kernel's word (no wire lies between); any other must check
// out. A super-frame must be TCP over IPv4, the only kind gVisor takes
// whole (the gateway cuts the others before they come here).
func refuse(v pkt.IPv4, h pkt.VirtioNetHdr) DropReason {
	if h.IsGSO() && (h.GSOType&^pkt.VirtioNetHdrGSOECN != pkt.VirtioNetHdrGSOTCPv4 || v.Protocol() != pkt.ProtoTCP) {
		return DropBadOffload
	}
	ok := v.HeaderChecksumOK()
	if h.Flags&(pkt.VirtioNetHdrFNeedsCsum|pkt.VirtioNetHdrFDataValid) == 0 {
		ok = checksumsOK(v)
	}
	if !ok {
		return DropBadChecksum
	}
	return NumDrops
}

const udpChecksumOffset = 6
