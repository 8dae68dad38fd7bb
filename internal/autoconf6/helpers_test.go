package autoconf6

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The test link: the client's MAC and addresses, and a router.
var (
	myMAC     = pkt.MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	myLL      = netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	rtrMAC    = pkt.MAC{0x02, 0, 0, 0, 0, 0x01}
	rtrLL     = netip.MustParseAddr("fe80::1")
	otherMAC  = pkt.MAC{0x02, 0, 0, 0, 0, 0x99}
	pfxA      = netip.MustParsePrefix("2001:db8:1::/64")
	slaacA    = netip.MustParseAddr("2001:db8:1::5054:ff:fe12:3456")
	dnsA      = netip.MustParseAddr("2001:db8::53")
	serverID  = []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 1}
	leaseAddr = netip.MustParseAddr("2001:db8:77::150")
	t0        = time.Unix(1_700_000_000, 0)
)

// fixedRand makes jitter 0, delays ~0 and transaction ids 1000.
func fixedRand() uint32 { return 1000 }

const testXID = 1000

// harness is a client on a fake clock that records what it sends.
type harness struct {
	t   *testing.T
	c   *Client
	now time.Time
	out [][]byte
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: t0}
	h.c = New(Config{MAC: myMAC, Now: func() time.Time { return h.now }, Rand: fixedRand,
		Send: func(f []byte) { h.out = append(h.out, append([]byte(nil), f...)) }})
	return h
}

// at moves the clock to t0+d and ticks.
func (h *harness) at(d time.Duration) {
	h.now = t0.Add(d)
	h.c.Tick(h.now)
}

// after moves the clock on by d and ticks.
func (h *harness) after(d time.Duration) {
	h.now = h.now.Add(d)
	h.c.Tick(h.now)
}

// take returns and forgets what was sent.
func (h *harness) take() [][]byte {
	o := h.out
	h.out = nil
	return o
}

// start runs the first Tick a microsecond before t0: the link-local
// probe's random delay (232 ns with fixedRand) ends before t0.
func (h *harness) start() {
	h.at(-time.Microsecond)
	if o := h.take(); len(o) != 0 {
		h.t.Fatalf("%d frames before the random delay", len(o))
	}
}

// ready runs the start: link-local probe at t0, its end a second later
// with the first RS.
func (h *harness) ready() {
	h.t.Helper()
	h.start()
	h.at(0)
	h.at(time.Second)
	if s := h.c.State(); s.LinkLocal != myLL {
		h.t.Fatalf("link-local %v, want %v", s.LinkLocal, myLL)
	}
	h.take()
}

// drops returns the nonzero drop counters by name.
func (h *harness) drops() map[string]uint64 {
	m := map[string]uint64{}
	for i, n := range h.c.Drops() {
		if n != 0 {
			m[DropReason(i).String()] = n
		}
	}
	return m
}

// icmp6Frame frames an ICMPv6 message (checksum computed).
func icmp6Frame(src, dst pkt.MAC, sip, dip netip.Addr, hop uint8, msg []byte) []byte {
	b := make([]byte, icmpOff+len(msg))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(msg)), NextHeader: pkt.ProtoICMPv6, HopLimit: hop, Src: sip, Dst: dip})
	copy(b[icmpOff:], msg)
	pkt.ICMPv6(b[icmpOff:]).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(msg))))
	return b
}

// raOpt is an option for raMsg.
type raOpt func(w *pkt.NDPOptionWriter)

func optPrefix(p netip.Prefix, flags uint8, valid, pref uint32) raOpt {
	return func(w *pkt.NDPOptionWriter) { w.AddPrefixInfo(p, flags, valid, pref) }
}
func optMTU(m uint32) raOpt { return func(w *pkt.NDPOptionWriter) { w.AddMTU(m) } }
func optRDNSS(life uint32, a netip.Addr) raOpt {
	return func(w *pkt.NDPOptionWriter) { w.AddRDNSS(life, a) }
}
func optSLLA(m pkt.MAC) raOpt {
	return func(w *pkt.NDPOptionWriter) { w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, m) }
}

// raMsg is a router advertisement message.
func raMsg(flags uint8, life uint16, opts ...raOpt) []byte {
	b := make([]byte, 512)
	pkt.NDPRouterAdvert(b).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64, Flags: flags, RouterLifetime: life})
	w := pkt.NDPOptionWriter{B: b, N: pkt.NDPRouterAdvertLen}
	for _, o := range opts {
		o(&w)
	}
	return b[:w.N]
}

// ra is an advertisement from the router to all nodes.
func ra(flags uint8, life uint16, opts ...raOpt) []byte {
	return raFrom(rtrMAC, rtrLL, flags, life, opts...)
}

func raFrom(mac pkt.MAC, src netip.Addr, flags uint8, life uint16, opts ...raOpt) []byte {
	return icmp6Frame(mac, pkt.MulticastMAC6(pkt.IPv6AllNodes), src, pkt.IPv6AllNodes, 255, raMsg(flags, life, opts...))
}

// slaacRA is an ordinary advertisement: pfxA for SLAAC, an MTU, RDNSS.
func slaacRA() []byte {
	return ra(0, 1800, optSLLA(rtrMAC), optPrefix(pfxA, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 3600, 1800), optMTU(1400), optRDNSS(1800, dnsA))
}

// na is an advertisement of target from mac.
func na(mac pkt.MAC, target netip.Addr) []byte {
	m := make([]byte, pkt.NDPNeighAdvertLen+pkt.NDPLLAOptLen)
	pkt.NDPNeighAdvert(m).Encode(pkt.NDPNAOverride, target)
	w := pkt.NDPOptionWriter{B: m, N: pkt.NDPNeighAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptTargetLLA, mac)
	return icmp6Frame(mac, pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.LinkLocalFromMAC(mac), pkt.IPv6AllNodes, 255, m)
}

// dadProbe is another node's DAD probe for target.
func dadProbe(mac pkt.MAC, target netip.Addr) []byte {
	m := make([]byte, pkt.NDPNeighSolicitLen)
	pkt.NDPNeighSolicit(m).Encode(target)
	g := pkt.SolicitedNode(target)
	return icmp6Frame(mac, pkt.MulticastMAC6(g), netip.IPv6Unspecified(), g, 255, m)
}

// srv describes a server's message for srvMsg.
type srv struct {
	typ      uint8
	xid      uint32
	client   []byte // nil: the client's DUID
	server   []byte // nil: serverID
	status   int    // top-level status; -1: none
	pref     int    // preference option; -1: none
	iaid     uint32 // 0: the client's
	noIA     bool
	t1, t2   uint32
	addr     netip.Addr // in the IA; invalid: none
	prefLife uint32
	valid    uint32
	iaStatus int // -1: none
	dns      []netip.Addr
	refresh  int // -1: none
}

func reply(typ uint8, xid uint32) srv {
	return srv{typ: typ, xid: xid, status: -1, pref: -1, iaStatus: -1, refresh: -1,
		t1: 1800, t2: 2880, addr: leaseAddr, prefLife: 3600, valid: 3600, dns: []netip.Addr{dnsA}}
}

// advertise is an ADVERTISE of leaseAddr with preference 255 (requested
// at once).
func advertise() srv {
	s := reply(pkt.DHCPv6Advertise, testXID)
	s.pref = 255
	return s
}

func (h *harness) srvMsg(s srv) []byte {
	b := make([]byte, 1024)
	w := pkt.DHCPv6Writer{B: b}
	w.Header(s.typ, s.xid)
	cl := s.client
	if cl == nil {
		cl = h.c.DUID()
	}
	w.Option(pkt.DHCPv6OptClientID, cl)
	sv := s.server
	if sv == nil {
		sv = serverID
	}
	w.Option(pkt.DHCPv6OptServerID, sv)
	if s.status >= 0 {
		w.Status(uint16(s.status), "st")
	}
	if s.pref >= 0 {
		w.Option(pkt.DHCPv6OptPreference, []byte{byte(s.pref)})
	}
	if !s.noIA {
		iaid := s.iaid
		if iaid == 0 {
			iaid = h.c.IAID()
		}
		at := w.Begin(pkt.DHCPv6OptIANA)
		w.U32(iaid)
		w.U32(s.t1)
		w.U32(s.t2)
		if s.addr.IsValid() {
			a := w.Begin(pkt.DHCPv6OptIAAddr)
			w.Addr(s.addr)
			w.U32(s.prefLife)
			w.U32(s.valid)
			w.End(a)
		}
		if s.iaStatus >= 0 {
			w.Status(uint16(s.iaStatus), "ia")
		}
		w.End(at)
	}
	if len(s.dns) > 0 {
		at := w.Begin(pkt.DHCPv6OptDNSServers)
		for _, a := range s.dns {
			w.Addr(a)
		}
		w.End(at)
	}
	if s.refresh >= 0 {
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], uint32(s.refresh))
		w.Option(pkt.DHCPv6OptInfoRefresh, v[:])
	}
	return b[:w.N]
}

// udp6Frame frames a UDP datagram from the router to the client's
// link-local address.
func udp6Frame(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, dhcpOff+len(payload))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: myMAC, Src: rtrMAC, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	n := pkt.UDPLen + len(payload)
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(n), NextHeader: pkt.ProtoUDP, HopLimit: 64, Src: rtrLL, Dst: myLL})
	u := b[pkt.EthernetLen+pkt.IPv6Len:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(n))
	copy(u[pkt.UDPLen:], payload)
	pkt.UDP(u).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(n)))
	return b
}

func (h *harness) dhcpFrame(s srv) []byte {
	return udp6Frame(pkt.DHCPv6ServerPort, pkt.DHCPv6ClientPort, h.srvMsg(s))
}

// sent is a frame the client sent, decoded.
type sent struct {
	dstMAC   pkt.MAC
	src, dst netip.Addr
	hop      uint8
	icmpType uint8      // ICMPv6 messages
	target   netip.Addr // NS
	slla     pkt.MAC    // RS, NS option
	dhcp     pkt.DHCPv6 // DHCPv6 messages
}

// decode checks a sent frame's framing and checksums and decodes it.
func decode(t *testing.T, f []byte) sent {
	t.Helper()
	eth := pkt.Ethernet(f)
	if len(f) < 60 || eth.Src() != myMAC || eth.Type() != pkt.TypeIPv6 {
		t.Fatalf("bad frame % x", f)
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() {
		t.Fatalf("bad IPv6 % x", f)
	}
	s := sent{dstMAC: eth.Dst(), src: ip.Src(), dst: ip.Dst(), hop: ip.HopLimit()}
	if pkt.MulticastMAC6(s.dst) != s.dstMAC {
		t.Fatalf("dst MAC %v for %v", s.dstMAC, s.dst)
	}
	l4 := ip.Rest()
	switch ip.NextHeader() {
	case pkt.ProtoICMPv6:
		m := pkt.ICMPv6(l4)
		if !m.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(m)))) {
			t.Fatalf("bad ICMPv6 checksum % x", f)
		}
		s.icmpType = m.Type()
		if m.Type() == pkt.ICMPv6NeighSolicit {
			s.target = pkt.NDPNeighSolicit(m).Target()
		}
		for o := m.NDPOptions(); o.Next(); {
			if o.Type() == pkt.NDPOptSourceLLA {
				s.slla, _ = pkt.NDPLinkLayerAddr(o.Data())
			}
		}
	case pkt.ProtoUDP:
		u := pkt.UDP(l4)
		if !u.Valid() || u.SrcPort() != 546 || u.DstPort() != 547 ||
			pkt.Checksum(u[:u.Length()], ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) != 0xffff {
			t.Fatalf("bad UDP % x", f)
		}
		s.dhcp = pkt.DHCPv6(u.Payload())
	default:
		t.Fatalf("unexpected protocol %d", ip.NextHeader())
	}
	return s
}

// one returns the single frame sent since the last take, decoded.
func (h *harness) one() sent {
	h.t.Helper()
	o := h.take()
	if len(o) != 1 {
		h.t.Fatalf("%d frames sent, want 1", len(o))
	}
	return decode(h.t, o[0])
}
