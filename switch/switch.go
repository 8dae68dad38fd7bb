package vswitch

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Config tunes a Switch; the zero value works.
type Config struct {
	Ageing     time.Duration // FDB ageing; default 300 s (the Linux bridge's)
	MaxEntries int           // FDB size limit; default 8192
	Log        *slog.Logger  // default slog.Default()
	// NoMulticastSnooping turns IGMP/MLD snooping (snoop.go) off: every
	// multicast frame floods its VLAN (the Linux bridge's mcast_snooping 0).
	NoMulticastSnooping bool
	MDBEntries          int // multicast groups in the MDB; default DefaultMDBEntries
}

// PortConfig is what the switch needs to know of a port besides its driver.
type PortConfig struct {
	Name    string
	VLAN    VLANConfig
	MaxMACs int // 0 = no per-port limit
	Queue   int // egress queue length in frames; default 1024
	// Router, when set, makes the port a routed one (routed.go): its
	// frames go to the Router, and VLAN and MaxMACs do not apply.
	Router Router

	// Isolated ports reach every other port but no other isolated one
	// (the Linux bridge's "isolated on", OVS protected ports).
	Isolated bool
	// Guard, if non-nil, drops frames whose source addresses are not the
	// port's own (libvirt's clean-traffic filter, port security).
	Guard *GuardConfig
	// Mark is copied into every frame read from the port (Frame.Mark), so
	// a port the frame goes to (the gateway) knows where it came in
	// without an FDB lookup that a spoofed source MAC could mislead, as
	// Linux's skb mark does. The switch gives it no meaning.
	Mark uint8
	// MaxGroups bounds the multicast groups the port may join (mdb.go); 0:
	// DefaultMaxGroups, negative: no limit.
	MaxGroups int
	// RAGuard drops router advertisements and redirects the port sends
	// (raguard.go): on for guest ports.
	RAGuard bool
	// MulticastRouter says whether the port may be a multicast router
	// port (the Linux bridge's per-port multicast_router).
	MulticastRouter MulticastRouter
}

// MulticastRouter is a port's multicast_router setting.
type MulticastRouter uint8

const (
	// MulticastRouterAuto: a router port while queries come in on it.
	MulticastRouterAuto MulticastRouter = iota
	// MulticastRouterNever: never a router port; its queries are dropped
	// (mcast_query_guest) and take no part in the querier election.
	MulticastRouterNever
	// MulticastRouterAlways: a router port of each of its VLANs for good.
	MulticastRouterAlways
)

// closeParallel is how many ports Close shuts down at once.
const closeParallel = 64

// DefaultQueue is the egress queue length when PortConfig.Queue is 0.
const DefaultQueue = 1024

// Errors of the control path.
var (
	ErrPortExists  = errors.New("port exists")
	ErrNoSuchPort  = errors.New("no such port")
	ErrSwitchClose = errors.New("switch closed")
)

// Switch is the L2 forwarding plane.
type Switch struct {
	fdb  *fdb
	mdb  *mdb // nil: multicast snooping off
	log  *slog.Logger
	topo atomic.Pointer[topology] // copy-on-write; read once per batch
	last atomic.Pointer[topology] // the ports Close stopped (FinalPorts)
	// local6 are the gateways' IPv6 addresses (raguard.go); copy on write.
	local6 atomic.Pointer[[]localAddr6]

	mu     sync.Mutex // serialises topology changes, never taken per frame
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// topology is an immutable snapshot of the ports and VLAN membership.
type topology struct {
	ports  []*swPort
	byName map[string]*swPort
	vlans  [pkt.MaxVID + 1][]*swPort // members of each VLAN, in port order
}

// New returns a running switch with no ports.
func New(cfg Config) *Switch {
	if cfg.Ageing <= 0 {
		cfg.Ageing = 300 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 8192
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ageing := int64(cfg.Ageing / time.Second)
	if ageing < 1 {
		ageing = 1
	}
	s := &Switch{
		fdb:  newFDB(cfg.MaxEntries, ageing),
		log:  cfg.Log,
		stop: make(chan struct{}),
	}
	s.topo.Store(&topology{byName: map[string]*swPort{}})
	if !cfg.NoMulticastSnooping {
		if cfg.MDBEntries <= 0 {
			cfg.MDBEntries = DefaultMDBEntries
		}
		s.mdb = newMDB(cfg.MDBEntries)
	}
	s.wg.Add(1)
	go s.ager(cfg.Ageing)
	return s
}

// ager removes stale FDB entries a few times per ageing period, off the
// frame path.
func (s *Switch) ager(ageing time.Duration) {
	defer s.wg.Done()
	every := min(max(ageing/10, 100*time.Millisecond), 10*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.fdb.age(now.Unix())
			if s.mdb != nil {
				s.mdb.age(now.Unix())
			}
		}
	}
}

// AddPort attaches drv under pc and starts moving its frames.
func (s *Switch) AddPort(pc PortConfig, drv Port) error {
	if pc.Name == "" {
		return errors.New("add port: empty name")
	}
	if pc.Queue <= 0 {
		pc.Queue = DefaultQueue
	}
	if err := pc.Guard.check(); err != nil {
		return fmt.Errorf("add port %s: %w", pc.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSwitchClose
	}
	old := s.topo.Load()
	if _, ok := old.byName[pc.Name]; ok {
		return fmt.Errorf("add port %s: %w", pc.Name, ErrPortExists)
	}
	p := newSwPort(pc, drv)
	if s.mdb != nil && pc.Router == nil {
		s.mdb.addPort(p, pc.MaxGroups)
	}
	if pc.Router != nil {
		pc.Router.Attached(&Egress{p})
	}
	if inj, ok := drv.(Injector); ok {
		inj.AttachedIngress(&Ingress{s, p})
	}
	s.topo.Store(old.with(p, nil))
	s.wg.Add(2)
	go s.readLoop(p)
	go s.writeLoop(p)
	return nil
}

// RemovePort detaches a port: it leaves the topology, its FDB entries are
// flushed, its driver is closed, and frames still queued for it are freed.
func (s *Switch) RemovePort(name string) error {
	s.mu.Lock()
	old := s.topo.Load()
	p, ok := old.byName[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("remove port %s: %w", name, ErrNoSuchPort)
	}
	s.topo.Store(old.with(nil, p))
	s.mu.Unlock()
	p.shutdown(s.fdb)
	if s.mdb != nil {
		s.mdb.flushPort(p)
	}
	return nil
}

// Close removes every port and stops the switch.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	old := s.topo.Load()
	s.topo.Store(&topology{byName: map[string]*swPort{}})
	s.mu.Unlock()
	// The ports go in parallel: closing a TAP device waits on the kernel
	// (tens of milliseconds to unregister it), so a thousand closed one by
	// one took most of a minute.
	var wg sync.WaitGroup
	sem := make(chan struct{}, closeParallel)
	for _, p := range old.ports {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			p.shutdown(s.fdb)
			<-sem
		}()
	}
	wg.Wait()
	s.last.Store(old)
	close(s.stop)
	s.wg.Wait()
	return nil
}

// with returns a copy of t with add added and del removed.
func (t *topology) with(add, del *swPort) *topology {
	n := &topology{byName: make(map[string]*swPort, len(t.ports)+1)}
	for _, p := range t.ports {
		if p != del {
			n.ports = append(n.ports, p)
		}
	}
	if add != nil {
		n.ports = append(n.ports, add)
	}
	for _, p := range n.ports {
		n.byName[p.name] = p
		p.vlan.members.each(func(vid uint16) { n.vlans[vid] = append(n.vlans[vid], p) })
	}
	return n
}

// AddStatic installs a static FDB entry for mac on vid at the named port.
func (s *Switch) AddStatic(port string, vid uint16, mac pkt.MAC) error {
	return s.addStatic(port, vid, mac, false)
}

// AddLocal installs the switch's own address (a gateway port's MAC) on vid
// at the named port: static, and a frame from any other port with it as
// source is dropped and counted (local_mac), so no guest can take the
// gateway's traffic by sending one frame with its MAC.
func (s *Switch) AddLocal(port string, vid uint16, mac pkt.MAC) error {
	return s.addStatic(port, vid, mac, true)
}

func (s *Switch) addStatic(port string, vid uint16, mac pkt.MAC, local bool) error {
	p, ok := s.topo.Load().byName[port]
	if !ok {
		return fmt.Errorf("static fdb entry %s: port %s: %w", mac, port, ErrNoSuchPort)
	}
	if !p.vlan.members.has(vid) {
		return fmt.Errorf("static fdb entry %s: port %s does not carry VLAN %d", mac, port, vid)
	}
	s.fdb.addStatic(p, vid, mac, local)
	if local {
		p.local.Store(true)
		if s.mdb != nil { // the gateway hears every group, as a router
			s.mdb.addRouter(p, vid, 0)
		}
	}
	return nil
}
