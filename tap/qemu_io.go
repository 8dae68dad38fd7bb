package tap

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// qconn is one VM's stream. Its reads and writes are RawSyscalls on the
// non-blocking socket through the poller's RawConn, as a TAP's are (see
// recvmmsg for why): net.Conn's Read and Write tell the runtime of every
// system call, and the first after an idle spell wakes its monitor thread.
// The callbacks are made once per connection, so a frame allocates
// nothing. Deadlines still apply: RawConn waits honour the conn's.
type qconn struct {
	c      net.Conn
	raw    syscall.RawConn // nil only if c was closed before the port took it
	closed atomic.Bool

	rb      []byte // the read under way
	rn      int    // what it read
	rerr    syscall.Errno
	readFn  func(uintptr) bool
	rdl     bool   // a read deadline is set (a frame is half read)
	wb      []byte // what is left to write
	wtry    bool   // stop at EAGAIN instead of waiting
	werr    syscall.Errno
	writeFn func(uintptr) bool
}

// newQconn takes a VM's connection: a *net.UnixConn or *net.TCPConn,
// the only kinds the listeners and connOf give.
func newQconn(c net.Conn) *qconn {
	q := &qconn{c: c}
	q.readFn, q.writeFn = q.doRead, q.doWrite
	if sc, ok := c.(syscall.Conn); ok {
		q.raw, _ = sc.SyscallConn() // fails only on a closed socket
	}
	if q.raw == nil {
		q.close() // the reader and writer see a gone VM
	}
	return q
}

func (q *qconn) close() {
	if q.closed.CompareAndSwap(false, true) {
		q.c.Close()
	}
}

// setReadDeadline sets a deadline for a half-read frame, or clears one;
// a conn whose frames come whole is never touched (each call is a timer
// update in the runtime).
func (q *qconn) setReadDeadline(pending bool, stall time.Duration) {
	switch {
	case pending:
		q.c.SetReadDeadline(time.Now().Add(stall))
		q.rdl = true
	case q.rdl:
		q.c.SetReadDeadline(time.Time{})
		q.rdl = false
	}
}

// read is one read into b, as net.Conn's Read.
func (q *qconn) read(b []byte) (int, error) {
	if q.raw == nil {
		return 0, net.ErrClosed
	}
	if len(b) == 0 {
		return 0, nil // the caller's buffer holds a whole frame's worth: not reached
	}
	q.rb, q.rn, q.rerr = b, 0, 0
	err := q.raw.Read(q.readFn)
	n := q.rn
	q.rb = nil
	switch {
	case err != nil:
		return n, err
	case q.rerr != 0:
		return n, q.rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (q *qconn) doRead(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&q.rb[0])), uintptr(len(q.rb)))
		switch errno {
		case 0:
			q.rn = int(n)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			q.rerr = errno
		}
		return true
	}
}

// write writes all of b. It tries without a deadline first: a VM that
// keeps reading costs no timer update; only a full socket buffer arms
// the deadline that frees the writer from a dead peer.
func (q *qconn) write(b []byte, stall time.Duration) error {
	if q.raw == nil {
		return net.ErrClosed
	}
	q.wb, q.wtry, q.werr = b, true, 0
	err := q.raw.Write(q.writeFn)
	if err == nil && q.werr == 0 && len(q.wb) > 0 {
		q.c.SetWriteDeadline(time.Now().Add(stall))
		q.wtry = false
		err = q.raw.Write(q.writeFn)
		q.c.SetWriteDeadline(time.Time{})
	}
	q.wb = nil
	if err == nil && q.werr != 0 {
		err = q.werr
	}
	return err
}

func (q *qconn) doWrite(fd uintptr) bool {
	for len(q.wb) > 0 {
		n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&q.wb[0])), uintptr(len(q.wb)))
		switch errno {
		case 0:
			q.wb = q.wb[n:]
		case unix.EINTR:
		case unix.EAGAIN:
			return q.wtry
		default:
			q.werr = errno
			return true
		}
	}
	return true
}
