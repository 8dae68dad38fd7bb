package vswitch

import "time"

// Injector is a Port whose frames may also come from goroutines other
// than its reader, such as a network's gateway, which delivers what its
// uplink read: the switch gives it an Ingress, once, before the port's
// reader starts.
type Injector interface {
	AttachedIngress(in *Ingress)
}

// Ingress forwards frames as if its port had read them, in the calling
// goroutine. A packet from the outside then reaches a guest's TAP in the
// uplink reader's goroutine instead of waking the gateway port's reader
// too: one thread wake-up fewer per packet coming in through the NAT.
type Ingress struct {
	s *Switch
	p *swPort
}

// Forward takes f, owned from here on, as read from the port now: it is
// counted as received, captured, classified, learned and forwarded, or
// dropped with a counted reason. f keeps the burst mark of the read it
// came from (routed.go), so a backlog still goes to the writer goroutines.
// It never waits; it may run beside the port's reader and other Forwards.
func (in *Ingress) Forward(f *Frame, now time.Time) {
	p := in.p
	if p.dead.Load() {
		p.drop(DropPortDown)
		f.Release()
		return
	}
	if list := p.caps.Load(); list != nil {
		captureFrame(*list, f, now.UnixNano())
	}
	one := [1]*Frame{f}
	in.s.forward(p, one[:], now.Unix(), false)
	one[0].Release() // f, dropped, or the fresh frame that took its place
}
