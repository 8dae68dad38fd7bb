package vswitch

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Port guards pin a port to its own addresses, as libvirt's clean-traffic
// filter and a managed switch's port security do: a frame whose source MAC,
// IPv4 source or ARP sender is not the port's is dropped (spoofed_mac,
// spoofed_ip, spoofed_arp) before it is learned or forwarded. With a
// static guard the addresses come from the config; with a DHCP guard they
// are the leases the gateway's DHCP server acknowledged to a MAC on this
// port (DHCP snooping, plus ARP inspection against those bindings).
//
// The per-frame check reads one atomic pointer to an immutable binding set
// and scans it (a few entries); an ACK replaces the set (copy on write
// under a mutex the frame path never takes).

// GuardConfig is a port guard. DHCP and the static lists exclude each
// other.
type GuardConfig struct {
	// DHCP binds the port to the (MAC, address) pairs of its own DHCP
	// leases. Before a lease the port may send only DHCP from 0.0.0.0 and
	// ARP probes.
	DHCP bool
	// MACs are the source MACs the port may use (empty: any).
	MACs []pkt.MAC
	// IPs are the IPv4 sources and ARP sender addresses the port may use
	// (empty: any, and frames of any EtherType pass the guard), and its
	// IPv6 sources: with none listed, IPv6 is dropped (guard6.go).
	IPs []netip.Addr
}

// MaxGuardBindings bounds the leases a DHCP-guarded port holds at once;
// a new one replaces the one that expires first.
const MaxGuardBindings = 8

// typeRARP is QEMU's announce-self after a migration: allowed from the
// port's own MAC (clean-traffic's qemu-announce-self).
const typeRARP = 0x8035

type guard struct {
	dhcp bool
	l3   bool // IPv4 and ARP are checked; other EtherTypes are dropped
	v6   bool // with l3: IPv6 is checked (guard6.go), not dropped
	set  atomic.Pointer[guardSet]
	mu   sync.Mutex // serialises updates of set; never taken per frame
}

// guardSet is immutable once stored.
type guardSet struct {
	macs  []pkt.MAC
	ips   [][4]byte
	ips6  [][16]byte
	bound []binding // DHCP leases
	// bound6 are DHCPv6 leases; bind and unbind carry them over.
	bound6 []binding6
}

// binding is one lease of a DHCP-guarded port.
type binding struct {
	mac    pkt.MAC
	ip     [4]byte
	expiry int64 // unix seconds
}

// check reports a guard the switch cannot apply; a nil guard is none.
func (c *GuardConfig) check() error {
	if c == nil {
		return nil
	}
	if c.DHCP == (len(c.MACs)+len(c.IPs) > 0) {
		return errors.New("guard: DHCP, or a list of MACs or addresses, not both or neither")
	}
	for _, a := range c.IPs {
		if a.Is4In6() || a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
			return fmt.Errorf("guard: %v is not a unicast IPv4 or IPv6 address", a)
		}
	}
	return nil
}

func newGuard(c *GuardConfig) *guard {
	if c == nil {
		return nil
	}
	g := &guard{dhcp: c.DHCP, l3: c.DHCP || len(c.IPs) > 0}
	set := &guardSet{macs: append([]pkt.MAC(nil), c.MACs...)}
	for _, a := range c.IPs {
		if a.Is4() {
			set.ips = append(set.ips, a.As4())
		} else {
			set.ips6 = append(set.ips6, a.As16())
		}
	}
	g.v6 = c.DHCP || len(set.ips6) > 0
	g.set.Store(set)
	return g
}

// macOK reports whether mac may be a source on the port at now.
func (s *guardSet) macOK(dhcp bool, mac pkt.MAC, now int64) bool {
	if dhcp {
		for i := range s.bound {
			if s.bound[i].mac == mac && s.bound[i].expiry > now {
				return true
			}
		}
		for i := range s.bound6 {
			if s.bound6[i].mac == mac && s.bound6[i].expiry > now {
				return true
			}
		}
		return false
	}
	if len(s.macs) == 0 {
		return true
	}
	for _, m := range s.macs {
		if m == mac {
			return true
		}
	}
	return false
}

// ipOK reports whether mac may use ip as its address at now.
func (s *guardSet) ipOK(dhcp bool, mac pkt.MAC, ip [4]byte, now int64) bool {
	if dhcp {
		for i := range s.bound {
			if b := &s.bound[i]; b.ip == ip && b.mac == mac && b.expiry > now {
				return true
			}
		}
		return false
	}
	// ips may be empty with only IPv6 listed: then no IPv4 source is the port's.
	for _, a := range s.ips {
		if a == ip {
			return true
		}
	}
	return false
}

// screen runs a frame from p through p's guard, and snoops DHCP ACKs the
// gateway sends. It returns a drop reason, or NumDropReasons to go on.
func (s *Switch) screen(p *swPort, f *Frame, now int64) DropReason {
	if g := p.guard; g != nil {
		return s.guardCheck(p, g, f, now)
	}
	if p.local.Load() {
		s.snoopDHCP(f, now)
	}
	return NumDropReasons
}

// guardCheck applies p's guard to f.
func (s *Switch) guardCheck(p *swPort, g *guard, f *Frame, now int64) DropReason {
	eth := pkt.Ethernet(f.Bytes())
	src := eth.Src()
	set := g.set.Load()
	macOK := set.macOK(g.dhcp, src, now)
	switch eth.Type() {
	case pkt.TypeIPv4:
		if !g.l3 {
			break
		}
		ip := pkt.IPv4(eth.Payload())
		if !ip.Valid() {
			return DropSpoofedIP // no source to check
		}
		sip := [4]byte(ip[12:16])
		if sip == ([4]byte{}) && isDHCPClient(ip) {
			// DISCOVER, REQUEST before a lease, DECLINE: from 0.0.0.0.
			if macOK || g.dhcp && !s.boundElsewhere(p, src, now) {
				return NumDropReasons
			}
			return DropSpoofedMAC
		}
		if !macOK {
			return DropSpoofedMAC
		}
		if !set.ipOK(g.dhcp, src, sip, now) {
			return DropSpoofedIP
		}
		return NumDropReasons
	case pkt.TypeARP:
		if !g.l3 {
			break
		}
		a := pkt.ARP(eth.Payload())
		if !a.Valid() {
			return DropSpoofedARP
		}
		sip := [4]byte(a[14:18])
		probe := sip == [4]byte{}
		if !macOK && !(probe && g.dhcp && !s.boundElsewhere(p, src, now)) {
			return DropSpoofedMAC
		}
		if a.SenderMAC() != src || !probe && !set.ipOK(g.dhcp, src, sip, now) {
			return DropSpoofedARP
		}
		return NumDropReasons
	case pkt.TypeIPv6:
		if g.v6 {
			return s.guardCheck6(p, g, set, f, src, macOK, now)
		}
		if g.l3 {
			if !macOK {
				return DropSpoofedMAC
			}
			return DropGuardEtherType
		}
	case typeRARP:
		// Checked by MAC only, below.
	default:
		if g.l3 {
			if !macOK {
				return DropSpoofedMAC
			}
			return DropGuardEtherType
		}
	}
	if !macOK {
		return DropSpoofedMAC
	}
	return NumDropReasons
}

// isDHCPClient reports whether ip is a DHCP client's message to a server
// (UDP 68 -> 67), the one thing a port sends from 0.0.0.0.
func isDHCPClient(ip pkt.IPv4) bool {
	if ip.Protocol() != pkt.ProtoUDP || ip.IsFragment() {
		return false
	}
	u := pkt.UDP(ip.Payload())
	return u.Valid() && u.SrcPort() == pkt.DHCPClientPort && u.DstPort() == pkt.DHCPServerPort
}

// boundElsewhere reports whether mac holds a lease on another
// DHCP-guarded port: then a lease-less frame from p with it is a theft, not
// a new guest. It walks every port's bindings, not just where the FDB has
// mac: an idle guest's entry ages out long before its lease ends. Only
// frames from unbound MACs (DHCP from 0.0.0.0, ARP probes) come here.
func (s *Switch) boundElsewhere(p *swPort, mac pkt.MAC, now int64) bool {
	for _, q := range s.topo.Load().ports {
		if q != p && q.guard != nil && q.guard.dhcp && q.guard.set.Load().macOK(true, mac, now) {
			return true
		}
	}
	return false
}

// snoopDHCP binds the address of a DHCP ACK the gateway sends to the
// DHCP-guarded port where the FDB has the client's MAC.
func (s *Switch) snoopDHCP(f *Frame, now int64) {
	eth := pkt.Ethernet(f.Bytes())
	if eth.Type() == pkt.TypeIPv6 {
		s.snoopDHCP6(f, now)
		return
	}
	if eth.Type() != pkt.TypeIPv4 {
		return
	}
	ip := pkt.IPv4(eth.Payload())
	if !ip.Valid() || ip.Protocol() != pkt.ProtoUDP || ip.IsFragment() {
		return
	}
	u := pkt.UDP(ip.Payload())
	if !u.Valid() || u.SrcPort() != pkt.DHCPServerPort || u.DstPort() != pkt.DHCPClientPort {
		return
	}
	d := pkt.DHCP(u.Payload())
	if !d.Valid() || d.Op() != pkt.BOOTReply || d.HType() != 1 || d.HLen() != 6 {
		return
	}
	o := d.ParseOptions()
	yi := d.YIAddr()
	if o.Type != pkt.DHCPAck || o.Malformed || o.LeaseTime == 0 || yi.IsUnspecified() {
		return // an INFORM's ACK has no lease and no yiaddr
	}
	mac := d.CHAddr()
	q := s.fdb.lookup(f.vid, mac)
	if q == nil || q.guard == nil || !q.guard.dhcp {
		return
	}
	expiry := now + int64(o.LeaseTime)
	if o.LeaseTime == math.MaxUint32 {
		expiry = math.MaxInt64 // infinite
	}
	ip4 := yi.As4()
	// The address is this client's now: a port that held it before (a
	// lease released early) loses it.
	for _, other := range s.topo.Load().ports {
		if other != q && other.guard != nil && other.guard.dhcp {
			other.guard.unbind(ip4, now)
		}
	}
	q.guard.bind(binding{mac: mac, ip: ip4, expiry: expiry}, now)
}

// bind adds or renews b, dropping expired bindings; when the port holds
// MaxGuardBindings, the one that expires first makes room.
func (g *guard) bind(b binding, now int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.set.Load()
	n := &guardSet{bound: make([]binding, 0, len(old.bound)+1), bound6: old.bound6}
	for _, o := range old.bound {
		if o.expiry > now && (o.mac != b.mac || o.ip != b.ip) {
			n.bound = append(n.bound, o)
		}
	}
	n.bound = append(makeRoom(n.bound, func(b binding) int64 { return b.expiry }), b)
	g.set.Store(n)
}

// makeRoom removes the binding that expires first from a full set.
func makeRoom[B binding | binding6](bound []B, expiry func(B) int64) []B {
	if len(bound) < MaxGuardBindings {
		return bound
	}
	first := 0
	for i, o := range bound {
		if expiry(o) < expiry(bound[first]) {
			first = i
		}
	}
	return append(bound[:first], bound[first+1:]...)
}

// unbind removes every binding of ip.
func (g *guard) unbind(ip [4]byte, now int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.set.Load()
	keep := 0
	for _, o := range old.bound {
		if o.ip != ip {
			keep++
		}
	}
	if keep == len(old.bound) {
		return
	}
	n := &guardSet{bound: make([]binding, 0, keep), bound6: old.bound6}
	for _, o := range old.bound {
		if o.ip != ip && o.expiry > now {
			n.bound = append(n.bound, o)
		}
	}
	g.set.Store(n)
}

// GuardBinding is one address a DHCP-guarded port holds.
type GuardBinding struct {
	MAC    pkt.MAC
	IP     netip.Addr
	Expiry int64 // unix seconds; math.MaxInt64 for an infinite lease
}

// GuardBindings returns the unexpired bindings of a DHCP-guarded port,
// IPv4 leases first, then DHCPv6 ones.
func (s *Switch) GuardBindings(port string) []GuardBinding {
	p, ok := s.topo.Load().byName[port]
	if !ok || p.guard == nil {
		return nil
	}
	var out []GuardBinding
	now := time.Now().Unix()
	for _, b := range p.guard.set.Load().bound {
		if b.expiry > now {
			out = append(out, GuardBinding{MAC: b.mac, IP: netip.AddrFrom4(b.ip), Expiry: b.expiry})
		}
	}
	for _, b := range p.guard.set.Load().bound6 {
		if b.expiry > now {
			out = append(out, GuardBinding{MAC: b.mac, IP: netip.AddrFrom16(b.ip), Expiry: b.expiry})
		}
	}
	return out
}
