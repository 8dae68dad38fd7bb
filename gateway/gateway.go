package gateway

import (
	"hash/fnv"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/dhcp6"
	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Config is one network's gateway.
type Config struct {
	Network string
	VLAN    uint16
	Address netip.Prefix  // the gateway's address and the network's prefix
	MAC     pkt.MAC       // zero: a stable locally administered one from the name
	DHCP    *dhcp.Server  // nil: no DHCP on this network
	DHCP6   *dhcp6.Server // nil: no DHCPv6 (dhcp6.go); needs Address6
	// Known reports whether the switch learned mac on vid. DHCP from an
	// address the switch refused to learn (a port over its max_macs) is
	// ignored, so one port cannot drain the pool.
	Known func(vid uint16, mac pkt.MAC) bool
	// Mode: with nat or routed, packets for addresses outside the
	// network and every other network leave through Uplink.
	Mode   config.Mode
	Uplink *Uplink
	DNS    *dns.Server // nil: port 53 is closed, as on a host without a resolver
	// Address6 turns IPv6 on (ipv6.go): the gateway's address and the
	// network's /64. Router6 routes IPv6 between the networks that share
	// it (route6.go); nil routes none.
	Address6 netip.Prefix
	Router6  *Router6
	// Querier makes the gateway the network's IGMP and MLD querier
	// (querier.go), for the switch's multicast snooping.
	Querier bool
}

// DropReason says why the gateway port dropped a frame: a label value of
// vswitch_gateway_drops_total{reason}; docs/metrics.md lists them.
type DropReason uint8

const (
	DropNotForUs      DropReason = iota // addressed to another host: isolated networks route nothing
	DropBadIP                           // bad IPv4 header or checksum
	DropFragment                        // fragments addressed to the gateway
	DropRateLimited                     // ICMP error suppressed by the rate limit
	DropQueueFull                       // reply queue full
	DropUnlearnedSrc                    // DHCP from a MAC the switch did not learn
	DropChaddrSpoofed                   // DHCP whose client hardware address is not the frame's source
	DropTTLExceeded                     // a guest's packet to route with TTL <= 1 (answered with time exceeded)
	DropNeighMiss                       // a packet from the uplink for a guest not in the neighbour cache yet (ARP sent)
	DropBadSource                       // a packet to route whose source is not a guest address of the network (rp_filter)
	DropBadOffload                      // a partial checksum or GSO super-frame whose headers do not parse (offload.go)
	DropBadIPv6                         // bad IPv6 header or extension-header chain
	DropBadICMPv6                       // ICMPv6 too short or with a bad checksum
	DropBadNDP                          // neighbour discovery that fails RFC 4861's checks (hop limit, options, code)
	DropNDPSpoofed                      // NS or NA whose link-layer address is not the frame's source MAC
	DropAddrConflict                    // NS probe or NA for one of the gateway's own IPv6 addresses
	DropTooBig                          // an IPv6 packet to route larger than the uplink's MTU (answered with Packet Too Big)
	NumDrops
)

var dropNames = [NumDrops]string{
	DropNotForUs:      "no_route",
	DropBadIP:         "bad_ip",
	DropFragment:      "fragment",
	DropRateLimited:   "icmp_ratelimit",
	DropQueueFull:     "reply_queue_full",
	DropUnlearnedSrc:  "unlearned_src",
	DropChaddrSpoofed: "chaddr_spoofed",
	DropTTLExceeded:   "ttl_exceeded",
	DropNeighMiss:     "neigh_miss",
	DropBadSource:     "bad_source",
	DropBadOffload:    "bad_offload",
	DropBadIPv6:       "bad_ipv6",
	DropBadICMPv6:     "bad_icmpv6",
	DropBadNDP:        "bad_ndp",
	DropNDPSpoofed:    "ndp_spoofed",
	DropAddrConflict:  "addr_conflict",
	DropTooBig:        "packet_too_big",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }

// Port is the gateway's internal switch port on one network.
type Port struct {
	cfg   Config
	mac   pkt.MAC
	ip    netip.Addr
	bcast netip.Addr
	sub   subnet // the network's prefix, for source checks
	ip32  uint32 // ip, likewise
	q     *ring.Queue[vswitch.Frame]
	// in forwards what put delivers from the caller's goroutine (nil
	// until the switch attaches the port: then put queues for ReadBatch).
	in   atomic.Pointer[vswitch.Ingress]
	done chan struct{}
	once sync.Once
	garp atomic.Bool // gratuitous ARP sent
	adv  atomic.Bool // IPv6 advertiser started

	neigh *neighbours
	// ICMP error tokens: refilled to icmpBurst every second, as Linux's
	// icmp_ratelimit does per destination (we keep one bucket).
	tokens   atomic.Int64
	lastFill atomic.Int64
	ipID     atomic.Uint32

	drops   [NumDrops]atomic.Uint64
	dhcpBuf []byte // the writer goroutine's scratch for DHCP replies
	relayIn bool   // the frame being handled came in on a trusted relay port (writer goroutine)
	// cur is the frame WriteBatch is handling, which routed may keep
	// instead of copying (then it is nil). The writer goroutine's alone,
	// as relayIn.
	cur    *vswitch.Frame
	arpTok tokens // ARP requests for guests, per second

	// vnet is the virtio-net header of the frame being routed whole
	// (writer goroutine; offload.go): route copies it with the packet.
	vnet pkt.VirtioNetHdr
	v6   *v6 // nil without address6

	mq *querier // nil: not a querier (querier.go)
}

const icmpBurst = 100

var (
	_ vswitch.Port      = (*Port)(nil)
	_ vswitch.TryWriter = (*Port)(nil)
)

// StableMAC derives a locally administered unicast MAC from a name, so a
// gateway keeps its MAC across restarts and guests' ARP caches stay right.
func StableMAC(name string) pkt.MAC {
	h := fnv.New64a()
	h.Write([]byte("vswitch-gateway/" + name))
	s := h.Sum64()
	return pkt.MAC{0x02, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// New returns the gateway port for cfg.
func New(cfg Config) *Port {
	mac := cfg.MAC
	if mac.IsZero() {
		mac = StableMAC(cfg.Network)
	}
	sub := newSubnet(cfg.Address)
	p := &Port{
		cfg: cfg, mac: mac, ip: cfg.Address.Addr(), bcast: addrFrom32(sub.last),
		sub: sub, ip32: addr32(cfg.Address.Addr()),
		q: ring.NewQueue[vswitch.Frame](1024), done: make(chan struct{}), neigh: newNeighbours(1024),
		dhcpBuf: make([]byte, 1500),
	}
	p.tokens.Store(icmpBurst)
	if cfg.Address6.IsValid() {
		p.v6 = newV6(cfg.Address6, mac)
		if cfg.Router6 != nil {
			cfg.Router6.join(p)
		}
	}
	if cfg.Querier {
		p.mq = newQuerier(p)
		go p.mq.run()
	}
	return p
}

// MAC is the gateway's MAC address.
func (p *Port) MAC() pkt.MAC { return p.mac }

// Drops returns the gateway's drop counters.
func (p *Port) Drops() (d [NumDrops]uint64) {
	label.Load(d[:], p.drops[:])
	return d
}

// Neighbours is the number of cached neighbours.
func (p *Port) Neighbours() int { return p.neigh.len() }

// Features: the gateway takes partial checksums and GSO super-frames, so
// that what it routes out keeps them (offload.go).
func (p *Port) Features() vswitch.Features { return vswitch.FeatVNetHdr }

// Close stops the port.
func (p *Port) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// ReadBatch hands the switch the gateway's replies (and, first, a
// gratuitous ARP announcing the gateway's address and MAC; with IPv6,
// then DAD probes and router advertisements from ra.go's advertiser).
func (p *Port) ReadBatch(frames []*vswitch.Frame) (int, error) {
	if p.garp.CompareAndSwap(false, true) {
		f := frames[0]
		f.SetLen(writeARP(f.RxBuf(), pkt.ARPRequest, p.mac, p.ip, pkt.MAC{}, p.ip))
		return 1, nil
	}
	if p.v6 != nil && p.adv.CompareAndSwap(false, true) {
		go p.advertise(time.After) // DAD once attached: its probes go out now
	}
	var out [vswitch.BatchSize]*vswitch.Frame
	n := p.q.Wait(out[:min(len(frames), len(out))], p.done)
	if n == 0 {
		return 0, vswitch.ErrClosed
	}
	for i := range n {
		frames[i].Release()
		frames[i] = out[i]
	}
	return n, nil
}

// WriteBatch is where the switch delivers frames to the gateway: each is
// answered (a reply queued for ReadBatch) or dropped with a reason.
func (p *Port) WriteBatch(frames []*vswitch.Frame) (int, error) {
	select {
	case <-p.done:
		return 0, vswitch.ErrClosed
	default:
	}
	now := time.Now()
	for i, f := range frames {
		p.relayIn = f.Mark()&MarkDHCPRelay != 0
		var kept bool
		if f.VNet != (pkt.VirtioNetHdr{}) {
			kept = p.offloaded(f, now)
		} else {
			kept = p.handleFrame(f, now)
		}
		if kept {
			frames[i] = vswitch.NewFrame() // f went on (routed)
		}
	}
	return len(frames), nil
}

// handleFrame is handle for a frame of the batch, which routed may keep:
// then it reports true.
func (p *Port) handleFrame(f *vswitch.Frame, now time.Time) (kept bool) {
	p.cur = f
	p.handle(f.Bytes(), now)
	kept = p.cur == nil
	p.cur = nil
	return kept
}

// AttachedIngress implements vswitch.Injector.
func (p *Port) AttachedIngress(in *vswitch.Ingress) { p.in.Store(in) }

// TryWriteBatch implements vswitch.TryWriter: WriteBatch never waits
// (durable writes are the store goroutine's), so the switch runs the
// gateway in the goroutine that read the frame, as it writes a TAP.
func (p *Port) TryWriteBatch(frames []*vswitch.Frame) (done, sent int, err error) {
	n, err := p.WriteBatch(frames)
	return n, n, err
}

func (p *Port) handle(b []byte, now time.Time) {
	eth := pkt.Ethernet(b)
	if !eth.Valid() {
		return
	}
	dst := eth.Dst()
	if p.mq != nil && dst.IsMulticast() && dst != pkt.Broadcast {
		p.mq.observe(eth, now) // the queries and leaves of the network
	}
	if dst != p.mac && dst != pkt.Broadcast && (p.v6 == nil || !p.v6.wantMAC(dst) && !p.wantDHCP6(dst)) {
		return // flooded unicast for someone else, or multicast: not ours
	}
	switch eth.Type() {
	case pkt.TypeARP:
		p.arp(eth, now)
	case pkt.TypeIPv4:
		p.ipv4(eth, now)
	case pkt.TypeIPv6:
		p.ipv6(eth, now)
	}
}

func (p *Port) arp(eth pkt.Ethernet, now time.Time) {
	a := pkt.ARP(eth.Payload())
	if !a.Valid() {
		return
	}
	sip := a.SenderIP()
	if p.guestAddr(sip) && !a.SenderMAC().IsMulticast() && !a.SenderMAC().IsZero() {
		p.neigh.learn(sip, a.SenderMAC(), now)
	}
	if a.Op() != pkt.ARPRequest || a.TargetIP() != p.ip {
		return
	}
	f, b := newFrame()
	p.send(f, writeARP(b, pkt.ARPReply, p.mac, p.ip, a.SenderMAC(), sip))
}

// guestAddr reports whether a guest of this network may use a as its
// address: inside the prefix, and neither the gateway's own address nor
// (below /31, RFC 3021) the network's or its broadcast address.
func (p *Port) guestAddr(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	v := addr32(a)
	return p.sub.host(v) && v != p.ip32
}

// send queues a reply of n bytes.
func (p *Port) send(f *vswitch.Frame, n int) {
	f.SetLen(n)
	if !p.q.Put(f) {
		p.drops[DropQueueFull].Add(1)
		f.Release()
	}
}

func (p *Port) ipv4(eth pkt.Ethernet, now time.Time) {
	ip := pkt.IPv4(eth.Payload())
	if !ip.Valid() || !ip.HeaderChecksumOK() {
		p.drops[DropBadIP].Add(1)
		return
	}
	dst := ip.Dst()
	toUs := dst == p.ip
	bcast := dst == p.bcast || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if ip.Protocol() == pkt.ProtoUDP && (toUs || bcast) && !ip.IsFragment() {
		u := pkt.UDP(ip.Payload())
		if u.Valid() && u.DstPort() == pkt.DHCPServerPort {
			p.dhcp(eth, u.Payload())
			return
		}
	}
	if !toUs {
		if bcast || dst.IsMulticast() {
			return
		}
		if u := p.cfg.Uplink; u != nil && p.cfg.Mode.RoutesOut() &&
			!p.sub.contains(addr32(dst)) && u.routes.Load().lookup(dst) == nil {
			// rp_filter: only a guest address of this network is routed.
			// Conntrack keys on the source, so a foreign one would bring
			// the outside's answer into another network, and a routed
			// network would put it on the outside LAN as it is.
			if !p.guestAddr(ip.Src()) {
				p.drops[DropBadSource].Add(1)
				return
			}
			p.route(eth, ip, now)
			return
		}
		// Other networks are not reachable from here: libvirt's rules
		// reject traffic between virtual networks too.
		p.drops[DropNotForUs].Add(1)
		return
	}
	if ip.IsFragment() {
		p.drops[DropFragment].Add(1)
		return
	}
	p.neigh.confirm(ip.Src(), eth.Src(), now)
	switch ip.Protocol() {
	case pkt.ProtoICMP:
		c := pkt.ICMP(ip.Payload())
		if c.Valid() && c.Type() == pkt.ICMPEchoRequest && c.Code() == 0 && pkt.Checksum(c, 0) == 0xffff {
			p.echoReply(eth, ip)
		}
	case pkt.ProtoUDP:
		if p.dnsUDP(eth, ip, now) {
			return
		}
		p.icmpError(eth, ip, pkt.ICMPUnreachable, pkt.ICMPCodePortUnreach, now)
	case pkt.ProtoTCP:
		if p.dnsTCP(eth, ip, now) {
			return
		}
		p.tcpReset(eth, ip)
	default:
		p.icmpError(eth, ip, pkt.ICMPUnreachable, pkt.ICMPCodeProtoUnreach, now)
	}
}

// dhcp runs a DHCP message through the network's server and frames the
// reply.
func (p *Port) dhcp(eth pkt.Ethernet, msg []byte) {
	if p.cfg.DHCP == nil {
		return
	}
	if p.cfg.Known != nil && !p.cfg.Known(p.cfg.VLAN, eth.Src()) {
		p.drops[DropUnlearnedSrc].Add(1)
		return
	}
	// A lease is bound to chaddr: a guest asking for another hardware
	// address than its own would drain the pool from one learned MAC
	// (libvirt's clean-traffic filter and DHCP snooping refuse it too).
	// A relay's frames carry the relay's MAC: a relayed message (giaddr
	// set) counts against the relay's own limits instead (relay.go), and
	// a trusted relay port is not checked.
	m, from := pkt.DHCP(msg), dhcp.From{MAC: eth.Src(), Trusted: p.relayIn}
	if m.Valid() && m.CHAddr() != from.MAC && !from.Trusted && m.GIAddr().IsUnspecified() {
		p.drops[DropChaddrSpoofed].Add(1)
		return
	}
	rep, ok := p.cfg.DHCP.HandleFrom(m, from, p.dhcpBuf)
	if !ok {
		return // no answer, or one that waits for its lease to be on disk
	}
	p.DeliverDHCP(rep)
}

// DeliverDHCP frames a DHCP reply and queues it to the guest, or to its
// relay agent on port 67. The dhcp server's store goroutine calls it
// (through dhcp.Config.Deliver) with an ACK once its lease is on disk, so
// it copies rep.Msg and touches nothing but the multi-producer reply
// queue and the neighbour cache.
func (p *Port) DeliverDHCP(rep dhcp.Reply) {
	dstPort := uint16(pkt.DHCPClientPort)
	if rep.ToRelay {
		dstPort = pkt.DHCPServerPort // the client is behind the relay, not at chaddr on this link
	} else {
		p.learnLease(pkt.DHCP(rep.Msg))
	}
	dstMAC, dstIP := rep.DstMAC, rep.DstIP
	if rep.Broadcast {
		dstMAC, dstIP = pkt.Broadcast, netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	hdr := pkt.EthernetLen + pkt.IPv4MinLen + pkt.UDPLen
	n := hdr + len(rep.Msg)
	f, b := newFrame()
	copy(b[hdr:], rep.Msg)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dstMAC, Src: p.mac, Type: pkt.TypeIPv4})
	pkt.EncodeUDP(b[pkt.EthernetLen+pkt.IPv4MinLen:], p.ip, dstIP, pkt.DHCPServerPort, dstPort, len(rep.Msg))
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(n - pkt.EthernetLen),
		ID: uint16(p.ipID.Add(1)), TTL: 64, Protocol: pkt.ProtoUDP, Src: p.ip, Dst: dstIP})
	p.send(f, n)
}
