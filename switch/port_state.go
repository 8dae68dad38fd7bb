package vswitch

import (
	"github.com/vswitch/vswitch/internal/ring"
	"sync"
	"sync/atomic"
)

// swPort is the switch's side of a port: its driver, VLAN membership,
// egress queue, writer wake-up, and counters.
type swPort struct {
	name    string
	drv     Port
	feat    Features
	vlan    portVLAN
	vlanCfg VLANConfig
	maxMACs int64
	macs    atomic.Int64

	// isolated: see isolate.go; guard (nil: none) and local: guard.go.
	isolated bool
	guard    *guard
	mark     uint8           // PortConfig.Mark, set on each frame at ingress
	local    atomic.Bool     // holds a local FDB entry: a gateway, whose DHCP ACKs are snooped
	raGuard  bool            // PortConfig.RAGuard: raguard.go
	mcRouter MulticastRouter // PortConfig.MulticastRouter: snoop.go

	// q is the egress queue; its writer parks only when it is empty, so
	// under load the frame path sends on no channel.
	q      *ring.Queue[Frame]
	dead   atomic.Bool
	done   chan struct{}
	once   sync.Once
	exited sync.WaitGroup

	stats portStats

	// caps are the captures attached to this port: copy on write under
	// capMu, one atomic load per frame on the frame path.
	caps  atomic.Pointer[[]*Capture]
	capMu sync.Mutex

	router Router // nil: an L2 port; after the L2 fields, so they keep their offsets

	// Direct writes (port_tx.go): tw is drv if it is a TryWriter; tx is
	// the token; txbuf and npend belong to its holder; handoff wakes the
	// writer goroutine when the port is handed to it.
	tw      TryWriter
	tx      atomic.Uint32
	handoff chan struct{}
	npend   int
	txbuf   [BatchSize]*Frame
}

// portStats are the port's counters: atomics written by the port's own
// goroutines (drops by anyone), read at scrape time.
type portStats struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	drops              [NumDropReasons]atomic.Uint64
}

func newSwPort(pc PortConfig, drv Port) *swPort {
	p := &swPort{
		name:    pc.Name,
		drv:     drv,
		router:  pc.Router,
		feat:    drv.Features(),
		vlan:    compileVLAN(pc.VLAN),
		vlanCfg: pc.VLAN,
		maxMACs: int64(pc.MaxMACs),
		q:       ring.NewQueue[Frame](pc.Queue),
		done:    make(chan struct{}),
	}
	if pc.Router != nil { // in no VLAN: never a flood or FDB target
		p.vlan, p.vlanCfg, p.maxMACs = portVLAN{}, VLANConfig{}, 0
	}
	p.isolated, p.guard, p.mark, p.raGuard = pc.Isolated, newGuard(pc.Guard), pc.Mark, pc.RAGuard
	p.mcRouter = pc.MulticastRouter
	if tw, ok := drv.(TryWriter); ok {
		p.tw, p.handoff = tw, make(chan struct{}, 1)
	}
	p.exited.Add(2)
	return p
}

func (p *swPort) drop(r DropReason) { p.stats.drops[r].Add(1) }

// macRoom reports whether the port may learn one more address.
func (p *swPort) macRoom() bool { return p.maxMACs == 0 || p.macs.Load() < p.maxMACs }

// shutdown stops the port's goroutines, closes the driver and frees what
// is still queued. The port has already left the topology.
func (p *swPort) shutdown(t *fdb) {
	p.once.Do(func() {
		p.dead.Store(true)
		t.flushPort(p)
		close(p.done)
		p.drv.Close()
		p.exited.Wait()
		if list := p.caps.Load(); list != nil {
			for _, c := range *list {
				c.detach() // the reader's Next returns ErrCaptureClosed
			}
		}
		p.stopTx()
		var buf [BatchSize]*Frame
		for n := p.q.Take(buf[:]); n > 0; n = p.q.Take(buf[:]) {
			for _, f := range buf[:n] {
				f.Release()
			}
		}
	})
}
