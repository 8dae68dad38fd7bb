package vswitch

import (
	"sync"
	"sync/atomic"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Buffer geometry. A frame lives in buf[off:off+n]; the bytes before off
// are headroom, so a VLAN tag (4 bytes) or a tunnel header can be pushed in
// place. Frames up to SmallDataLen (all MTU-1500 traffic, tagged or not) use
// the small class; larger ones (jumbo frames, GSO super-frames from
// vnet_hdr ports) the big class, so a port's queue of ordinary frames costs
// about 2 KiB a frame rather than 64 KiB.
const (
	Headroom     = 128
	SmallDataLen = 2176
	BigDataLen   = 65536 + 256
	smallBufLen  = Headroom + SmallDataLen
	bigBufLen    = Headroom + BigDataLen
)

// Frame is one Ethernet frame in a pooled buffer, with the offload metadata
// that travelled with it. A Frame has one owner at a time: the reader that
// filled it, then the egress queue it was put on, then the writer that sent
// it, which gives it back with Release.
type Frame struct {
	buf []byte // whole buffer, len == cap == class size
	off int    // start of the Ethernet header in buf
	n   int    // frame length

	// VNet is the virtio-net header the frame arrived with (zero if none).
	VNet pkt.VirtioNetHdr

	// tci is an 802.1Q tag the driver took out of band (PACKET_AUXDATA:
	// many NICs and veth strip the tag before AF_PACKET sees the frame).
	tci    uint16
	hasTCI bool

	ts   int64  // capture copies: when the frame was seen (unix ns)
	vid  uint16 // VLAN the frame belongs to inside the switch
	prio uint8  // PCP and DEI of the ingress tag (TCI bits 15-12), reused on egress tags
	mark uint8  // the ingress port's PortConfig.Mark
	big  bool
	// burst: read in a batch of at least burstFrames; a direct port
	// leaves it to its writer goroutine (port_tx.go).
	burst bool

	// refs counts the owners beyond the first: a flooded frame is shared
	// by the egress queues of every port that sends it unchanged
	// (forward.go flood), and goes back to its pool with the last Release.
	// Nobody writes to a shared frame.
	refs atomic.Int32
}

var (
	smallPool = sync.Pool{New: func() any { return &Frame{buf: make([]byte, smallBufLen)} }}
	bigPool   = sync.Pool{New: func() any { return &Frame{buf: make([]byte, bigBufLen), big: true} }}
)

// NewFrame returns a small-class frame, empty, with its data at Headroom.
func NewFrame() *Frame {
	f := smallPool.Get().(*Frame)
	f.reset()
	return f
}

// NewBigFrame returns a big-class frame, empty, with its data at Headroom.
func NewBigFrame() *Frame {
	f := bigPool.Get().(*Frame)
	f.reset()
	return f
}

// NewFrameFor returns an empty frame of the smallest class that holds n
// bytes (count the tags it may still get).
func NewFrameFor(n int) *Frame {
	if n > SmallDataLen {
		return NewBigFrame()
	}
	return NewFrame()
}

func (f *Frame) reset() {
	f.off, f.n = Headroom, 0
	f.VNet = pkt.VirtioNetHdr{}
	f.forget()
}

// forget drops what the switch noted of the frame on its way in.
func (f *Frame) forget() {
	f.tci, f.hasTCI, f.vid, f.prio, f.mark, f.burst = 0, false, 0, 0, 0, false
}

// Release gives the frame back to its pool, or, for a frame shared by
// several owners, gives up the caller's share. The caller must not touch
// it afterwards.
func (f *Frame) Release() {
	if f.refs.Load() != 0 {
		if f.refs.Add(-1) >= 0 {
			return // another owner still has it
		}
		// Two owners both saw a count above zero: this one went last.
		f.refs.Store(0)
	}
	if f.big {
		bigPool.Put(f)
	} else {
		smallPool.Put(f)
	}
}

// Take lets the driver of a port keep f, a frame the switch handed its
// WriteBatch, instead of copying it: a gateway routes a guest's packet on
// in the very frame, sparing a copy of up to 64 KiB. The driver puts
// NewFrame() in f's slot, which the switch releases instead. Take reports
// false for a frame that is shared (a flood's: nobody may change it); on
// true f is cut to its first n bytes and keeps nothing of its way in
// (VLAN, mark, burst), as a fresh frame would.
func (f *Frame) Take(n int) bool {
	if f.refs.Load() != 0 || n > f.n {
		return false
	}
	f.n = n
	f.forget()
	return true
}

// Bytes is the frame, from the Ethernet header on.
func (f *Frame) Bytes() []byte { return f.buf[f.off : f.off+f.n] }

// Len is the frame length in bytes.
func (f *Frame) Len() int { return f.n }

// VID is the VLAN the switch classified the frame into (0 before ingress).
func (f *Frame) VID() uint16 { return f.vid }

// Mark is the PortConfig.Mark of the port the frame came in on (0 before
// ingress).
func (f *Frame) Mark() uint8 { return f.mark }

// SetMark sets Mark, for frames built in software (tests); ingress
// overwrites it with the port's.
func (f *Frame) SetMark(m uint8) { f.mark = m }

// RxBuf is where a driver reads a frame into: everything after the
// headroom. A frame longer than this spills; see Promote.
func (f *Frame) RxBuf() []byte { return f.buf[Headroom:] }

// SetLen records that a driver read n bytes into RxBuf.
func (f *Frame) SetLen(n int) { f.off, f.n = Headroom, n }

// SetRxTCI records an 802.1Q tag the driver received out of band.
func (f *Frame) SetRxTCI(tci uint16) { f.tci, f.hasTCI = tci, true }

// RxTCI is the tag a driver received out of band, if any.
func (f *Frame) RxTCI() (uint16, bool) { return f.tci, f.hasTCI }

// Promote handles a frame that did not fit RxBuf: the driver read the first
// len(RxBuf()) bytes into RxBuf and the rest, spill, into a buffer of its
// own. Promote returns a big frame holding the whole frame (and f's
// metadata) and releases f. It copies once, only for frames over
// SmallDataLen. A frame too long even for the big class is cut to fit; the
// caller should count that as oversize and drop it.
func (f *Frame) Promote(spill []byte) *Frame {
	b := NewBigFrame()
	head := copy(b.buf[Headroom:], f.buf[Headroom:])
	tail := copy(b.buf[Headroom+head:], spill)
	b.n = head + tail
	b.VNet, b.tci, b.hasTCI = f.VNet, f.tci, f.hasTCI
	f.Release()
	return b
}

// SetData copies p into an empty frame, for frames built in software (tests,
// the gateway). p must fit the frame's class.
func (f *Frame) SetData(p []byte) {
	f.off = Headroom
	f.n = copy(f.buf[Headroom:], p)
}

// clone returns a copy of f (data and metadata) in a frame of the right
// class, for flooding.
func (f *Frame) clone() *Frame {
	c := NewFrameFor(f.n + 2*pkt.VLANTagLen)
	c.n = copy(c.buf[Headroom:], f.Bytes())
	c.VNet, c.vid, c.prio, c.mark = f.VNet, f.vid, f.prio, f.mark
	return c
}
