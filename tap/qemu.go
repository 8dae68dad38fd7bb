package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/unixsock"
	vswitch "github.com/vswitch/vswitch/switch"
)

// QEMUConfig describes a QEMU socket port for OpenQEMU.
type QEMUConfig struct {
	Name   string           // port name, for log lines
	Socket string           // unix stream socket path (-netdev stream / socket,path=)
	Perm   unixsock.Options // who may connect to Socket: default the owner only (0600)
	Listen string           // or a loopback TCP address (-netdev socket,connect=)
	Log    *slog.Logger     // default slog.Default()
}

// QEMU framing and limits.
const (
	qemuLenSize = 4
	// qemuMaxFrame bounds a frame's declared length: QEMU sends at most
	// 65535+header without offloads; anything larger is a broken peer.
	qemuMaxFrame = 65535 + 18
	// qemuStall is how long a peer may leave a frame half sent.
	qemuStall = 10 * time.Second
)

// QEMU is a port whose other end is a VM's NIC speaking QEMU's socket
// netdev framing: a 4-byte big-endian length, then the Ethernet frame. One
// VM at a time; a new one may connect after the last left. No privilege
// is needed.
type QEMU struct {
	name string
	ln   net.Listener // a *unixsock.Socket removes its file on Close
	path string       // the unix socket, if any
	log  *slog.Logger

	conns chan net.Conn         // accepted connections for the reader
	cur   atomic.Pointer[qconn] // the VM connected now, for the writer
	done  chan struct{}
	once  sync.Once

	rbuf []byte // the reader goroutine's buffer: frames are cut out of it; nil while no VM is connected
	rlen int
	rc   *qconn

	wbuf []byte // the writer goroutine's buffer for one batch; grows to the largest batch sent

	stall time.Duration // qemuStall; tests shorten it before the first ReadBatch

	refused, bad, noPeer atomic.Uint64

	// A hand over (HandOver, qemu_handover.go) stops the reader at a
	// frame boundary, the acceptor and the writer before it lets the
	// descriptors go: two processes never read or write one stream.
	handing    atomic.Bool   // set first; the reader and writer check it per batch
	pause      chan struct{} // closed after handing is set: wakes the waiting reader and the acceptor
	parked     chan struct{} // closed by the reader once it stopped
	acceptDone chan struct{} // closed by the acceptor once it stopped
	writing    atomic.Int32  // writes under way
	held       *qconn        // the reader's VM when it parked; read after parked
	pending    []byte        // what it had read of the stream and not passed on
	late       net.Conn      // a VM the acceptor took while pausing; read after acceptDone
}

var _ vswitch.Port = (*QEMU)(nil)

// ErrNoPeer is returned by WriteBatch while no VM is connected.
var ErrNoPeer = errors.New("no VM connected")

// OpenQEMU listens on the socket or loopback address of cfg.
func OpenQEMU(cfg QEMUConfig) (*QEMU, error) {
	q := newQEMU(cfg)
	var err error
	switch {
	case cfg.Socket != "":
		// Only a stale socket is replaced; the file appears with its
		// final mode and owner (unixsock binds it privately first).
		var s *unixsock.Socket
		if s, err = unixsock.Listen(cfg.Socket, cfg.Perm); err == nil {
			q.ln, q.path = s, cfg.Socket
		}
	case cfg.Listen != "":
		q.ln, err = net.Listen("tcp", cfg.Listen)
	default:
		err = errors.New("needs socket or listen")
	}
	if err != nil {
		return nil, fmt.Errorf("qemu port %s: %w", cfg.Name, err)
	}
	go q.accept()
	return q, nil
}

// newQEMU is a port of cfg not listening yet: OpenQEMU and AdoptQEMU
// give it its listener.
func newQEMU(cfg QEMUConfig) *QEMU {
	q := &QEMU{name: cfg.Name, log: cfg.Log, conns: make(chan net.Conn), done: make(chan struct{}),
		stall: qemuStall, pause: make(chan struct{}), parked: make(chan struct{}), acceptDone: make(chan struct{})}
	if q.log == nil {
		q.log = slog.Default()
	}
	return q
}

// accept hands one connection at a time to the reader and refuses others
// while one is active.
func (q *QEMU) accept() {
	defer close(q.acceptDone)
	for {
		c, err := q.ln.Accept()
		if err != nil {
			select {
			case <-q.done:
				return
			case <-q.pause:
				return
			default:
			}
			q.log.Warn("qemu port accept failed", "port", q.name, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if cur := q.cur.Load(); cur != nil && !cur.closed.Load() {
			q.refused.Add(1)
			q.log.Warn("qemu port: refusing a second VM while one is connected", "port", q.name, "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		select {
		case q.conns <- c:
		case <-q.done:
			c.Close()
			return
		case <-q.pause:
			q.late = c // goes over with the listener
			return
		}
	}
}

// Name is the port name.
func (q *QEMU) Name() string { return q.name }

// Features: none; QEMU's socket netdev carries no virtio-net header, so
// the switch finishes checksums and segments GSO frames first.
func (q *QEMU) Features() vswitch.Features { return 0 }

// Counters: connections refused, peers disconnected for bad framing,
// frames written while no VM was there.
func (q *QEMU) Refused() uint64     { return q.refused.Load() }
func (q *QEMU) BadPeers() uint64    { return q.bad.Load() }
func (q *QEMU) NoPeerDrops() uint64 { return q.noPeer.Load() }

// Counters are the port's own events, for show ports and metrics.
func (q *QEMU) Counters() map[string]uint64 {
	return map[string]uint64{"refused": q.Refused(), "bad_peer": q.BadPeers(), "no_peer": q.NoPeerDrops()}
}

// ReadBatch implements vswitch.Port: it waits for a VM, then cuts as many
// whole frames as one read brought out of the connection buffer.
func (q *QEMU) ReadBatch(frames []*vswitch.Frame) (int, error) {
	for {
		if q.handing.Load() {
			return q.park()
		}
		if q.rc == nil || q.rc.closed.Load() {
			// A port without a VM holds no read buffer: a host with many
			// configured VMs, few of them running, pays for the running ones.
			q.rbuf = nil
			select {
			case c := <-q.conns:
				q.rc = newQconn(c)
				q.rbuf = make([]byte, 4*qemuMaxFrame)
				q.rlen = 0
				q.cur.Store(q.rc)
				q.log.Info("qemu port: VM connected", "port", q.name, "peer", c.RemoteAddr())
			case <-q.pause:
				return q.park()
			case <-q.done:
				return 0, fmt.Errorf("qemu port %s: %w", q.name, vswitch.ErrClosed)
			}
		}
		if n := q.cut(frames); n > 0 {
			return n, nil
		}
		if q.rc.closed.Load() {
			continue // a bad frame length ended the connection
		}
		// A frame may sit half sent for at most qemuStall.
		q.rc.setReadDeadline(q.rlen > 0, q.stall)
		// After the deadline is set: a HandOver from here on moves it
		// into the past, so this read cannot block past it.
		if q.handing.Load() {
			return q.park()
		}
		n, err := q.rc.read(q.rbuf[q.rlen:])
		q.rlen += n
		if err != nil {
			var ne net.Error
			if q.handing.Load() && errors.As(err, &ne) && ne.Timeout() {
				return q.park()
			}
			if errors.As(err, &ne) && ne.Timeout() {
				q.bad.Add(1)
				q.log.Warn("qemu port: peer stalled mid-frame, disconnecting", "port", q.name)
			} else if err != io.EOF {
				select {
				case <-q.done:
					return 0, fmt.Errorf("qemu port %s: %w", q.name, vswitch.ErrClosed)
				default:
				}
			}
			q.log.Info("qemu port: VM disconnected", "port", q.name)
			q.rc.close()
			q.rlen = 0
		}
	}
}

// cut moves whole frames from the read buffer into frames.
func (q *QEMU) cut(frames []*vswitch.Frame) int {
	n, off := 0, 0
	for n < len(frames) && q.rlen-off >= qemuLenSize {
		l := int(binary.BigEndian.Uint32(q.rbuf[off:]))
		if l < 14 || l > qemuMaxFrame {
			q.bad.Add(1)
			q.log.Warn("qemu port: bad frame length, disconnecting the peer", "port", q.name, "length", l)
			q.rc.close()
			q.rlen = 0
			return n
		}
		if q.rlen-off < qemuLenSize+l {
			break
		}
		data := q.rbuf[off+qemuLenSize : off+qemuLenSize+l]
		if l > vswitch.SmallDataLen {
			frames[n].Release()
			frames[n] = vswitch.NewBigFrame()
		}
		frames[n].SetData(data)
		n++
		off += qemuLenSize + l
	}
	q.rlen = copy(q.rbuf, q.rbuf[off:q.rlen])
	return n
}

// WriteBatch sends a batch in one write; with no VM it reports ErrNoPeer.
func (q *QEMU) WriteBatch(frames []*vswitch.Frame) (int, error) {
	select {
	case <-q.done:
		return 0, fmt.Errorf("qemu port %s: %w", q.name, vswitch.ErrClosed)
	default:
	}
	q.writing.Add(1)
	defer q.writing.Add(-1)
	if q.handing.Load() { // checked after writing is up: HandOver waits for it
		return 0, errHandedOver
	}
	c := q.cur.Load()
	if c == nil || c.closed.Load() {
		q.noPeer.Add(uint64(len(frames)))
		return 0, ErrNoPeer
	}
	b := q.wbuf[:0]
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(f.Len()))
		b = append(b, f.Bytes()...)
	}
	q.wbuf = b[:0]
	// A VM that stops reading blocks only this port's writer; its queue
	// then tail-drops. The deadline frees the writer from a dead peer.
	if err := c.write(b, q.stall); err != nil {
		c.close()
		return 0, err
	}
	return len(frames), nil
}

// Close stops listening, disconnects the VM and removes the socket file;
// after HandOver and KeepDevice it closes only this process's
// descriptors: the listener and the VM's connection live on in the next.
func (q *QEMU) Close() error {
	q.once.Do(func() {
		close(q.done)
		q.ln.Close()
		if c := q.cur.Load(); c != nil {
			c.close()
		}
		if q.handing.Load() {
			<-q.acceptDone // our copy of a VM it took while pausing
			if q.late != nil {
				q.late.Close()
			}
		}
	})
	return nil
}
