package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/vswitch/vswitch/internal/unixsock"
	vswitch "github.com/vswitch/vswitch/switch"
)

// A QEMU port goes to the next vswitch process with its VM still
// connected: HandOver stops the port's reader at a frame boundary (what it
// had read of a frame not yet whole goes along as Pending), its acceptor,
// and its writer after the write under way, then duplicates the listening
// socket and the VM's connection. AdoptQEMU carries on with them: the VM
// never sees its socket close, and the stream goes on where it stopped.

// QEMUMaxPending bounds Pending: the reader's buffer.
const QEMUMaxPending = 4 * qemuMaxFrame

// qemuHandOverWait bounds how long HandOver waits for the reader and the
// writer to stop: a write waits at most the stall limit.
const qemuHandOverWait = qemuStall + 2*time.Second

// errHandedOver is what the port's reader and writer return once it is
// handed over.
var errHandedOver = fmt.Errorf("qemu port: handed over: %w", vswitch.ErrClosed)

// ErrNotHandedOver marks a descriptor that is not the kind of port asked
// for.
var ErrNotHandedOver = errors.New("not a handed-over port of this kind")

// QEMUHandover is a QEMU port's part of a hand over: descriptors the
// caller owns, and the stream's bytes read but not passed on.
type QEMUHandover struct {
	Listener int    // the listening socket
	Conn     int    // the VM's connection; -1: no VM connected
	Pending  []byte // the start of the VM's stream from here on: frames, or part of one
}

// HandOver stops the port and duplicates its sockets; the port forwards
// nothing more, and Close after KeepDevice leaves the socket file and the
// VM's connection to the process the descriptors go to.
func (q *QEMU) HandOver() (QEMUHandover, error) {
	h := QEMUHandover{Listener: -1, Conn: -1}
	if !q.handing.CompareAndSwap(false, true) {
		return h, errors.New("qemu port: already handed over")
	}
	close(q.pause)
	past := time.Unix(1, 0)
	if dl, ok := q.ln.(interface{ SetDeadline(time.Time) error }); ok {
		dl.SetDeadline(past) // wakes Accept
	}
	if c := q.cur.Load(); c != nil {
		c.c.SetReadDeadline(past) // wakes a Read: the reader parks
	}
	limit := time.After(qemuHandOverWait)
	for _, ch := range []chan struct{}{q.parked, q.acceptDone} {
		select {
		case <-ch:
		case <-q.done:
			return h, fmt.Errorf("qemu port %s: %w", q.name, vswitch.ErrClosed)
		case <-limit:
			return h, fmt.Errorf("qemu port %s: the reader did not stop", q.name)
		}
	}
	for q.writing.Load() != 0 {
		select {
		case <-limit:
			return h, fmt.Errorf("qemu port %s: a write did not finish", q.name)
		case <-time.After(time.Millisecond):
		}
	}
	vm := q.late
	if q.held != nil {
		vm = q.held.c
	}
	var err error
	if h.Listener, err = DupSocket(q.ln); err != nil {
		return h, fmt.Errorf("qemu port %s: listener: %w", q.name, err)
	}
	if vm != nil {
		if h.Conn, err = DupSocket(vm); err != nil {
			syscall.Close(h.Listener)
			return QEMUHandover{Listener: -1, Conn: -1}, fmt.Errorf("qemu port %s: VM connection: %w", q.name, err)
		}
		h.Pending = q.pending
	}
	return h, nil
}

// park is the reader's side of HandOver: it keeps what it read of the
// stream and stops.
func (q *QEMU) park() (int, error) {
	select {
	case <-q.parked:
		return 0, errHandedOver
	default:
	}
	if q.rc != nil && !q.rc.closed.Load() {
		q.held = q.rc
		q.pending = append([]byte(nil), q.rbuf[:q.rlen]...)
		q.rlen = 0
	}
	close(q.parked)
	return 0, errHandedOver
}

// KeepDevice makes Close leave the socket file: the listener lives on in
// the process it was handed to.
func (q *QEMU) KeepDevice() {
	if s, ok := q.ln.(*unixsock.Socket); ok {
		s.Keep()
	}
}

// DupSocket duplicates the descriptor of a socket (a net.Listener or
// net.Conn) for a hand over, close-on-exec; the caller closes it.
func DupSocket(c any) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		syscall.ForkLock.RLock() // no exec between the dup and its close-on-exec
		defer syscall.ForkLock.RUnlock()
		if nfd, derr = syscall.Dup(int(fd)); derr == nil {
			syscall.CloseOnExec(nfd)
		}
	}); err != nil {
		return -1, err
	}
	return nfd, derr
}

// AdoptQEMU makes a port of the sockets another vswitch process's QEMU
// port with cfg handed over (HandOver): the listener must be cfg's, and a
// VM connected there stays connected, its stream resuming with
// h.Pending. The port owns the descriptors from here on, error or not.
func AdoptQEMU(cfg QEMUConfig, h QEMUHandover) (_ *QEMU, err error) {
	var vm net.Conn
	defer func() {
		if err != nil {
			err = fmt.Errorf("qemu port %s: adopt: %w", cfg.Name, err)
			if vm != nil {
				vm.Close()
			}
		}
	}()
	if h.Conn >= 0 {
		if vm, err = connOf(h.Conn); err != nil {
			syscall.Close(h.Listener)
			return nil, err
		}
	}
	if len(h.Pending) > QEMUMaxPending || (vm == nil && len(h.Pending) > 0) {
		syscall.Close(h.Listener)
		return nil, fmt.Errorf("%d bytes pending: %w", len(h.Pending), ErrNotHandedOver)
	}
	f := os.NewFile(uintptr(h.Listener), "qemu:"+cfg.Name)
	ln, err := net.FileListener(f)
	f.Close() // FileListener has its own
	if err != nil {
		return nil, err
	}
	q := newQEMU(cfg)
	// The daemon hands each port the sockets of its own socket: or
	// listen: (the bound name of a unix socket is a private one, renamed).
	switch l := ln.(type) {
	case *net.UnixListener:
		if cfg.Socket == "" {
			err = fmt.Errorf("a unix listener for a listen: port: %w", ErrNotHandedOver)
		} else if q.ln, err = unixsock.Adopt(l, cfg.Socket); err == nil {
			q.path = cfg.Socket
		}
	case *net.TCPListener:
		if cfg.Listen == "" {
			err = fmt.Errorf("a TCP listener for a socket: port: %w", ErrNotHandedOver)
		}
		q.ln = l
	default:
		err = fmt.Errorf("a %T: %w", ln, ErrNotHandedOver)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	if vm != nil {
		// The reader starts on this VM, with what the old reader had.
		q.rc = newQconn(vm)
		q.rbuf = make([]byte, QEMUMaxPending)
		q.rlen = copy(q.rbuf, h.Pending)
		q.cur.Store(q.rc)
		q.log.Info("qemu port: VM handed over, still connected", "port", q.name, "pending", q.rlen)
	}
	go q.accept()
	return q, nil
}

// connOf makes a stream connection of an inherited descriptor, which it
// owns.
func connOf(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "qemu-vm")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	switch c.(type) {
	case *net.UnixConn, *net.TCPConn:
		return c, nil
	}
	c.Close()
	return nil, fmt.Errorf("VM connection is a %T: %w", c, ErrNotHandedOver)
}
