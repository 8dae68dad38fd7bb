package vswitch

// Router owns a routed port (PortConfig.Router): a port outside the L2
// fabric, such as a gateway's uplink. The switch runs it as it runs every
// port, with one reader, one writer, a bounded egress queue, rx/tx/drop
// counters and capture, but what the port reads goes to the Router instead
// of the FDB and the VLANs. The port is in no VLAN: nothing is learned on
// it, forwarded or flooded to it; only its Router sends on it, through
// its Egress.
type Router interface {
	// Attached gives the router its port's Egress, once, before the
	// port's reader starts.
	Attached(out *Egress)

	// Deliver takes a batch the port read, on the port's reader
	// goroutine, counted as received and captured already. To keep
	// frames[i], the router puts NewFrame() in its place; the reader
	// reuses every frame left in the slice.
	Deliver(frames []*Frame)
}

// Egress is a routed port's way out.
type Egress struct{ p *swPort }

// Send queues f, owned from here on, for the port's writer. A full queue
// or a port being removed drops it, counted on the port (queue_full,
// port_down) like any port's.
func (e *Egress) Send(f *Frame) { e.p.send(f, egressUntagged) }

// routed counts a batch read from a routed port and hands it to its Router.
func (p *swPort) routed(frames []*Frame) {
	var bytes uint64
	burst := len(frames) >= burstFrames
	for _, f := range frames {
		bytes += uint64(f.n)
		f.burst = bursty(f, burst)
	}
	p.stats.rxPackets.Add(uint64(len(frames)))
	p.stats.rxBytes.Add(bytes)
	p.router.Deliver(frames)
}
