package gateway

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
)

var (
	upMAC     = pkt.MAC{0x02, 0, 0, 0, 0, 0xaa}
	upPfx     = netip.MustParsePrefix("192.0.2.10/24")
	upIP      = upPfx.Addr()
	routerIP  = netip.MustParseAddr("192.0.2.1")
	routerMAC = pkt.MAC{0x00, 0x00, 0x5e, 0x00, 0x01, 0x01}
	remoteIP  = netip.MustParseAddr("198.51.100.7")
	otherMAC  = pkt.MAC{0x52, 0x54, 0, 0, 0, 0x99}
)

// newUplink returns an uplink on a memLink, with the static outside
// address upPfx (or none, for DHCP, when static is false). Not started:
// what it sends waits on a ring for sent.
func newUplink(static bool) (*Uplink, *memLink) {
	l := newMemLink()
	cfg := UplinkConfig{Name: "up", Link: l, MAC: upMAC, Gateway: routerIP, NAT: nat.New(nat.Config{}),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if static {
		cfg.Address = upPfx
	}
	u := NewUplink(cfg)
	u.tx = ringEgress{ring.NewQueue[vswitch.Frame](1024)}
	return u, l
}

// ringEgress is an unstarted uplink's way out: a ring the test drains.
type ringEgress struct{ q *ring.Queue[vswitch.Frame] }

func (e ringEgress) Send(f *vswitch.Frame) {
	if !e.q.Put(f) {
		f.Release()
	}
}

// sent drains what u sent through its ringEgress.
func sent(u *Uplink) [][]byte { return takeAll(u.tx.(ringEgress).q) }

// startUplink starts u on a switch of its own, closed (with u) at the end
// of the test.
func startUplink(t *testing.T, u *Uplink) *vswitch.Switch {
	t.Helper()
	sw := vswitch.New(vswitch.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { u.Close(); sw.Close() })
	if err := u.Start(sw); err != nil {
		t.Fatal(err)
	}
	return sw
}

// feed hands b to u.handle as the reader would; true: handed on.
func feed(u *Uplink, b []byte, now time.Time) bool {
	f := frameOf(b)
	if u.handle(f, now) {
		return true
	}
	f.Release()
	return false
}

func TestUplinkHandleARP(t *testing.T) {
	stranger := netip.MustParseAddr("203.0.113.5")
	tests := []struct {
		name    string
		static  bool
		frame   []byte
		reply   []byte     // the exact answer, or nil
		learned netip.Addr // a neighbour that must now be cached
		absent  netip.Addr // one that must not
	}{
		{name: "request for our address", static: true,
			frame:   arpFrame(pkt.Broadcast, routerMAC, 1, routerMAC, routerIP, pkt.MAC{}, upIP),
			reply:   arpFrame(routerMAC, upMAC, 2, upMAC, upIP, routerMAC, routerIP),
			learned: routerIP},
		{name: "request unicast to our MAC", static: true,
			frame:   arpFrame(upMAC, routerMAC, 1, routerMAC, routerIP, pkt.MAC{}, upIP),
			reply:   arpFrame(routerMAC, upMAC, 2, upMAC, upIP, routerMAC, routerIP),
			learned: routerIP},
		{name: "request for another address", static: true,
			frame:   arpFrame(pkt.Broadcast, routerMAC, 1, routerMAC, routerIP, pkt.MAC{}, netip.MustParseAddr("192.0.2.99")),
			learned: routerIP},
		{name: "request from outside the prefix", static: true,
			frame:  arpFrame(pkt.Broadcast, otherMAC, 1, otherMAC, stranger, pkt.MAC{}, upIP),
			reply:  arpFrame(otherMAC, upMAC, 2, upMAC, upIP, otherMAC, stranger),
			absent: stranger},
		{name: "someone claims our address", static: true,
			frame:  arpFrame(pkt.Broadcast, otherMAC, 2, otherMAC, upIP, pkt.MAC{}, upIP),
			absent: upIP},
		{name: "reply", static: true,
			frame:   arpFrame(upMAC, routerMAC, 2, routerMAC, routerIP, upMAC, upIP),
			learned: routerIP},
		{name: "request to another MAC", static: true,
			frame:  arpFrame(otherMAC, routerMAC, 1, routerMAC, routerIP, pkt.MAC{}, upIP),
			absent: routerIP},
		{name: "truncated", static: true,
			frame:  arpFrame(pkt.Broadcast, routerMAC, 1, routerMAC, routerIP, pkt.MAC{}, upIP)[:14+27],
			absent: routerIP},
		{name: "no address yet",
			frame:  arpFrame(pkt.Broadcast, routerMAC, 1, routerMAC, routerIP, pkt.MAC{}, upIP),
			absent: routerIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := newUplink(tt.static)
			if feed(u, tt.frame, t0) {
				t.Fatal("ARP handed on")
			}
			out := sent(u)
			if tt.reply == nil && len(out) != 0 {
				t.Fatalf("answered: % x", out[0])
			}
			if tt.reply != nil && (len(out) != 1 || string(out[0]) != string(tt.reply)) {
				t.Fatalf("replies %d, want exactly\n% x\ngot\n% x", len(out), tt.reply, out)
			}
			if tt.learned.IsValid() {
				if mac, ok := u.neigh.lookup(tt.learned); !ok || mac != pkt.MAC(tt.frame[22:28]) {
					t.Fatalf("%v not learned (%v %v)", tt.learned, mac, ok)
				}
			}
			if tt.absent.IsValid() {
				if _, ok := u.neigh.lookup(tt.absent); ok {
					t.Fatalf("%v learned", tt.absent)
				}
			}
			if u.Drops() != [NumUplinkDrops]uint64{} {
				t.Fatalf("drops %v", u.Drops())
			}
		})
	}
}

func TestUplinkHandleDrops(t *testing.T) {
	routedNet := netip.MustParsePrefix("10.40.0.1/24")
	guest := netip.MustParseAddr("10.40.0.5")
	udpIn := func(dst netip.Addr, ttl uint8) []byte {
		return udpFrame(upMAC, routerMAC, remoteIP, dst, ttl, 53, 5000, []byte("x"))
	}
	var short []byte
	short = append(short, ethHdr(upMAC, routerMAC, pkt.TypeIPv4)...)
	short = append(short, ip4(remoteIP, upIP, 64, pkt.ProtoUDP, 1, 0, []byte{0, 53, 0x13, 0x88})...)
	tests := []struct {
		name   string
		static bool
		frame  []byte
		reason UplinkDropReason // noUplinkDrop: no counter moves
	}{
		{"to another MAC", true, udpFrame(otherMAC, routerMAC, remoteIP, upIP, 64, 53, 5000, nil), noUplinkDrop},
		{"not IPv4 or ARP", true, append(ethHdr(upMAC, routerMAC, pkt.TypeIPv6), make([]byte, 60)...), noUplinkDrop},
		{"runt", true, ethHdr(upMAC, routerMAC, pkt.TypeIPv4)[:13], noUplinkDrop},
		{"bad IPv4", true, append(ethHdr(upMAC, routerMAC, pkt.TypeIPv4), 0x46, 0, 0, 20), UplinkMalformed},
		{"no address yet", false, udpIn(upIP, 64), UplinkNoAddress},
		{"unsolicited", true, udpIn(upIP, 64), UplinkNotTracked},
		{"later fragment without a flow", true,
			append(ethHdr(upMAC, routerMAC, pkt.TypeIPv4), ip4(remoteIP, upIP, 64, pkt.ProtoUDP, 7, 100, []byte("datadata"))...), UplinkFragment},
		{"truncated UDP", true, short, UplinkMalformed},
		{"another address, no routed network", true, udpIn(netip.MustParseAddr("10.99.0.5"), 64), UplinkNotTracked},
		{"a nat network's guest, directly", true, udpIn(guestIP, 64), UplinkNotTracked},
		{"routed network, TTL 1", true, udpIn(guest, 1), UplinkTTL},
		{"routed network, TTL 0", true, udpIn(guest, 0), UplinkTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := newUplink(tt.static)
			natNet := New(Config{Network: "n", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
			routed := New(Config{Network: "r", Address: routedNet, Mode: config.ModeRouted, Uplink: u})
			u.Attach(natNet)
			u.Attach(routed)
			routed.neigh.learn(guest, guestMAC, t0)
			if feed(u, tt.frame, t0) {
				t.Fatal("handed on")
			}
			var want [NumUplinkDrops]uint64
			if tt.reason != noUplinkDrop {
				want[tt.reason] = 1
			}
			if u.Drops() != want {
				t.Fatalf("drops %v, want %v", u.Drops(), want)
			}
			if out := sent(u); len(out) != 0 {
				t.Fatalf("uplink sent % x", out[0])
			}
			if out := append(takeAll(natNet.q), takeAll(routed.q)...); len(out) != 0 {
				t.Fatalf("delivered % x", out[0])
			}
			if in, out := u.Translations(); in != 0 || out != 0 {
				t.Fatal("translations counted")
			}
		})
	}
}

// DHCP from a server goes to the client as a copy, never blocking the
// reader, whether or not the uplink has an address.
func TestUplinkDHCPToClient(t *testing.T) {
	u, _ := newUplink(false)
	srv := netip.MustParseAddr("192.0.2.2")
	bcast := netip.MustParseAddr("255.255.255.255")
	for i := range 6 {
		msg := []byte{2, 1, 6, 0, byte(i)}
		if feed(u, udpFrame(pkt.Broadcast, routerMAC, srv, bcast, 64, 67, 68, msg), t0) {
			t.Fatal("DHCP handed on")
		}
	}
	if len(u.dhcpCh) != 4 {
		t.Fatalf("%d messages queued for the client, want 4 (the rest dropped)", len(u.dhcpCh))
	}
	for i := range 4 {
		if m := <-u.dhcpCh; string(m) != string([]byte{2, 1, 6, 0, byte(i)}) {
			t.Fatalf("message %d: % x", i, m)
		}
	}
	if u.Drops() != [NumUplinkDrops]uint64{} {
		t.Fatalf("drops %v", u.Drops())
	}
	// Not from the server port, or a fragment: not DHCP (and no address).
	feed(u, udpFrame(pkt.Broadcast, routerMAC, srv, bcast, 64, 68, 68, []byte{2}), t0)
	frag := append(ethHdr(pkt.Broadcast, routerMAC, pkt.TypeIPv4), ip4(srv, bcast, 64, pkt.ProtoUDP, 3, pkt.IPv4FlagMF, udp4(srv, bcast, 67, 68, []byte{2}))...)
	feed(u, frag, t0)
	feed(u, udpFrame(pkt.Broadcast, routerMAC, srv, bcast, 64, 67, 67, []byte{2}), t0)
	if len(u.dhcpCh) != 0 || u.Drops()[UplinkNoAddress] != 3 {
		t.Fatalf("%d queued, drops %v", len(u.dhcpCh), u.Drops())
	}
}

// An outside packet for the next hop: resolved by ARP (10 requests a
// second at most), dropped while unresolved, sent once the reply is in.
func TestUplinkSendResolves(t *testing.T) {
	u, _ := newUplink(true)
	pktOut := func(dst netip.Addr) *vswitch.Frame {
		return frameOf(append(make([]byte, 14), ip4(upIP, dst, 63, pkt.ProtoUDP, 9, 0, udp4(upIP, dst, 40000, 53, []byte("q")))...))
	}
	for range 12 {
		u.send(pktOut(remoteIP), t0)
	}
	out := sent(u)
	if len(out) != 10 {
		t.Fatalf("%d ARP requests in one second, want 10", len(out))
	}
	want := arpFrame(pkt.Broadcast, upMAC, 1, upMAC, upIP, pkt.MAC{}, routerIP)
	for _, b := range out {
		if string(b) != string(want) {
			t.Fatalf("ARP request\n% x\nwant\n% x", b, want)
		}
	}
	if d := u.Drops(); d != [NumUplinkDrops]uint64{UplinkNeighMiss: 12} {
		t.Fatalf("drops %v", d)
	}
	u.send(pktOut(remoteIP), t0.Add(time.Second))
	if out := sent(u); len(out) != 1 {
		t.Fatalf("%d ARP requests in the next second", len(out))
	}

	// On the outside link itself: ARP for the destination, not the router.
	onLink := netip.MustParseAddr("192.0.2.77")
	u.send(pktOut(onLink), t0.Add(2*time.Second))
	if out := sent(u); len(out) != 1 || string(out[0]) != string(arpFrame(pkt.Broadcast, upMAC, 1, upMAC, upIP, pkt.MAC{}, onLink)) {
		t.Fatalf("ARP for an on-link destination: % x", out)
	}

	// The router answers: the packet goes out to its MAC, unchanged.
	feed(u, arpFrame(upMAC, routerMAC, 2, routerMAC, routerIP, upMAC, upIP), t0)
	f := pktOut(remoteIP)
	ipWant := append([]byte(nil), f.Bytes()[14:]...)
	u.send(f, t0.Add(2*time.Second))
	out = sent(u)
	if len(out) != 1 || string(out[0]) != string(append(ethHdr(routerMAC, upMAC, pkt.TypeIPv4), ipWant...)) {
		t.Fatalf("sent % x", out)
	}
	if d := u.Drops(); d[UplinkNeighMiss] != 14 {
		t.Fatalf("drops %v", d)
	}

	// No address: nothing goes out, not even an ARP request.
	u2, _ := newUplink(false)
	u2.send(pktOut(remoteIP), t0)
	u2.resolve(routerIP, t0)
	if d := u2.Drops(); d[UplinkNoAddress] != 1 || len(sent(u2)) != 0 {
		t.Fatalf("drops %v", d)
	}
}

func TestDecTTL(t *testing.T) {
	for _, ttl := range []uint8{0, 1} {
		ip := ip4(guestIP, remoteIP, ttl, pkt.ProtoUDP, 1, 0, nil)
		before := string(ip)
		if pkt.IPv4(ip).DecTTL() || string(ip) != before {
			t.Fatalf("TTL %d forwarded or changed", ttl)
		}
	}
	// Against a full recomputation, across TTLs and header contents
	// (including the sums that wrap through 0xffff).
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		ttl := uint8(2 + i%254)
		ip := ip4(netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), 0, byte(i)}), remoteIP, ttl, uint8(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32()), nil)
		if !pkt.IPv4(ip).DecTTL() {
			t.Fatalf("TTL %d not forwarded", ttl)
		}
		want := ip4(pkt.IPv4(ip).Src(), remoteIP, ttl-1, ip[9], binary.BigEndian.Uint16(ip[4:]), binary.BigEndian.Uint16(ip[6:]), nil)
		if string(ip) != string(want) {
			t.Fatalf("after DecTTL % x, want % x", ip, want)
		}
	}
}

// Uplink tokens: 10 a second, refilled when the second changes.
func TestTokens(t *testing.T) {
	var tk tokens
	n := 0
	for range 15 {
		if tk.allow(t0) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d allowed", n)
	}
	if !tk.allow(t0.Add(time.Second)) {
		t.Fatal("not refilled")
	}
}

// The running uplink: it announces its static address, resolves the
// router, forwards both ways through its link, survives a transient read
// error, and Close stops everything. Its link is a switch port, with
// exact rx/tx counters.
func TestUplinkStartStatic(t *testing.T) {
	u, l := newUplink(true)
	clk := newFakeClock()
	u.clk = clk
	p := New(Config{Network: "n", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	l.errs <- errors.New("transient")
	sw := startUplink(t, u)
	if b := l.expect(t); string(b) != string(arpFrame(pkt.Broadcast, upMAC, 1, upMAC, upIP, pkt.MAC{}, upIP)) {
		t.Fatalf("gratuitous ARP % x", b)
	}
	if b := l.expect(t); string(b) != string(arpFrame(pkt.Broadcast, upMAC, 1, upMAC, upIP, pkt.MAC{}, routerIP)) {
		t.Fatalf("ARP for the router % x", b)
	}
	arpIn := arpFrame(upMAC, routerMAC, 2, routerMAC, routerIP, upMAC, upIP)
	l.in <- arpIn
	waitFor(t, func() bool { _, ok := u.neigh.lookup(routerIP); return ok })

	p.handle(arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwAddr.Addr()), clk.Now())
	takeAll(p.q) // the ARP reply
	p.handle(udpFrame(p.MAC(), guestMAC, guestIP, remoteIP, 64, 5353, 53, []byte("query")), clk.Now())
	b := l.expect(t)
	ip := checkIPv4(t, b)
	if pkt.Ethernet(b).Dst() != routerMAC || pkt.Ethernet(b).Src() != upMAC || ip.Src() != upIP || ip.TTL() != 63 {
		t.Fatalf("outbound % x", b)
	}
	sport := binary.BigEndian.Uint16(ip[20:])
	answer := udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, sport, []byte("answer"))
	l.in <- answer
	var in []byte
	waitFor(t, func() bool {
		if out := takeAll(p.q); len(out) > 0 {
			in = out[0]
			return true
		}
		return false
	})
	if want := udpFrame(guestMAC, p.MAC(), remoteIP, guestIP, 49, 53, 5353, []byte("answer")); string(in) != string(want) {
		t.Fatalf("inbound\n% x\nwant\n% x", in, want)
	}
	// Sent: the gratuitous ARP, the ARP for the router (60 bytes each,
	// padded) and the query; received: the ARP reply and the answer.
	rx, tx := uint64(len(arpIn)+len(answer)), uint64(2*60+len(b))
	waitFor(t, func() bool {
		st, _ := sw.Port("up")
		return st.RxPackets == 2 && st.RxBytes == rx && st.TxPackets == 3 && st.TxBytes == tx
	})
	closeUplink(t, u, l)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sw.Port("up"); ok {
		t.Fatal("port left on the switch")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

// Frames the link does not take are counted on its port (tx_error), not
// lost silently.
func TestUplinkWriteRefused(t *testing.T) {
	u, l := newUplink(true)
	u.clk = newFakeClock()
	l.refuse.Store(true)
	sw := startUplink(t, u)
	// The gratuitous ARP and the ARP for the router are written and refused.
	waitFor(t, func() bool { return l.tried.Load() == 2 })
	waitFor(t, func() bool { st, _ := sw.Port("up"); return st.Drops[vswitch.DropTxError] == 2 })
	if st, _ := sw.Port("up"); st.TxPackets != 0 || st.Drops != [vswitch.NumDropReasons]uint64{vswitch.DropTxError: 2} {
		t.Fatalf("tx %d, drops %v", st.TxPackets, st.Drops)
	}
	if d := u.Drops(); d != [NumUplinkDrops]uint64{} {
		t.Fatalf("uplink drops %v", d)
	}
}

// An uplink whose name a port has already does not start, and Close
// still closes its link.
func TestUplinkStartNameTaken(t *testing.T) {
	u, l := newUplink(true)
	sw := vswitch.New(vswitch.Config{})
	defer sw.Close()
	if err := sw.AddPort(vswitch.PortConfig{Name: "up"}, newMemLink()); err != nil {
		t.Fatal(err)
	}
	if err := u.Start(sw); !errors.Is(err, vswitch.ErrPortExists) {
		t.Fatalf("Start: %v", err)
	}
	closeUplink(t, u, l)
}

// closeUplink closes u and checks that its link went with it.
func closeUplink(t *testing.T, u *Uplink, l *memLink) {
	t.Helper()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.closed:
	default:
		t.Fatal("link not closed")
	}
}
