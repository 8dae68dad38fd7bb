package tap

import (
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// mmsgReader is the read side of the recvmmsg drivers (AF_PACKET, VXLAN):
// it reads datagrams straight into the switch's frames, rxChunk a call,
// each after a prefix of its own (a virtio-net or a VXLAN header) and
// with a pooled spill for what passes RxBuf, and hands each datagram of
// a sane length to the driver's decode. It waits in the poller, retries
// EINTR, and stops at EAGAIN once it has something.
type mmsgReader struct {
	prefix   int            // header bytes before each frame, read into hdr
	ctl      [][]byte       // per message control buffer; nil: none
	named    bool           // the sender's IPv4 address goes into name
	stamp    bool           // read the clock (now) after each recvmmsg
	runt     *atomic.Uint64 // datagrams shorter than an Ethernet header
	oversize *atomic.Uint64 // longer than vswitch.BigDataLen, or truncated
	// decode turns slot i of the last recvmmsg, n bytes of frame after
	// the prefix, into the frame to deliver (land places the bytes), or
	// reports false when the driver drops it (and counts why). Either
	// way it returns the slot's frame or what replaced it (Promote).
	decode func(i, n int) (*vswitch.Frame, bool)

	rc        syscall.RawConn
	batchRead       // frames, n, err: this read
	now       int64 // unix seconds, read after each recvmmsg when stamp is set
	msgs      [rxChunk]mmsghdr
	iov       [rxChunk][3]unix.Iovec
	hdr       [rxChunk][pkt.VirtioNetHdrLen]byte // the longest prefix
	name      [rxChunk]unix.RawSockaddrInet4
	spill     *spillSet // pooled, only while a read callback runs
}

// init sets the reader up on rc once the driver's fields are set.
func (r *mmsgReader) init(rc syscall.RawConn) {
	r.rc = rc
	r.fn = withSpillSet(&r.spill, r.doRead)
}

// read fills frames as vswitch.Port.ReadBatch does and returns how many,
// with the socket's error if it failed.
func (r *mmsgReader) read(frames []*vswitch.Frame) (int, error) {
	return r.run(r.rc, frames)
}

func (r *mmsgReader) doRead(fd uintptr) bool {
	for r.n < len(r.frames) {
		k := min(rxChunk, len(r.frames)-r.n)
		for i := range k {
			rx := r.frames[r.n+i].RxBuf()
			iov := &r.iov[i]
			iov[0].Base = &r.hdr[i][0]
			iov[0].SetLen(r.prefix)
			iov[1].Base = &rx[0]
			iov[1].SetLen(len(rx))
			iov[2].Base = &r.spill[i][0]
			iov[2].SetLen(len(r.spill[i]))
			h := &r.msgs[i].hdr
			h.Iov = &iov[0]
			h.SetIovlen(3)
			if r.named {
				h.Name = (*byte)(unsafe.Pointer(&r.name[i]))
				h.Namelen = unix.SizeofSockaddrInet4
			}
			if r.ctl != nil {
				h.Control = &r.ctl[i][0]
				h.SetControllen(len(r.ctl[i]))
			}
			h.Flags = 0
		}
		got, errno := recvmmsg(fd, r.msgs[:k])
		switch errno {
		case 0:
		case unix.EAGAIN:
			return r.n > 0
		case unix.EINTR:
			continue
		default:
			r.err = errno
			return true
		}
		if r.stamp {
			r.now = time.Now().Unix()
		}
		kept := 0
		for i := range got {
			m := &r.msgs[i]
			n := int(m.len) - r.prefix
			if n < pkt.EthernetLen {
				r.runt.Add(1)
				continue
			}
			if n > vswitch.BigDataLen || m.hdr.Flags&unix.MSG_TRUNC != 0 {
				r.oversize.Add(1)
				continue
			}
			f, ok := r.decode(i, n)
			if !ok {
				r.frames[r.n+i] = f // promoted, maybe: the slot must not keep the released frame
				continue
			}
			// Compact: skipped slots keep their (unused) frames after the kept ones.
			j := r.n + kept
			r.frames[r.n+i], r.frames[j] = r.frames[j], f
			kept++
		}
		r.n += kept
		if got < k {
			return r.n > 0
		}
	}
	return true
}

// land makes slot i's frame hold the n bytes read into it: in place, or
// promoted to a big frame when they ran into the spill.
func (r *mmsgReader) land(i, n int) *vswitch.Frame {
	f := r.frames[r.n+i]
	if rx := f.RxBuf(); n > len(rx) {
		return f.Promote(r.spill[i][:n-len(rx)])
	}
	f.SetLen(n)
	return f
}

// control is slot i's control data as the kernel wrote it.
func (r *mmsgReader) control(i int) []byte { return r.ctl[i][:r.msgs[i].hdr.Controllen] }

// source is the IPv4 address slot i came from, as addr4 has it.
func (r *mmsgReader) source(i int) uint32 {
	a := r.name[i].Addr
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}
