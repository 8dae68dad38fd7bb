package vswitch

import (
	"errors"
	"runtime"
	"time"
)

// Direct writes. A port whose driver can try a write without waiting (a
// TryWriter: a TAP or an AF_PACKET socket, whose kernel takes or drops
// each frame at once, or a network's gateway, which never waits) is
// written by the goroutine that forwards the frame, as the kernel's bridge
// transmits in the sender's context, instead of waking the port's writer
// goroutine: a frame crosses one goroutine, not two, so a request and its
// answer cost two wake-ups, not four. A reader with a backlog (a batch of
// burstFrames or more) still hands its frames to the writer goroutine, so
// reading and writing go on in parallel on two cores.
//
// The frame still goes through the port's ring, so frames leave in the
// order they were queued, and whoever holds the port's tx token drains
// it: a forwarding goroutine (txDirect) for as long as the device takes
// frames, the port's own writer goroutine (txWriter) once it is full or
// given a burst.
// Nobody waits for the token: a goroutine that does not get it leaves its
// frame queued, and the holder looks at the ring again after it lets go.

// burstFrames: a frame of burstMinLen bytes or more read in a batch this
// big or bigger goes to the port's writer goroutine instead, so that a
// reader with a backlog of copies to make and the writer run on two cores
// (TCP through two TAPs without offloads, 1500-byte frames: 2.2-2.6
// Gbit/s handed over, 1.5-1.9 written by the reader). Smaller frames are
// written at once even in a burst: handing them over costs a wake-up per
// batch and more CPU than their writes (64-byte UDP through two TAPs:
// 6.8 us of vswitch CPU a packet direct, 7.6 handed over).
const (
	burstFrames = 4
	burstMinLen = 1024
)

// bursty reports whether f, read in a batch of burstFrames or more
// (batch), goes to a direct port's writer goroutine: readers, routed
// ports and forward all mark frames by this one rule.
func bursty(f *Frame, batch bool) bool { return batch && f.n >= burstMinLen }

const (
	txFree   = iota
	txDirect // a forwarding goroutine is writing to the port
	txWriter // the port's writer goroutine drains it (a full device, a burst)
)

// TryWriter is a Port that can try a write without waiting.
type TryWriter interface {
	// TryWriteBatch is WriteBatch that returns instead of waiting once
	// the device takes no more: done frames were consumed (sent, or
	// skipped and counted by the driver as WriteBatch may), sent of them
	// sent. done < len(frames) with a nil error means the device is full.
	// The switch never calls it concurrently with itself or WriteBatch.
	TryWriteBatch(frames []*Frame) (done, sent int, err error)
}

// enqueueDirect puts f on the ring of a direct port and writes it at
// once, or hands a burst to the writer goroutine.
func (p *swPort) enqueueDirect(f *Frame) {
	burst := f.burst // f is not ours once put
	if !p.q.Put(f) {
		p.drop(DropQueueFull)
		f.Release()
		return
	}
	if burst {
		p.handOff()
	} else {
		p.push()
	}
}

// push writes what is queued on a direct port from the calling goroutine
// if no one else is writing to it. It never waits.
func (p *swPort) push() {
	for p.tx.CompareAndSwap(txFree, txDirect) {
		if !p.drainDirect() {
			return // handed to the writer goroutine, token and all
		}
		p.tx.Store(txFree)
		// A frame queued while we held the token was left to us.
		if p.q.Len() == 0 {
			return
		}
	}
}

// handOff wakes the writer goroutine to drain the ring, unless someone
// holds the token already (and will drain it).
func (p *swPort) handOff() {
	if p.tx.CompareAndSwap(txFree, txWriter) {
		p.signal()
	}
}

func (p *swPort) signal() {
	select {
	case p.handoff <- struct{}{}:
	default:
	}
}

// drainDirect writes the ring out with TryWriteBatch, holding the token.
// It returns false when the device is full: the frames not written wait
// in txbuf[:npend], and the writer goroutine, woken, owns the token.
func (p *swPort) drainDirect() bool {
	for {
		n := p.q.Take(p.txbuf[:])
		if n == 0 {
			return true
		}
		batch := p.txbuf[:n]
		p.captureTx(batch)
		size := batchLen(batch)
		done, sent, err := p.tw.TryWriteBatch(batch)
		if err != nil {
			done = n // the rest is dropped and counted
		}
		p.written(batch[:done], size-batchLen(batch[done:]), sent, err)
		if done < n {
			p.npend = copy(p.txbuf[:], batch[done:])
			clear(p.txbuf[p.npend:n])
			p.tx.Store(txWriter)
			p.signal()
			return false
		}
	}
}

// handoffLoop is a direct port's writer goroutine: it runs only when a
// forwarding goroutine found the device full, or had a burst, and handed
// it the token.
// It writes what was left, then the ring, waiting on the device as
// writeLoop does, and gives the token back once the ring is empty.
func (s *Switch) handoffLoop(p *swPort) {
	defer s.wg.Done()
	defer p.exited.Done()
	for {
		select {
		case <-p.handoff:
		case <-p.done:
			return
		}
		if p.tx.Load() != txWriter {
			continue
		}
		n := p.npend
		p.npend = 0
		if n == 0 { // handed over with the ring to drain (handOff)
			n = p.q.Take(p.txbuf[:])
			p.captureTx(p.txbuf[:n])
		}
		for n > 0 {
			// Captured when they were taken from the ring.
			size := batchLen(p.txbuf[:n])
			sent, err := p.drv.WriteBatch(p.txbuf[:n])
			if p.written(p.txbuf[:n], size, sent, err) {
				return
			}
			n = p.q.Take(p.txbuf[:])
			p.captureTx(p.txbuf[:n])
		}
		p.tx.Store(txFree)
		p.push()
	}
}

// captureTx hands frames about to be written to the port's captures.
func (p *swPort) captureTx(frames []*Frame) {
	if list := p.caps.Load(); list != nil && len(frames) > 0 {
		ts := time.Now().UnixNano()
		for _, f := range frames {
			captureFrame(*list, f, ts)
		}
	}
}

// batchLen is the bytes of frames, taken before a driver may keep some
// (Frame.Take) and leave fresh frames in their slots.
func batchLen(frames []*Frame) (n uint64) {
	for _, f := range frames {
		n += uint64(f.n)
	}
	return n
}

// written counts a batch of size bytes the driver was given, of which
// sent frames went out, and releases its frames. The rest are drops:
// port_down once the port is closing (then it reports true: the writer is
// to stop), tx_error else.
func (p *swPort) written(frames []*Frame, size uint64, sent int, err error) (stop bool) {
	bytes := size
	for i, f := range frames {
		if i >= sent { // a skipped frame mid-batch makes this an estimate of the bytes
			bytes -= uint64(f.n)
		}
		f.Release()
		frames[i] = nil
	}
	p.stats.txPackets.Add(uint64(sent))
	p.stats.txBytes.Add(bytes)
	if n := len(frames); sent < n {
		if err != nil && (errors.Is(err, ErrClosed) || p.dead.Load()) {
			p.stats.drops[DropPortDown].Add(uint64(n - sent))
			return true
		}
		p.stats.drops[DropTxError].Add(uint64(n - sent))
	}
	return false
}

// stopTx takes the token for good once the port's goroutines are gone,
// so that shutdown is the ring's only consumer, and frees what a full
// device left. A forwarding goroutine holds the token only for a few
// writes that do not wait (they fail: the driver is closed), so this
// spins briefly at most.
func (p *swPort) stopTx() {
	if p.tw == nil {
		return
	}
	for !p.tx.CompareAndSwap(txFree, txDirect) && p.tx.Load() != txWriter {
		runtime.Gosched()
	}
	for i, f := range p.txbuf[:p.npend] {
		f.Release()
		p.txbuf[i] = nil
	}
	p.npend = 0
}
