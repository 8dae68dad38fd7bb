package vswitch

import (
	"sort"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// PortStatus is a snapshot of one port, for the control API and metrics.
type PortStatus struct {
	Name      string
	VLAN      VLANConfig
	MACs      int
	MaxMACs   int
	QueueLen  int
	QueueCap  int
	RxPackets uint64
	RxBytes   uint64
	TxPackets uint64
	TxBytes   uint64
	Drops     [NumDropReasons]uint64
}

// Ports returns a snapshot of every port in the order they were added.
func (s *Switch) Ports() []PortStatus {
	topo := s.topo.Load()
	out := make([]PortStatus, 0, len(topo.ports))
	for _, p := range topo.ports {
		out = append(out, p.status())
	}
	return out
}

// Port returns one port's snapshot.
func (s *Switch) Port(name string) (PortStatus, bool) {
	p, ok := s.topo.Load().byName[name]
	if !ok {
		return PortStatus{}, false
	}
	return p.status(), true
}

func (p *swPort) status() PortStatus {
	st := PortStatus{
		Name:      p.name,
		VLAN:      p.vlanCfg,
		MACs:      int(p.macs.Load()),
		MaxMACs:   int(p.maxMACs),
		QueueLen:  p.q.Len(),
		QueueCap:  p.q.Cap(),
		RxPackets: p.stats.rxPackets.Load(),
		RxBytes:   p.stats.rxBytes.Load(),
		TxPackets: p.stats.txPackets.Load(),
		TxBytes:   p.stats.txBytes.Load(),
	}
	for i := range st.Drops {
		st.Drops[i] = p.stats.drops[i].Load()
	}
	if d, ok := p.drv.(RxDropper); ok {
		d.RxDrops(&st.Drops)
	}
	return st
}

// FDBEntry is one learned or static address.
type FDBEntry struct {
	VLAN   uint16
	MAC    pkt.MAC
	Port   string
	Age    time.Duration // since last seen; 0 for static entries
	Static bool
}

// FDB returns the table sorted by VLAN, then MAC.
func (s *Switch) FDB() []FDBEntry {
	now := time.Now().Unix()
	var out []FDBEntry
	s.fdb.m.Range(func(k uint64, e *fdbEntry) bool {
		p := e.port.Load()
		if p == nil {
			return true
		}
		fe := FDBEntry{
			VLAN:   uint16(k >> 48),
			MAC:    pkt.MACFromUint64(k),
			Port:   p.name,
			Static: e.static,
		}
		if !e.static {
			fe.Age = time.Duration(max(now-e.seen.Load(), 0)) * time.Second
		}
		out = append(out, fe)
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].VLAN != out[j].VLAN {
			return out[i].VLAN < out[j].VLAN
		}
		return out[i].MAC.Uint64() < out[j].MAC.Uint64()
	})
	return out
}

// FDBStats are the table's counters.
type FDBStats struct {
	Entries int
	Learned uint64
	Moves   uint64
	Evicted uint64 // entries evicted to give a port under its fair share room
}

// FDBStats returns the table's counters.
func (s *Switch) FDBStats() FDBStats {
	return FDBStats{Entries: s.fdb.m.Size(), Learned: s.fdb.learned.Load(), Moves: s.fdb.moves.Load(),
		Evicted: s.fdb.evicted.Load()}
}

// Known reports whether the FDB holds mac on vid (learned or static).
func (s *Switch) Known(vid uint16, mac pkt.MAC) bool { return s.fdb.lookup(vid, mac) != nil }

// FinalPorts is Ports as Close left them: no port reads or writes any
// more, so the counters are final (an upgrade hands them over). Nil
// before Close.
func (s *Switch) FinalPorts() []PortStatus {
	topo := s.last.Load()
	if topo == nil {
		return nil
	}
	out := make([]PortStatus, 0, len(topo.ports))
	for _, p := range topo.ports {
		out = append(out, p.status())
	}
	return out
}

// AddCounters adds c's packet, byte and drop counts to the port's own:
// an upgrade carries a port's counters over to the new process, so they
// go on instead of starting at zero. False if there is no such port.
func (s *Switch) AddCounters(name string, c PortStatus) bool {
	p, ok := s.topo.Load().byName[name]
	if !ok {
		return false
	}
	p.stats.rxPackets.Add(c.RxPackets)
	p.stats.rxBytes.Add(c.RxBytes)
	p.stats.txPackets.Add(c.TxPackets)
	p.stats.txBytes.Add(c.TxBytes)
	for i, n := range c.Drops {
		p.stats.drops[i].Add(n)
	}
	return true
}
