package tap

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
)

// mmsghdr is struct mmsghdr; x/sys has the syscall numbers but no type.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// The frame path's system calls are RawSyscall: each is non-blocking
// (MSG_DONTWAIT here, O_NONBLOCK on a TAP), so the runtime need not know
// it is in the kernel. Syscall would tell it, and the first one after the
// process sat idle wakes the runtime's monitor thread (sysmon), which
// then polls every 20 us: a thread wake-up and its context switches per
// request/response frame (TCP_RR p50 through two TAPs, same run: 88-106 us
// raw, 116-134 us with Syscall).
func recvmmsg(fd uintptr, msgs []mmsghdr) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

func sendmmsg(fd uintptr, msgs []mmsghdr) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// auxSpace is the control buffer one PACKET_AUXDATA message needs.
var auxSpace = unix.CmsgSpace(20)

// auxVLAN finds the PACKET_AUXDATA message in a control buffer and returns
// the VLAN tag the kernel stripped, if any, with its TPID (0x8100 when the
// kernel does not say). It parses in place: no allocation
// (unix.ParseSocketControlMessage allocates).
func auxVLAN(ctl []byte) (tci, tpid uint16, ok bool) {
	const hdrLen = unix.SizeofCmsghdr
	for len(ctl) >= hdrLen {
		l := int(binary.NativeEndian.Uint64(ctl[0:]))
		level := int32(binary.NativeEndian.Uint32(ctl[8:]))
		typ := int32(binary.NativeEndian.Uint32(ctl[12:]))
		if l < hdrLen || l > len(ctl) {
			return 0, 0, false
		}
		if level == unix.SOL_PACKET && typ == unix.PACKET_AUXDATA && l >= hdrLen+20 {
			d := ctl[hdrLen:]
			status := binary.NativeEndian.Uint32(d[0:])
			tci = binary.NativeEndian.Uint16(d[16:])
			tpid = pkt.TypeVLAN
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = binary.NativeEndian.Uint16(d[18:])
			}
			// Older kernels set no VLAN_VALID flag; a non-zero TCI is a tag.
			return tci, tpid, status&unix.TP_STATUS_VLAN_VALID != 0 || tci != 0
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(ctl) {
			return 0, 0, false
		}
		ctl = ctl[next:]
	}
	return 0, 0, false
}

// mmsgSender is the write side of the sendmmsg drivers: it sends msgs
// from i on, waiting in the poller while the socket is full. A message
// the kernel refuses on its own (too long for the device or the path,
// no route) goes to refused (if set) and is skipped; EBADF ends the send.
type mmsgSender struct {
	msgs    []mmsghdr
	i       int // messages sent or skipped
	sent    int // messages sent
	err     error
	refused func(i int) // counts message i of msgs; nil: the caller counts the short send
	try     bool        // return at EAGAIN instead of waiting (tryWrite)
	fn      func(fd uintptr) bool
}

// send sends msgs on rc and reports how many went, with the socket's
// error if it failed.
func (s *mmsgSender) send(rc syscall.RawConn, msgs []mmsghdr) (int, error) {
	_, sent, err := s.write(rc, msgs, false)
	return sent, err
}

// write is send that, with try, returns instead of waiting once the
// socket takes no more: done messages were sent or skipped, sent of
// them sent (vswitch.TryWriter's contract).
func (s *mmsgSender) write(rc syscall.RawConn, msgs []mmsghdr, try bool) (done, sent int, err error) {
	if s.fn == nil {
		s.fn = s.run
	}
	s.msgs, s.i, s.sent, s.err, s.try = msgs, 0, 0, nil, try
	err = rc.Write(s.fn)
	if err == nil {
		err = s.err
	}
	s.msgs = nil
	return s.i, s.sent, err
}

func (s *mmsgSender) run(fd uintptr) bool {
	for s.i < len(s.msgs) {
		n, errno := sendmmsg(fd, s.msgs[s.i:])
		switch errno {
		case 0:
			s.i += n
			s.sent += n
		case unix.EAGAIN, unix.ENOBUFS:
			return s.try
		case unix.EINTR:
		case unix.EBADF:
			s.err = errno
			return true
		default:
			if s.refused != nil {
				s.refused(s.i)
			}
			s.i++
		}
	}
	return true
}
