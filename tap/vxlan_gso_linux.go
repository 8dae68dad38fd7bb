package tap

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// UDP GSO for the tunnel. A TSO super-frame from a guest is cut into its
// segments by the switch's segmenter (vswitch.Complete), each segment
// gets its VXLAN header in an arena, and the segments of one super-frame
// leave in one sendmsg with UDP_SEGMENT: the kernel walks its stack once
// per 64 KiB instead of once per 1.4 KiB datagram and cuts the datagrams
// at the device (or in hardware). Every datagram but the last of a send
// is exactly gso_size bytes of UDP payload, which the segmenter's equal
// segments give.
//
// The kernel refuses UDP GSO on a socket that sends checksum 0
// (SO_NO_CHECK): those datagrams carry a UDP checksum, which the kernel
// offloads (a veth or a NIC fills it in; RFC 7348 lets a VTEP send either).
// As root the raw socket still sends plain frames with checksum 0, and a
// flow keeps one source port on both paths: the raw send writes the port
// of the UDP socket the flow's super-frames go on.

// noUDPGSO makes OpenVXLAN act as on a kernel without UDP_SEGMENT (tests
// of the fallback).
var noUDPGSO bool

// vxFlowSocks is how many UDP sockets (so source ports) carry super-frames
// when the outer headers are ours: the flow hash picks one.
const vxFlowSocks = 16

// vxGSOMaxSegs is UDP_MAX_SEGMENTS of older kernels (6.x allow 128).
const vxGSOMaxSegs = 64

// vxGSOMaxLen is the most UDP payload one send carries: the IPv4 length
// field less the IPv4 and UDP headers.
const vxGSOMaxLen = 0xffff - pkt.IPv4MinLen - pkt.UDPLen

// vxArenaLen is the datagram arena of one WriteBatch: a few super-frames'
// segments with their VXLAN headers, sent when it fills.
const vxArenaLen = 256 << 10

type vxArena [vxArenaLen]byte

// vxArenas are shared by every tunnel port: a writer holds one only while
// a WriteBatch with offload frames runs.
var vxArenas = sync.Pool{New: func() any { return new(vxArena) }}

// vxCtlLen is one UDP_SEGMENT control message.
var vxCtlLen = unix.CmsgSpace(2)

// flowSock is a UDP socket bound to one source port, for super-frames.
type flowSock struct {
	f    *os.File
	rc   syscall.RawConn
	port uint16
}

// gsoMsg is the datagram run emitSeg is filling in the arena.
type gsoMsg struct {
	start int    // arena offset of the first segment's VXLAN header
	size  int    // UDP payload of each segment but the last: gso_size
	len   int    // UDP payload of all segments
	segs  int    // segments so far
	vni   uint32 // of the frame being cut
	sock  uint8  // send socket: 0 conn, 1+i fsocks[i]
	dests []uint32
}

// openGSO finds out whether the kernel takes UDP_SEGMENT and, as root,
// opens the flow sockets. Its failure is not an error: the port then
// takes complete frames only and the switch segments for it, as before.
func (v *VXLAN) openGSO(netns string) {
	if noUDPGSO || vxCtlLen > len(v.wctl[0]) {
		return
	}
	var perr error
	v.rc.Control(func(fd uintptr) { perr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 0) })
	if perr != nil {
		return
	}
	if v.raw != nil {
		if err := inNetns(netns, v.openFlowSocks); err != nil {
			v.closeFlowSocks()
			return
		}
	}
	for i := range v.wctl {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&v.wctl[i][0]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	v.gso = true
}

func (v *VXLAN) openFlowSocks() error {
	base := rand.IntN(16384)
	next := 0
	for i := range v.fsocks {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), "vxlan-flow")
		v.fsocks[i].f = f
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
			return err
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		}
		// Nothing is read from it; datagrams to its port are not ours.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
		// A port from the dynamic range, as the raw sends used: the first
		// free one from a random start.
		for {
			if next == 16384 {
				return errors.New("no free source port in 49152-65535")
			}
			p := uint16(49152 + (base+next*1021)%16384)
			next++
			sa := &unix.SockaddrInet4{Port: int(p), Addr: v.local.As4()}
			if err = unix.Bind(fd, sa); err == nil {
				v.fsocks[i].port = p
				break
			}
			if !errors.Is(err, unix.EADDRINUSE) {
				return err
			}
		}
		if v.fsocks[i].rc, err = f.SyscallConn(); err != nil {
			return err
		}
	}
	return nil
}

func (v *VXLAN) closeFlowSocks() {
	for i := range v.fsocks {
		if v.fsocks[i].f != nil {
			v.fsocks[i].f.Close()
			v.fsocks[i].f = nil
		}
	}
}

// sendSock is the socket messages marked s go on.
func (v *VXLAN) sendSock(s uint8) syscall.RawConn {
	if s == 0 {
		return v.wc
	}
	return v.fsocks[s-1].rc
}

// writeOffload sends the tagged offload frame b of f (a super-frame or a
// partial checksum) on vni to dests: an untagged copy goes through the
// switch's segmenter, whose segments land in the arena as datagram runs.
func (v *VXLAN) writeOffload(f *vswitch.Frame, vni uint32, hash uint32, dests []uint32) error {
	b := f.Bytes()
	if v.arena == nil {
		v.arena = vxArenas.Get().(*vxArena)
	}
	g := &v.g
	g.segs, g.vni, g.dests, g.sock = 0, vni, dests, 0
	if v.raw != nil {
		g.sock = 1 + uint8(hash%vxFlowSocks)
	}
	u := vswitch.NewFrameFor(len(b))
	u.SetData(b[pkt.VLANTagLen:])
	copy(u.Bytes(), b[:12])
	u.VNet = f.VNet
	u.VNet.Shift(-pkt.VLANTagLen)
	v.eerr = nil
	ok := vswitch.Complete(u, v.emitFn)
	u.Release()
	if !ok {
		v.drops[VXLANBadOffload].Add(1)
		return nil
	}
	v.closeRun()
	return v.eerr
}

// emitSeg puts segment s after its VXLAN header into the arena, in the
// run being filled or in a new one.
func (v *VXLAN) emitSeg(s *vswitch.Frame) {
	if v.eerr != nil {
		return
	}
	g := &v.g
	b := s.Bytes()
	n := pkt.VXLANLen + len(b)
	// A run ends at a segment longer than gso_size, after a shorter one
	// (the kernel's last), or at the kernel's bounds.
	if g.segs > 0 && (n > g.size || g.len != g.segs*g.size || g.segs == vxGSOMaxSegs || g.len+n > vxGSOMaxLen) {
		v.closeRun()
	}
	if v.aoff+n > len(v.arena) {
		v.closeRun()
		if v.eerr = v.flush(); v.eerr != nil {
			return
		}
		v.aoff = 0
	}
	if g.segs == 0 {
		g.start, g.size, g.len = v.aoff, n, 0
	}
	d := v.arena[v.aoff : v.aoff+n]
	pkt.VXLAN(d).Encode(g.vni)
	copy(d[pkt.VXLANLen:], b)
	v.aoff += n
	g.len += n
	g.segs++
}

// closeRun queues the run being filled as one send per destination.
func (v *VXLAN) closeRun() {
	g := &v.g
	if g.segs == 0 || v.eerr != nil {
		return
	}
	for _, dst := range g.dests {
		if v.wn == len(v.wmsgs) {
			// The arena stays: the run's bytes are needed for the rest.
			if v.eerr = v.flush(); v.eerr != nil {
				return
			}
		}
		i := v.wn
		iov := &v.wiov[i]
		iov[0].Base = &v.arena[g.start]
		iov[0].SetLen(g.len)
		h := v.setMsg(i, dst, 1)
		if g.segs > 1 {
			binary.NativeEndian.PutUint16(v.wctl[i][unix.CmsgLen(0):], uint16(g.size))
			h.Control = &v.wctl[i][0]
			h.SetControllen(vxCtlLen)
		}
		v.wsock[i], v.wsegs[i] = g.sock, uint16(g.segs)
		v.wn++
	}
	g.segs = 0
}

// setMsg fills message i's destination and iovec count and clears its
// control data.
func (v *VXLAN) setMsg(i int, vtep uint32, iovs int) *unix.Msghdr {
	binary.BigEndian.PutUint32(v.wname[i].Addr[:], vtep)
	h := &v.wmsgs[i].hdr
	h.Name = (*byte)(unsafe.Pointer(&v.wname[i]))
	h.Namelen = unix.SizeofSockaddrInet4
	h.Iov = &v.wiov[i][0]
	h.SetIovlen(iovs)
	h.Control = nil
	h.SetControllen(0)
	return h
}

// releaseArena gives the arena back once nothing queued points into it.
func (v *VXLAN) releaseArena() {
	if v.arena != nil {
		vxArenas.Put(v.arena)
		v.arena, v.aoff = nil, 0
	}
}

// flowSource is the UDP source port of a flow with hash h on a raw send:
// the port of the flow socket its super-frames use, else one of the
// dynamic range.
func (v *VXLAN) flowSource(h uint32) uint16 {
	if v.gso {
		return v.fsocks[h%vxFlowSocks].port
	}
	return 49152 + uint16(h%16384)
}
