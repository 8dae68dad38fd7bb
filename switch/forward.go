package vswitch

import (
	"errors"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// readLoop is a port's reader: it reads batches and runs each through
// ingress. The frames slice is this goroutine's own; a frame handed to an
// egress queue is replaced by a fresh one from the pool.
func (s *Switch) readLoop(p *swPort) {
	defer s.wg.Done()
	defer p.exited.Done()
	frames := make([]*Frame, BatchSize)
	for i := range frames {
		frames[i] = NewFrame()
	}
	defer func() {
		for _, f := range frames {
			f.Release()
		}
	}()
	var lastErr time.Time
	for {
		for i, f := range frames {
			if f.big { // a promoted frame that was dropped: go back to small
				f.Release()
				frames[i] = NewFrame()
			} else {
				f.reset()
			}
		}
		n, err := p.drv.ReadBatch(frames)
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

// ingress classifies, learns and forwards one batch read from p. It is the
// whole per-frame path: no allocation (pooled frames aside), no lock, no
// channel send unless an egress writer is parked.
func (s *Switch) ingress(p *swPort, frames []*Frame, now int64) {
	topo := s.topo.Load()
	var bytes uint64
	for i, f := range frames {
		bytes += uint64(f.n)
		if r := p.vlan.classify(f); r != NumDropReasons {
			p.drop(r)
			continue
		}
		f.mark = p.mark
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
		if s.flood(topo, p, f) {
			frames[i] = NewFrame()
		}
	}
	p.stats.rxPackets.Add(uint64(len(frames)))
	p.stats.rxBytes.Add(bytes)
}

// flood sends f to every member of its VLAN but the ingress port. It
// reports whether f itself was handed off (to the last member).
func (s *Switch) flood(topo *topology, in *swPort, f *Frame) bool {
	var last *swPort
	for _, out := range topo.vlans[f.vid] {
		if out == in || in.isolatedFrom(out) {
			continue
		}
		if last != nil {
			last.send(f.clone(), last.vlan.egress(f.vid))
		}
		last = out
	}
	if last == nil {
		return false
	}
	last.send(f, last.vlan.egress(f.vid))
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
	if !p.q.Put(f) {
		p.drop(DropQueueFull)
		f.Release()
	}
}

// writeLoop is a port's writer: it drains the egress queue in batches.
func (s *Switch) writeLoop(p *swPort) {
	defer s.wg.Done()
	defer p.exited.Done()
	out := make([]*Frame, BatchSize)
	for {
		n := p.q.Wait(out, p.done)
		if n == 0 {
			return // done, and nothing left queued
		}
		if list := p.caps.Load(); list != nil {
			ts := time.Now().UnixNano()
			for _, f := range out[:n] {
				captureFrame(*list, f, ts)
			}
		}
		sent, err := p.drv.WriteBatch(out[:n])
		var bytes uint64
		for i, f := range out[:n] {
			if i < sent { // a skipped frame mid-batch makes this an estimate of the bytes
				bytes += uint64(f.n)
			}
			f.Release()
			out[i] = nil
		}
		p.stats.txPackets.Add(uint64(sent))
		p.stats.txBytes.Add(bytes)
		if sent < n {
			if err != nil && (errors.Is(err, ErrClosed) || p.dead.Load()) {
				p.stats.drops[DropPortDown].Add(uint64(n - sent))
				return
			}
			p.stats.drops[DropTxError].Add(uint64(n - sent))
		}
	}
}
