package vswitch

import (
	"errors"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// readLoop is a port's reader: it reads batches and runs each through
// ingress. The frames slice is this goroutine's own; a frame handed to an
// egress queue is replaced by a fresh one from the pool.
//
// A blocked read holds the frames it was given, so the batch offered
// follows the traffic: twice what the last read returned, up to
// BatchSize. A busy port reads full batches; an idle one waits on two
// small frames, and the rest go back to the pool for the busy ports (a
// thousand idle ports held 64 frames, 147 KiB, each).
func (s *Switch) readLoop(p *swPort) {
	defer s.wg.Done()
	defer p.exited.Done()
	frames := make([]*Frame, BatchSize)
	defer func() {
		for _, f := range frames {
			if f != nil {
				f.Release()
			}
		}
	}()
	want := 1
	var lastErr time.Time
	for {
		fillBatch(frames, want)
		n, err := p.drv.ReadBatch(frames[:want])
		want = min(max(2*n, 1), BatchSize)
		if err != nil {
			if errors.Is(err, ErrClosed) || p.dead.Load() {
				return
			}
			// A device error (link down, netns gone): say so at most once a
			// second and do not spin.
			if time.Since(lastErr) > time.Second {
				s.log.Warn("port read failed", "port", p.name, "err", err)
			}
			lastErr = time.Now()
			select {
			case <-p.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if n > 0 {
			now := time.Now()
			if list := p.caps.Load(); list != nil {
				ts := now.UnixNano()
				for _, f := range frames[:n] {
					captureFrame(*list, f, ts)
				}
			}
			if p.router != nil {
				p.routed(frames[:n])
			} else {
				s.ingress(p, frames[:n], now.Unix())
			}
		}
	}
}

// fillBatch makes frames[:want] empty small frames and gives the frames
// past want back to the pool.
func fillBatch(frames []*Frame, want int) {
	for i, f := range frames {
		switch {
		case i >= want:
			if f != nil {
				f.Release()
				frames[i] = nil
			}
		case f == nil:
			frames[i] = NewFrame()
		case f.big: // a promoted frame that was dropped: go back to small
			f.Release()
			frames[i] = NewFrame()
		default:
			f.reset()
		}
	}
}

// ingress classifies, learns and forwards one batch read from p. It is the
// whole per-frame path: no allocation (pooled frames aside), no lock, no
// channel send unless an egress writer is parked.
func (s *Switch) ingress(p *swPort, frames []*Frame, now int64) {
	s.forward(p, frames, now, len(frames) >= burstFrames)
}

// forward is ingress for frames from a reader (burst: read in a batch of
// burstFrames or more) or from an Ingress (inject.go), which may run beside
// p's reader, so nothing here is p's alone but atomics. A frame marked
// burst (port_tx.go) keeps its mark: one a routed port read in a burst
// (routed.go) still reaches a guest's TAP through its writer.
func (s *Switch) forward(p *swPort, frames []*Frame, now int64, burst bool) {
	topo := s.topo.Load()
	var bytes uint64
	for i, f := range frames {
		bytes += uint64(f.n)
		if r := p.vlan.classify(f); r != NumDropReasons {
			p.drop(r)
			continue
		}
		f.mark, f.burst = p.mark, f.burst || bursty(f, burst)
		eth := pkt.Ethernet(f.Bytes())
		src := eth.Src()
		if src.IsMulticast() || src.IsZero() {
			p.drop(DropBadSrcMAC)
			continue
		}
		if p.guard != nil || p.local.Load() {
			if r := s.screen(p, f, now); r != NumDropReasons {
				p.drop(r)
				continue
			}
		}
		if eth.Type() == pkt.TypeIPv6 && (p.raGuard || !p.local.Load() && s.local6.Load() != nil) {
			if r := s.screen6(p, f); r != NumDropReasons {
				p.drop(r)
				continue
			}
		}
		switch s.fdb.learn(p, f.vid, src, now) {
		case learnLimit:
			if !s.learnFair(topo, p, f.vid, src, now) {
				p.drop(DropFDBLimit) // counted; the frame still goes out
			}
		case learnSpoofed:
			p.drop(DropLocalMAC)
			continue
		}
		if dst := eth.Dst(); !dst.IsMulticast() {
			if out := s.fdb.lookup(f.vid, dst); out != nil {
				if out == p {
					p.drop(DropSamePort)
					continue
				}
				if p.isolatedFrom(out) {
					p.drop(DropIsolated)
					continue
				}
				if mode := out.vlan.egress(f.vid); mode != egressNone {
					out.send(f, mode)
					frames[i] = NewFrame()
					continue
				}
			}
		}
		if dst := eth.Dst(); s.mdb != nil && dst.IsMulticast() && dst != pkt.Broadcast {
			act, key, r := s.snoop(p, f, now)
			if act == mcDrop {
				p.drop(r)
				continue
			}
			if s.mcast(topo, p, f, act, key, now) {
				frames[i] = NewFrame()
			}
			continue
		}
		if s.flood(topo, p, f) {
			frames[i] = NewFrame()
		}
	}
	p.stats.rxPackets.Add(uint64(len(frames)))
	p.stats.rxBytes.Add(bytes)
}

// flood sends f to every member of its VLAN but the ingress port. The
// ports that take the frame as it is (untagged egress, no offload work)
// share f itself, reference counted: a broadcast to N access ports is one
// buffer, not N-1 copies. A port that must change the frame (push a tag,
// finish a checksum, cut a super-frame) gets a copy of its own, made
// before f is shared; with no sharers the last of them takes f. It
// reports whether f was handed off.
func (s *Switch) flood(topo *topology, in *swPort, f *Frame) bool {
	vid := f.vid // f is not to be read once shared: its last writer may have released it
	members := topo.vlans[vid]
	plain := f.VNet == (pkt.VirtioNetHdr{})
	shared := 0
	var lastCopy *swPort
	for _, out := range members {
		if out == in || in.isolatedFrom(out) {
			continue
		}
		if plain && out.vlan.egress(vid) == egressUntagged {
			shared++
		} else {
			lastCopy = out
		}
	}
	if lastCopy != nil {
		for _, out := range members {
			if out == in || in.isolatedFrom(out) {
				continue
			}
			mode := out.vlan.egress(vid)
			switch {
			case plain && mode == egressUntagged:
			case out == lastCopy && shared == 0:
				out.send(f, mode)
				return true
			default:
				out.send(f.clone(), mode)
			}
		}
	}
	if shared == 0 {
		return false
	}
	// Set before the first put: a writer may release its share at once.
	f.refs.Store(int32(shared - 1))
	for _, out := range members {
		if out == in || in.isolatedFrom(out) {
			continue
		}
		if mode := out.vlan.egress(vid); plain && mode == egressUntagged {
			out.send(f, mode)
		}
	}
	return true
}

// send applies the egress tagging and queues f on p, or counts a drop.
// It takes ownership of f.
func (p *swPort) send(f *Frame, mode egressMode) {
	if p.dead.Load() {
		p.drop(DropPortDown)
		f.Release()
		return
	}
	if f.VNet != (pkt.VirtioNetHdr{}) {
		p.sendOffload(f, mode)
		return
	}
	p.enqueue(f, mode)
}

// enqueue tags f if its egress mode says so and puts it on p's ring.
func (p *swPort) enqueue(f *Frame, mode egressMode) {
	if mode == egressTagged {
		f.tag()
	}
	if p.tw != nil {
		p.enqueueDirect(f)
		return
	}
	if !p.q.Put(f) {
		p.drop(DropQueueFull)
		f.Release()
	}
}

// writeLoop is a port's writer: it drains the egress queue in batches.
// A direct port's writer runs only when its device is full or it is
// handed a burst (port_tx.go).
func (s *Switch) writeLoop(p *swPort) {
	if p.tw != nil {
		s.handoffLoop(p)
		return
	}
	defer s.wg.Done()
	defer p.exited.Done()
	out := make([]*Frame, BatchSize)
	for {
		n := p.q.Wait(out, p.done)
		if n == 0 {
			return // done, and nothing left queued
		}
		p.captureTx(out[:n])
		size := batchLen(out[:n])
		sent, err := p.drv.WriteBatch(out[:n])
		if p.written(out[:n], size, sent, err) {
			return
		}
	}
}
