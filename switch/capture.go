package vswitch

import (
	"context"
	"errors"
	"fmt"
	"github.com/vswitch/vswitch/internal/ring"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Capture is a live copy of the frames one port receives and sends. The
// frame path copies each frame into a pooled buffer on the capture's own
// bounded ring; when the reader of the capture falls behind, copies are
// dropped and counted, and forwarding is never slowed beyond that copy.
// With no capture attached, a port pays one atomic load per frame.
type Capture struct {
	port    *swPort
	q       *ring.Queue[Frame]
	closed  atomic.Bool
	dropped atomic.Uint64
	cur     *Frame // the frame Next returned last; released on the next call
}

// CaptureQueue is the number of frames a capture buffers for its reader.
const CaptureQueue = 4096

// ErrCaptureClosed is returned by Next after Close.
var ErrCaptureClosed = errors.New("capture closed")

// StartCapture attaches a capture to the named port.
func (s *Switch) StartCapture(port string) (*Capture, error) {
	p, ok := s.topo.Load().byName[port]
	if !ok {
		return nil, fmt.Errorf("capture %s: %w", port, ErrNoSuchPort)
	}
	c := &Capture{port: p, q: ring.NewQueue[Frame](CaptureQueue)}
	p.capMu.Lock()
	defer p.capMu.Unlock()
	var list []*Capture
	if old := p.caps.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, c)
	p.caps.Store(&list)
	return c, nil
}

// Close detaches the capture and frees what it still holds. It is for the
// goroutine that calls Next; the bytes Next returned are invalid after it.
func (c *Capture) Close() {
	c.detach()
	c.drain()
}

// detach removes the capture from its port and wakes the reader, whose
// Next then returns ErrCaptureClosed. Port shutdown uses it: it frees no
// buffer the reader might still be looking at.
func (c *Capture) detach() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	p := c.port
	p.capMu.Lock()
	if old := p.caps.Load(); old != nil {
		var list []*Capture
		for _, x := range *old {
			if x != c {
				list = append(list, x)
			}
		}
		if len(list) == 0 {
			p.caps.Store(nil)
		} else {
			p.caps.Store(&list)
		}
	}
	p.capMu.Unlock()
	c.q.Wake()
}

// drain frees the current and the queued frames (reader side only).
func (c *Capture) drain() {
	if c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
	var buf [BatchSize]*Frame
	for n := c.q.Take(buf[:]); n > 0; n = c.q.Take(buf[:]) {
		for _, f := range buf[:n] {
			f.Release()
		}
	}
}

// Dropped is how many frames the capture lost because its reader was slow.
func (c *Capture) Dropped() uint64 { return c.dropped.Load() }

// Next waits for the next captured frame. The bytes stay valid until the
// next call of Next or Close. Only one goroutine may call Next.
func (c *Capture) Next(ctx context.Context) (time.Time, []byte, error) {
	if c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
	var one [1]*Frame
	for {
		if c.closed.Load() {
			c.drain()
			return time.Time{}, nil, ErrCaptureClosed
		}
		if c.q.Wait(one[:], ctx.Done()) == 1 {
			c.cur = one[0]
			return time.Unix(0, c.cur.ts), c.cur.Bytes(), nil
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, nil, err
		}
		// Woken by detach: the loop sees closed.
	}
}

// captureFrame copies f (as it is on the wire: an out-of-band tag is put
// back in) to every capture in list. ts is the batch's clock in ns.
func captureFrame(list []*Capture, f *Frame, ts int64) {
	for _, c := range list {
		cp := NewFrameFor(f.n + pkt.VLANTagLen)
		cp.n = copy(cp.buf[Headroom:], f.Bytes())
		if f.hasTCI && cp.n >= pkt.EthernetLen {
			cp.off = pkt.PushTag(cp.buf, cp.off, pkt.TypeVLAN, f.tci)
			cp.n += pkt.VLANTagLen
		}
		cp.ts = ts
		if !c.q.Put(cp) {
			c.dropped.Add(1)
			cp.Release()
		}
	}
}
