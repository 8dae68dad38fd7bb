package vswitch

import (
	"encoding/binary"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Ports without a virtio-net header (the gateway, QEMU sockets) must get
// complete frames: a partial checksum is finished here, and a GSO
// super-frame is cut into MSS-sized TCP segments, as a NIC without offloads
// would make the kernel do. Ports that take the header never come here.

const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
	protoTCP   = 6
	protoUDP   = 17
)

// sendSoftware delivers f to p, a port that takes complete frames only.
func (p *swPort) sendSoftware(f *Frame, mode egressMode) {
	h := f.VNet
	if !h.IsGSO() {
		if !finishChecksum(f.Bytes(), h) {
			p.drop(DropBadOffload)
			f.Release()
			return
		}
		f.VNet = pkt.VirtioNetHdr{}
		p.enqueue(f, mode)
		return
	}
	if gt := h.GSOType &^ pkt.VirtioNetHdrGSOECN; gt != pkt.VirtioNetHdrGSOTCPv4 && gt != pkt.VirtioNetHdrGSOTCPv6 {
		p.drop(DropBadOffload) // UFO/USO: never enabled on our devices
		f.Release()
		return
	}
	segmentTCP(f, func(seg *Frame) { p.enqueue(seg, mode) }, p)
	f.Release()
}

// finishChecksum completes a CHECKSUM_PARTIAL frame: the field at
// csum_start+csum_offset holds the pseudo-header sum, and the sum over
// everything from csum_start on, inverted, is the checksum.
func finishChecksum(b []byte, h pkt.VirtioNetHdr) bool {
	if h.Flags&pkt.VirtioNetHdrFNeedsCsum == 0 {
		return true
	}
	start, field := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
	if start >= len(b) || field+2 > len(b) {
		return false
	}
	sum := ^pkt.Checksum(b[start:], 0)
	if sum == 0 && h.CsumOffset == 6 { // UDP: 0 means "no checksum"
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(b[field:], sum)
	return true
}

// segmentTCP cuts the TCP super-frame f into segments of h.GSOSize payload
// bytes with complete checksums and passes each to emit. A malformed
// super-frame is counted on p and emits nothing.
func segmentTCP(f *Frame, emit func(*Frame), p *swPort) {
	b := f.Bytes()
	h := f.VNet
	l3, l4 := pkt.EthernetLen, int(h.CsumStart)
	mss := int(h.GSOSize)
	if len(b) < pkt.EthernetLen {
		p.drop(DropBadOffload)
		return
	}
	et := pkt.Ethernet(b).Type()
	v4 := et == pkt.TypeIPv4
	if (!v4 && et != pkt.TypeIPv6) || mss == 0 || l4 <= l3 || l4+20 > len(b) {
		p.drop(DropBadOffload)
		return
	}
	if v4 && (l4-l3 < 20 || b[l3+9] != protoTCP) || !v4 && (l4-l3 < 40 || b[l3+6] != protoTCP) {
		p.drop(DropBadOffload)
		return
	}
	thl := int(b[l4+12]>>4) * 4
	hdr := l4 + thl
	if thl < 20 || hdr > len(b) {
		p.drop(DropBadOffload)
		return
	}
	payload := b[hdr:]
	// The longest segment must fit the IP length field: the kernel never
	// makes a bigger super-frame, and a crafted one would leave with a
	// wrapped length.
	ipLen := hdr - l3 + min(mss, len(payload))
	if !v4 {
		ipLen -= 40
	}
	if ipLen > 0xffff {
		p.drop(DropBadOffload)
		return
	}
	seq := binary.BigEndian.Uint32(b[l4+4:])
	flags := b[l4+13]
	var id uint16
	if v4 {
		id = binary.BigEndian.Uint16(b[l3+4:])
	}
	// A super-frame with no payload (a bare ACK or FIN) still leaves, as
	// one segment: Linux sends a GSO packet no longer than the MSS as is.
	for off, i := 0, 0; off < len(payload) || i == 0; off, i = off+mss, i+1 {
		n := min(mss, len(payload)-off)
		s := NewFrameFor(hdr + n + 2*pkt.VLANTagLen)
		s.n = copy(s.buf[Headroom:], b[:hdr])
		s.n += copy(s.buf[Headroom+hdr:], payload[off:off+n])
		s.vid, s.prio = f.vid, f.prio
		sb := s.Bytes()
		last := off+n == len(payload)
		if v4 {
			binary.BigEndian.PutUint16(sb[l3+2:], uint16(hdr-l3+n))
			binary.BigEndian.PutUint16(sb[l3+4:], id+uint16(i))
			sb[l3+10], sb[l3+11] = 0, 0
			binary.BigEndian.PutUint16(sb[l3+10:], ^pkt.Checksum(sb[l3:l4], 0))
		} else {
			binary.BigEndian.PutUint16(sb[l3+4:], uint16(hdr-l3-40+n))
		}
		binary.BigEndian.PutUint32(sb[l4+4:], seq+uint32(off))
		fl := flags
		if !last {
			fl &^= tcpFlagFIN | tcpFlagPSH
		}
		if i > 0 {
			fl &^= tcpFlagCWR
		}
		sb[l4+13] = fl
		sb[l4+16], sb[l4+17] = 0, 0
		var ph uint16
		if v4 {
			ph = pkt.PseudoHeaderChecksum(protoTCP, sb[l3+12:l3+16], sb[l3+16:l3+20], uint16(thl+n))
		} else {
			ph = pkt.PseudoHeaderChecksum(protoTCP, sb[l3+8:l3+24], sb[l3+24:l3+40], uint16(thl+n))
		}
		binary.BigEndian.PutUint16(sb[l4+16:], ^pkt.Checksum(sb[l4:], ph))
		emit(s)
	}
}
