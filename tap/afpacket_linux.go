package tap

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// AFPacketConfig describes an AF_PACKET port for OpenAFPacket.
type AFPacketConfig struct {
	Device string // an existing interface
	Netns  string // "": this namespace; else the named netns the device lives in
}

// rxChunk is how many messages one recvmmsg asks for; each has its own
// 64 KiB spill buffer (spill_linux.go), so a GSO super-frame never truncates.
const rxChunk = 8

// AFPacket attaches an existing interface: every frame the interface
// receives is read (promiscuous), and frames written leave through it.
type AFPacket struct {
	dev  string
	conn packetConn // a *packet.Conn, or an inherited socket (handover_linux.go)
	rc   syscall.RawConn

	rd   mmsgReader
	rctl [rxChunk][]byte
	vnet int // PACKET_VNET_HDR took: the header's length before each frame, else 0

	ws    mmsgSender
	wmsgs [vswitch.BatchSize]mmsghdr
	wiov  [vswitch.BatchSize][2]unix.Iovec
	whdr  [vswitch.BatchSize][pkt.VirtioNetHdrLen]byte

	closed atomic.Bool
	keep   atomic.Bool // Close leaves promiscuous mode on (KeepDevice)
	rxDrops
}

var (
	_ vswitch.Port      = (*AFPacket)(nil)
	_ vswitch.RxDropper = (*AFPacket)(nil)
	_ vswitch.TryWriter = (*AFPacket)(nil)
)

// OpenAFPacket opens a promiscuous AF_PACKET socket on cfg.Device with a
// virtio-net header per frame (PACKET_VNET_HDR: GSO super-frames from veth
// TSO or NIC GRO arrive whole, with their offload metadata), VLAN tags the
// driver stripped delivered as auxiliary data, and our own transmissions
// never read back. The interface is brought up if it is down.
func OpenAFPacket(cfg AFPacketConfig) (*AFPacket, error) {
	a := &AFPacket{dev: cfg.Device}
	err := inNetns(cfg.Netns, func() error {
		ifi, err := net.InterfaceByName(cfg.Device)
		if err != nil {
			return err
		}
		if ifi.Flags&net.FlagUp == 0 {
			s, err := linkControl()
			if err != nil {
				return err
			}
			err = setUp(s, cfg.Device)
			unix.Close(s)
			if err != nil {
				return err
			}
		}
		a.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: %w", cfg.Device, err)
	}
	if err := a.setup(); err != nil {
		a.conn.Close()
		return nil, fmt.Errorf("afpacket %s: %w", cfg.Device, err)
	}
	a.buffers()
	return a, nil
}

// buffers allocates the read side's buffers and the I/O closures, once.
func (a *AFPacket) buffers() {
	for i := range rxChunk {
		a.rctl[i] = make([]byte, auxSpace)
	}
	a.rd.prefix, a.rd.ctl, a.rd.decode = a.vnet, a.rctl[:], a.decode
	a.rd.runt, a.rd.oversize = &a.runt, &a.oversize
	a.rd.init(a.rc)
}

func (a *AFPacket) setup() error {
	if err := a.conn.SetPromiscuous(true); err != nil {
		return fmt.Errorf("promiscuous mode: %w", err)
	}
	rc, err := a.conn.SyscallConn()
	if err != nil {
		return err
	}
	a.rc = rc
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range []struct {
			level, opt, val int
			name            string
		}{
			{unix.SOL_PACKET, unix.PACKET_AUXDATA, 1, "PACKET_AUXDATA"},
			{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"},
		} {
			if e := unix.SetsockoptInt(int(fd), o.level, o.opt, o.val); e != nil {
				serr = fmt.Errorf("%s: %w", o.name, e)
				return
			}
		}
		// Without the header (a kernel or device that refuses it) the
		// port takes complete frames: the switch segments for it.
		if !noVNetHdr && unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil {
			a.vnet = pkt.VirtioNetHdrLen
		}
		// Room for bursts: 4 MiB each way (FORCE works as root and goes
		// past rmem_max; without privilege fall back to the capped size).
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], 4<<20) != nil {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], 4<<20)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Name is the interface name.
func (a *AFPacket) Name() string { return a.dev }

// Features: a frame written with a virtio-net header may be GSO or carry
// a partial checksum; the kernel segments or finishes it for the device.
// Without PACKET_VNET_HDR the port takes complete frames only.
func (a *AFPacket) Features() vswitch.Features {
	if a.vnet == 0 {
		return 0
	}
	return vswitch.FeatVNetHdr
}

// noVNetHdr makes OpenAFPacket act as on a kernel without PACKET_VNET_HDR
// (tests of the fallback).
var noVNetHdr bool

// ReadBatch implements vswitch.Port.
func (a *AFPacket) ReadBatch(frames []*vswitch.Frame) (int, error) {
	n, err := a.rd.read(frames)
	return n, closedErr("afpacket", a.dev, a.closed.Load(), err)
}

// decode finishes slot i of a read: its virtio-net header, and the VLAN
// tag the kernel took out of band.
func (a *AFPacket) decode(i, n int) (*vswitch.Frame, bool) {
	f := a.rd.frames[a.rd.n+i]
	if a.vnet != 0 {
		f.VNet.Decode(a.rd.hdr[i][:])
	}
	f = a.rd.land(i, n)
	if tci, tpid, ok := auxVLAN(a.rd.control(i)); ok {
		if tpid == pkt.TypeVLAN {
			f.SetRxTCI(tci)
		} else if !restoreTag(f, tpid, tci) {
			// An 802.1ad (or other) outer tag the kernel took off: put
			// it back so the switch sees the frame as it was on the wire
			// (and drops it as qinq, as from any other port). A frame
			// that fills the whole buffer has no room for it: with its
			// tag, it is longer than the largest buffer.
			a.oversize.Add(1)
			return f, false
		}
	}
	return f, true
}

// WriteBatch implements vswitch.Port; it waits while the socket is full.
func (a *AFPacket) WriteBatch(frames []*vswitch.Frame) (int, error) {
	_, sent, err := a.write(frames, false)
	return sent, err
}

// TryWriteBatch implements vswitch.TryWriter: the socket is sent on by
// the goroutine that forwards the frame (the gateway's, for an uplink),
// and the port's writer goroutine is woken only when the socket buffer
// is full or for a burst.
func (a *AFPacket) TryWriteBatch(frames []*vswitch.Frame) (done, sent int, err error) {
	return a.write(frames, true)
}

func (a *AFPacket) write(frames []*vswitch.Frame, try bool) (done, sent int, err error) {
	if a.closed.Load() {
		return 0, 0, fmt.Errorf("afpacket %s: %w", a.dev, vswitch.ErrClosed)
	}
	for i, f := range frames {
		b := f.Bytes()
		f.VNet.Encode(a.whdr[i][:])
		iov := &a.wiov[i]
		iov[0].Base = &a.whdr[i][0]
		iov[0].SetLen(a.vnet)
		iov[1].Base = &b[0]
		iov[1].SetLen(len(b))
		h := &a.wmsgs[i].hdr
		h.Iov = &iov[0]
		h.SetIovlen(2)
	}
	// A refused frame (too long for the device, link down) is skipped
	// and the rest go on; the switch counts it as tx_error from the
	// short count.
	done, sent, err = a.ws.write(a.rc, a.wmsgs[:len(frames)], try)
	return done, sent, closedErr("afpacket", a.dev, a.closed.Load(), err)
}

// Close closes the socket (the interface stays; it is not ours), turning
// promiscuous mode off again.
func (a *AFPacket) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	if !a.keep.Load() {
		a.conn.SetPromiscuous(false)
	}
	return a.conn.Close()
}

// restoreTag puts a tag the kernel stripped back into f's bytes, after the
// MAC addresses. It reports false when f has no room for it.
func restoreTag(f *vswitch.Frame, tpid, tci uint16) bool {
	n := len(f.Bytes())
	if n+pkt.VLANTagLen > len(f.RxBuf()) {
		return false
	}
	f.SetLen(n + pkt.VLANTagLen)
	b := f.Bytes()
	copy(b[12+pkt.VLANTagLen:], b[12:n])
	binary.BigEndian.PutUint16(b[12:], tpid)
	binary.BigEndian.PutUint16(b[14:], tci)
	return true
}
