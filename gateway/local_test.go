package gateway

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Tests of what the gateway answers itself: ARP, ICMP, TCP RST, DHCP.

var gwIP = gwAddr.Addr()

// poisonPool fills pooled frames with junk, so a reply that leaves
// bytes it did not write shows them.
func poisonPool() {
	var fs []*vswitch.Frame
	for range 64 {
		f := vswitch.NewFrame()
		b := f.RxBuf()
		for i := range b {
			b[i] = 0xee
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		f.Release()
	}
}

// answer hands one frame to p at now and returns the replies.
func answer(p *Port, frame []byte, now time.Time) [][]byte {
	poisonPool()
	p.handle(frame, now)
	return takeAll(p.q)
}

// answeredWith hands a new port frame and checks that it answers with
// reply alone, or with nothing when reply is nil; it returns the port.
func answeredWith(t *testing.T, frame, reply []byte) *Port {
	t.Helper()
	p := newPort()
	out := answer(p, frame, t0)
	if reply == nil && len(out) != 0 || reply != nil && (len(out) != 1 || string(out[0]) != string(reply)) {
		t.Fatalf("replies\n% x\nwant\n% x", out, reply)
	}
	return p
}

// pad60 pads a frame to the Ethernet minimum with zeros.
func pad60(b []byte) []byte {
	if len(b) < 60 {
		b = append(b, make([]byte, 60-len(b))...)
	}
	return b
}

func TestGatewayARP(t *testing.T) {
	mcast := pkt.MAC{0x01, 0, 0x5e, 0, 0, 1}
	outside := netip.MustParseAddr("192.168.5.5")
	tests := []struct {
		name    string
		frame   []byte
		reply   []byte
		learned bool // guest (the sender) cached
	}{
		{"request for the gateway", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP),
			arpFrame(guestMAC, StableMAC("t"), 2, StableMAC("t"), gwIP, guestMAC, guestIP), true},
		{"unicast request", arpFrame(StableMAC("t"), guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP),
			arpFrame(guestMAC, StableMAC("t"), 2, StableMAC("t"), gwIP, guestMAC, guestIP), true},
		{"request for another guest", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, guest2IP), nil, true},
		{"reply", arpFrame(StableMAC("t"), guestMAC, 2, guestMAC, guestIP, StableMAC("t"), gwIP), nil, true},
		{"multicast sender", arpFrame(pkt.Broadcast, guestMAC, 1, mcast, guestIP, pkt.MAC{}, gwIP),
			arpFrame(mcast, StableMAC("t"), 2, StableMAC("t"), gwIP, mcast, guestIP), false},
		{"sender outside the network", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, outside, pkt.MAC{}, gwIP),
			arpFrame(guestMAC, StableMAC("t"), 2, StableMAC("t"), gwIP, guestMAC, outside), false},
		{"sender claims the gateway's address", arpFrame(pkt.Broadcast, guestMAC, 2, guestMAC, gwIP, pkt.MAC{}, gwIP), nil, false},
		{"sender claims the network's address", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, netip.MustParseAddr("10.30.0.0"), pkt.MAC{}, guest2IP), nil, false},
		{"sender claims the broadcast address", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, netip.MustParseAddr("10.30.0.255"), pkt.MAC{}, guest2IP), nil, false},
		{"zero sender MAC", arpFrame(pkt.Broadcast, guestMAC, 1, pkt.MAC{}, guestIP, pkt.MAC{}, guest2IP), nil, false},
		{"probe from 0.0.0.0", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, netip.IPv4Unspecified(), pkt.MAC{}, guestIP), nil, false},
		{"truncated", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP)[:41], nil, false},
		{"to another MAC", arpFrame(guest2MAC, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP), nil, false},
		{"to a multicast MAC", arpFrame(mcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP), nil, false},
		{"runt", arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP)[:13], nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := answeredWith(t, tt.frame, tt.reply)
			if n := p.Neighbours(); n != map[bool]int{false: 0, true: 1}[tt.learned] {
				t.Fatalf("%d neighbours", n)
			}
			if p.Drops() != [NumDrops]uint64{} {
				t.Fatalf("drops %v", p.Drops())
			}
		})
	}
	// Learned with the sender's MAC and address.
	p := newPort()
	answer(p, arpFrame(pkt.Broadcast, guestMAC, 1, guest2MAC, guest2IP, pkt.MAC{}, gwIP), t0)
	if mac, ok := p.neigh.lookup(guest2IP); !ok || mac != guest2MAC {
		t.Fatalf("learned %v %v", mac, ok)
	}
}

func icmpMsg(typ, code uint8, rest []byte) []byte {
	m := append([]byte{typ, code, 0, 0}, rest...)
	s := refSum(m)
	m[2], m[3] = byte(s>>8), byte(s)
	return m
}

// fromGuest is an IPv4 frame from the guest to the gateway.
func fromGuest(proto uint8, id uint16, flags uint16, payload []byte) []byte {
	return append(ethHdr(StableMAC("t"), guestMAC, pkt.TypeIPv4), ip4(guestIP, gwIP, 64, proto, id, flags, payload)...)
}

// toGuest is the gateway's reply of IP ID id.
func toGuest(proto uint8, id uint16, flags uint16, payload []byte) []byte {
	return pad60(append(ethHdr(guestMAC, StableMAC("t"), pkt.TypeIPv4), ip4(gwIP, guestIP, 64, proto, id, flags, payload)...))
}

func tcpSeg(sport, dport uint16, seq, ack uint32, flags uint8, data []byte, src, dst netip.Addr) []byte {
	b := make([]byte, 20, 20+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12], b[13] = 5<<4, flags
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[16:], sum4(src, dst, pkt.ProtoTCP, b))
	return b
}

func TestGatewayAnswers(t *testing.T) {
	echo := icmpMsg(8, 0, []byte{0, 7, 0, 1, 'p', 'i', 'n', 'g'})
	badEcho := append([]byte(nil), echo...)
	badEcho[2]++
	udp := udp4(guestIP, gwIP, 5555, 9999, []byte("hi"))
	quote := func(frame []byte) []byte { return frame[14 : 14+28] }
	syn := tcpSeg(40000, 22, 1000, 0, 0x02, nil, guestIP, gwIP)
	synData := tcpSeg(40000, 22, 1000, 0, 0x02|0x01, []byte("abc"), guestIP, gwIP)
	ackSeg := tcpSeg(40000, 22, 1000, 77777, 0x10, []byte("data"), guestIP, gwIP)
	rst := tcpSeg(40000, 22, 1000, 0, 0x04, nil, guestIP, gwIP)
	badOff := tcpSeg(40000, 22, 1000, 0, 0x02, nil, guestIP, gwIP)
	badOff[12] = 4 << 4
	longOff := tcpSeg(40000, 22, 1000, 0, 0x02, nil, guestIP, gwIP)
	longOff[12] = 6 << 4
	tests := []struct {
		name  string
		frame []byte
		reply []byte // with IP ID 1
		drop  DropReason
	}{
		{"echo", fromGuest(pkt.ProtoICMP, 9, 0, echo),
			toGuest(pkt.ProtoICMP, 1, 0, icmpMsg(0, 0, []byte{0, 7, 0, 1, 'p', 'i', 'n', 'g'})), noDrop},
		{"echo, bad checksum", fromGuest(pkt.ProtoICMP, 9, 0, badEcho), nil, noDrop},
		{"echo, code 1", fromGuest(pkt.ProtoICMP, 9, 0, icmpMsg(8, 1, []byte{0, 7, 0, 1})), nil, noDrop},
		{"echo reply", fromGuest(pkt.ProtoICMP, 9, 0, icmpMsg(0, 0, []byte{0, 7, 0, 1})), nil, noDrop},
		{"ICMP too short", fromGuest(pkt.ProtoICMP, 9, 0, []byte{8, 0, 0xf7, 0xff}), nil, noDrop},
		{"UDP to a closed port", fromGuest(pkt.ProtoUDP, 9, 0, udp),
			toGuest(pkt.ProtoICMP, 1, 0, icmpMsg(3, 3, append([]byte{0, 0, 0, 0}, quote(fromGuest(pkt.ProtoUDP, 9, 0, udp))...))), noDrop},
		{"UDP, header cut short", fromGuest(pkt.ProtoUDP, 9, 0, udp[:5]),
			toGuest(pkt.ProtoICMP, 1, 0, icmpMsg(3, 3, append([]byte{0, 0, 0, 0}, fromGuest(pkt.ProtoUDP, 9, 0, udp[:5])[14:]...))), noDrop},
		{"unknown protocol", fromGuest(47, 9, 0, []byte("gre-payload")),
			toGuest(pkt.ProtoICMP, 1, 0, icmpMsg(3, 2, append([]byte{0, 0, 0, 0}, quote(fromGuest(47, 9, 0, []byte("gre-payload")))...))), noDrop},
		{"TCP SYN", fromGuest(pkt.ProtoTCP, 9, 0, syn),
			toGuest(pkt.ProtoTCP, 1, pkt.IPv4FlagDF, tcpSeg(22, 40000, 0, 1001, 0x14, nil, gwIP, guestIP)), noDrop},
		{"TCP SYN+FIN with data", fromGuest(pkt.ProtoTCP, 9, 0, synData),
			toGuest(pkt.ProtoTCP, 1, pkt.IPv4FlagDF, tcpSeg(22, 40000, 0, 1005, 0x14, nil, gwIP, guestIP)), noDrop},
		{"TCP ACK", fromGuest(pkt.ProtoTCP, 9, 0, ackSeg),
			toGuest(pkt.ProtoTCP, 1, pkt.IPv4FlagDF, tcpSeg(22, 40000, 77777, 0, 0x04, nil, gwIP, guestIP)), noDrop},
		{"TCP RST", fromGuest(pkt.ProtoTCP, 9, 0, rst), nil, noDrop},
		{"TCP short", fromGuest(pkt.ProtoTCP, 9, 0, syn[:19]), nil, noDrop},
		{"TCP data offset below 20", fromGuest(pkt.ProtoTCP, 9, 0, badOff), nil, noDrop},
		{"TCP data offset past the end", fromGuest(pkt.ProtoTCP, 9, 0, longOff), nil, noDrop},
		{"bad IP checksum", func() []byte { b := fromGuest(pkt.ProtoICMP, 9, 0, echo); b[24]++; return b }(), nil, DropBadIP},
		{"truncated IP", fromGuest(pkt.ProtoICMP, 9, 0, echo)[:14+19], nil, DropBadIP},
		{"first fragment", fromGuest(pkt.ProtoICMP, 9, pkt.IPv4FlagMF, echo), nil, DropFragment},
		{"later fragment", fromGuest(pkt.ProtoUDP, 9, 3, udp), nil, DropFragment},
		{"DHCP port, fragment", fromGuest(pkt.ProtoUDP, 9, pkt.IPv4FlagMF, udp4(guestIP, gwIP, 68, 67, make([]byte, 300))), nil, DropFragment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := answeredWith(t, tt.frame, tt.reply)
			var d [NumDrops]uint64
			if tt.drop != noDrop {
				d[tt.drop] = 1
			}
			if p.Drops() != d {
				t.Fatalf("drops %v", p.Drops())
			}
			if n := p.Neighbours(); n != 0 {
				t.Fatalf("%d neighbours: an IP packet taught the cache", n)
			}
		})
	}
}

// Each reply has the next IP ID; a sender outside the network gets its
// answer; no sender is cached (only ARP and DHCP teach the cache); the
// largest ping that fits a frame is answered.
func TestGatewayEchoDetails(t *testing.T) {
	p := newPort()
	echo := icmpMsg(8, 0, []byte{0, 7, 0, 1})
	for id := uint16(1); id <= 3; id++ {
		out := answer(p, fromGuest(pkt.ProtoICMP, 9, 0, echo), t0)
		if len(out) != 1 || binary.BigEndian.Uint16(out[0][18:]) != id {
			t.Fatalf("reply %d: % x", id, out)
		}
	}
	stranger := netip.MustParseAddr("172.16.0.9")
	out := answer(p, append(ethHdr(StableMAC("t"), guestMAC, pkt.TypeIPv4), ip4(stranger, gwIP, 64, pkt.ProtoICMP, 1, 0, echo)...), t0)
	if len(out) != 1 || pkt.IPv4(out[0][14:]).Dst() != stranger || p.Neighbours() != 0 {
		t.Fatalf("stranger: %d replies, %d neighbours", len(out), p.Neighbours())
	}
	body := make([]byte, vswitch.SmallDataLen-14-20-8)
	big := icmpMsg(8, 0, append([]byte{0, 7, 0, 1}, body...))
	out = answer(p, fromGuest(pkt.ProtoICMP, 9, 0, big), t0)
	if len(out) != 1 || len(out[0]) != vswitch.SmallDataLen {
		t.Fatalf("largest ping: %d replies", len(out))
	}
	checkIPv4(t, out[0])
	big = icmpMsg(8, 0, append([]byte{0, 7, 0, 1}, append(body, 0)...))
	if out = answer(p, fromGuest(pkt.ProtoICMP, 9, 0, big), t0); len(out) != 0 {
		t.Fatal("a ping larger than a frame answered")
	}
}

// ICMP errors: 100 a second, counted beyond; pings are not limited.
func TestGatewayICMPRateExact(t *testing.T) {
	p := newPort()
	udp := udp4(guestIP, gwIP, 5555, 9999, nil)
	n := 0
	for range 150 {
		n += len(answer(p, fromGuest(pkt.ProtoUDP, 1, 0, udp), t0))
	}
	if n != 100 || p.Drops()[DropRateLimited] != 50 {
		t.Fatalf("%d errors, %d limited", n, p.Drops()[DropRateLimited])
	}
	echo := icmpMsg(8, 0, []byte{0, 7, 0, 1})
	if len(answer(p, fromGuest(pkt.ProtoICMP, 1, 0, echo), t0)) != 1 {
		t.Fatal("ping limited")
	}
	n = 0
	for range 101 {
		n += len(answer(p, fromGuest(pkt.ProtoUDP, 1, 0, udp), t0.Add(time.Second)))
	}
	if n != 100 || p.Drops()[DropRateLimited] != 51 {
		t.Fatalf("next second: %d errors, %d limited", n, p.Drops()[DropRateLimited])
	}
}

// guestDHCP is a DHCP message from the guest (to the broadcast address
// unless dst says otherwise).
func guestDHCP(typ uint8, xid uint32, flags uint16, ciaddr netip.Addr, dst netip.Addr, opts ...byte) []byte {
	m := bootp(pkt.BOOTRequest, xid, flags, bootpAddrs{ci: ciaddr}, guestMAC, typ, opts)
	m = append(m, make([]byte, 300-len(m))...)
	src := netip.IPv4Unspecified()
	if ciaddr.IsValid() {
		src = ciaddr
	}
	dstMAC := pkt.Broadcast
	if dst != netip.MustParseAddr("255.255.255.255") {
		dstMAC = StableMAC("t")
	}
	return append(ethHdr(dstMAC, guestMAC, pkt.TypeIPv4), ip4(src, dst, 64, pkt.ProtoUDP, 1, 0, udp4(src, dst, 68, 67, m))...)
}

func dhcpConfig() dhcp.Config {
	return dhcp.Config{Network: "t", Gateway: gwAddr, RangeStart: netip.MustParseAddr("10.30.0.10"),
		RangeEnd: netip.MustParseAddr("10.30.0.20"), Lease: time.Hour}
}

// The gateway hands DHCP to package dhcp and frames the reply to the
// right MAC and address: the twin server, fed the same messages, says
// what the payload must be.
func TestGatewayDHCP(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	offered := netip.MustParseAddr("10.30.0.10")
	p := newPort()
	twin := dhcp.NewServer(dhcpConfig(), nil)
	buf := make([]byte, 1500)
	want := func(frame []byte, dstMAC pkt.MAC, dst netip.Addr) []byte {
		rep, ok := twin.Handle(pkt.DHCP(pkt.UDP(pkt.IPv4(frame[14:]).Payload()).Payload()), buf)
		if !ok {
			t.Fatal("the twin server did not answer")
		}
		return append(ethHdr(dstMAC, StableMAC("t"), pkt.TypeIPv4), ip4(gwIP, dst, 64, pkt.ProtoUDP, uint16(p.ipID.Load()+1), 0, udp4(gwIP, dst, 67, 68, rep.Msg))...)
	}
	steps := []struct {
		name   string
		frame  []byte
		dstMAC pkt.MAC
		dst    netip.Addr
	}{
		{"DISCOVER", guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, bcast), guestMAC, offered},
		{"DISCOVER, broadcast flag", guestDHCP(pkt.DHCPDiscover, 2, 0x8000, netip.Addr{}, bcast), pkt.Broadcast, bcast},
		{"REQUEST to the directed broadcast", guestDHCP(pkt.DHCPRequest, 3, 0, netip.Addr{}, netip.MustParseAddr("10.30.0.255"),
			50, 4, 10, 30, 0, 10, 54, 4, 10, 30, 0, 1), guestMAC, offered},
		{"renewal, unicast", guestDHCP(pkt.DHCPRequest, 4, 0, offered, gwIP), guestMAC, offered},
	}
	for _, s := range steps {
		w := want(s.frame, s.dstMAC, s.dst)
		out := answer(p, s.frame, t0)
		if len(out) != 1 || string(out[0]) != string(w) {
			t.Fatalf("%s: replies\n% x\nwant\n% x", s.name, out, w)
		}
		checkIPv4(t, out[0])
	}
	// No answer from the server (a RELEASE), no frame.
	if out := answer(p, guestDHCP(pkt.DHCPRelease, 5, 0, offered, gwIP), t0); len(out) != 0 || p.Drops() != [NumDrops]uint64{} {
		t.Fatalf("RELEASE answered: %d, drops %v", len(out), p.Drops())
	}
	// To another host's address: not the gateway's business.
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 6, 0, netip.Addr{}, netip.MustParseAddr("10.30.0.99")), t0); len(out) != 0 || p.Drops()[DropNotForUs] != 1 {
		t.Fatalf("DHCP to another host: %d, drops %v", len(out), p.Drops())
	}
}

func TestGatewayDHCPGuards(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	// No server on the network: silence.
	p := New(Config{Network: "t", VLAN: 1, Address: gwAddr})
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, bcast), t0); len(out) != 0 || p.Drops() != [NumDrops]uint64{} {
		t.Fatal("answered without a server")
	}
	// From a MAC the switch did not learn: counted, not answered.
	type call struct {
		vid uint16
		mac pkt.MAC
	}
	var calls []call
	known := false
	p = New(Config{Network: "t", VLAN: 7, Address: gwAddr, DHCP: dhcp.NewServer(dhcpConfig(), nil),
		Known: func(vid uint16, mac pkt.MAC) bool { calls = append(calls, call{vid, mac}); return known }})
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, bcast), t0); len(out) != 0 || p.Drops()[DropUnlearnedSrc] != 1 {
		t.Fatalf("unlearned: %d replies, drops %v", len(out), p.Drops())
	}
	known = true
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, bcast), t0); len(out) != 1 {
		t.Fatal("learned source not answered")
	}
	if len(calls) != 2 || calls[0] != (call{7, guestMAC}) || calls[1] != calls[0] {
		t.Fatalf("Known called %v", calls)
	}
	// The broadcast address of a /16: 10.31.255.255, not 10.31.0.255.
	p = New(Config{Network: "t", VLAN: 1, Address: netip.MustParsePrefix("10.31.0.1/16"), DHCP: dhcp.NewServer(dhcp.Config{
		Network: "t", Gateway: netip.MustParsePrefix("10.31.0.1/16"), RangeStart: netip.MustParseAddr("10.31.1.0"),
		RangeEnd: netip.MustParseAddr("10.31.1.9"), Lease: time.Hour}, nil)})
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, netip.MustParseAddr("10.31.255.255")), t0); len(out) != 1 {
		t.Fatal("DISCOVER to 10.31.255.255 not answered")
	}
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, netip.MustParseAddr("10.31.0.255")), t0); len(out) != 0 || p.Drops()[DropNotForUs] != 1 {
		t.Fatal("10.31.0.255 taken for the broadcast address")
	}
}

// The port as the switch drives it: gratuitous ARP first, then queued
// replies; a full queue drops and counts; Close ends both directions.
func TestGatewayPort(t *testing.T) {
	p := New(Config{Network: "t", VLAN: 1, Address: gwAddr})
	if p.MAC() != StableMAC("t") || p.Features() != vswitch.FeatVNetHdr {
		t.Fatal("MAC or features")
	}
	frames := make([]*vswitch.Frame, 4)
	for i := range frames {
		frames[i] = vswitch.NewFrame()
	}
	poisonPool()
	if n, err := p.ReadBatch(frames); n != 1 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	if b := frames[0].Bytes(); string(b) != string(arpFrame(pkt.Broadcast, p.MAC(), 1, p.MAC(), gwIP, pkt.MAC{}, gwIP)) {
		t.Fatalf("gratuitous ARP % x", b)
	}
	req := arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP)
	in := []*vswitch.Frame{frameOf(req), frameOf(req), frameOf(req)}
	if n, err := p.WriteBatch(in); n != 3 || err != nil {
		t.Fatalf("WriteBatch %d %v", n, err)
	}
	n, err := p.ReadBatch(frames[:2])
	if n != 2 || err != nil {
		t.Fatalf("ReadBatch %d %v", n, err)
	}
	n, err = p.ReadBatch(frames)
	if n != 1 || err != nil {
		t.Fatalf("ReadBatch %d %v", n, err)
	}
	if string(frames[0].Bytes()) != string(arpFrame(guestMAC, p.MAC(), 2, p.MAC(), gwIP, guestMAC, guestIP)) {
		t.Fatalf("reply % x", frames[0].Bytes())
	}
	for p.q.Put(vswitch.NewFrame()) {
	}
	p.handle(req, t0)
	if p.Drops()[DropQueueFull] != 1 {
		t.Fatalf("drops %v", p.Drops())
	}
	takeAll(p.q)
	if p.Close() != nil || p.Close() != nil {
		t.Fatal("Close")
	}
	if n, err := p.WriteBatch(in); n != 0 || !errors.Is(err, vswitch.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %d %v", n, err)
	}
	if n, err := p.ReadBatch(frames); n != 0 || !errors.Is(err, vswitch.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %d %v", n, err)
	}
	for _, f := range append(frames, in...) {
		f.Release()
	}

	// A configured MAC is used as is.
	if m := New(Config{Network: "t", Address: gwAddr, MAC: guest2MAC}).MAC(); m != guest2MAC {
		t.Fatalf("MAC %v", m)
	}
}

func TestStableMAC(t *testing.T) {
	h := fnv.New64a()
	h.Write([]byte("vswitch-gateway/default"))
	s := h.Sum64()
	want := pkt.MAC{0x02, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
	if m := StableMAC("default"); m != want || m.IsMulticast() || m[0]&2 == 0 {
		t.Fatalf("%v, want %v", m, want)
	}
	if StableMAC("a") == StableMAC("b") {
		t.Fatal("two names, one MAC")
	}
	u, _ := newUplink(true)
	u.cfg.MAC = pkt.MAC{}
	if m := NewUplink(u.cfg).MAC(); m != StableMAC("uplink/up") {
		t.Fatalf("uplink MAC %v", m)
	}
	if NewUplink(u.cfg).cfg.Log != u.cfg.Log {
		t.Fatal("the configured logger replaced")
	}
	u.cfg.Log = nil
	if NewUplink(u.cfg).cfg.Log != slog.Default() {
		t.Fatal("no default logger")
	}
}

// A guest may ask DHCP only for its own hardware address: one learned MAC
// must not lease addresses for others (the pool would drain from one port).
func TestGatewayDHCPChaddrMustBeSource(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	p := New(Config{Network: "t", VLAN: 1, Address: gwAddr, DHCP: dhcp.NewServer(dhcpConfig(), nil)})
	f := guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, bcast)
	// chaddr sits at byte 28 of the message, after Ethernet, IPv4 and UDP.
	off := pkt.EthernetLen + pkt.IPv4MinLen + pkt.UDPLen + 28
	f[off+5] ^= 0x01
	if out := answer(p, f, t0); len(out) != 0 || p.Drops()[DropChaddrSpoofed] != 1 {
		t.Fatalf("spoofed chaddr: %d replies, drops %v", len(out), p.Drops())
	}
	want := [NumDrops]uint64{}
	want[DropChaddrSpoofed] = 1
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 2, 0, netip.Addr{}, bcast), t0); len(out) != 1 || p.Drops() != want {
		t.Fatalf("honest client: %d replies, drops %v", len(out), p.Drops())
	}
	if DropChaddrSpoofed.String() != "chaddr_spoofed" {
		t.Fatalf("label %q", DropChaddrSpoofed)
	}
}

// noDrop and noUplinkDrop stand for "no counter moves" in test tables.
const (
	noDrop       = NumDrops
	noUplinkDrop = NumUplinkDrops
)

func TestDropReasonLabels(t *testing.T) {
	want := []string{"no_route", "bad_ip", "fragment", "icmp_ratelimit", "reply_queue_full", "unlearned_src", "chaddr_spoofed", "ttl_exceeded", "neigh_miss", "bad_source",
		"bad_offload", "bad_ipv6", "bad_icmpv6", "bad_ndp", "ndp_spoofed", "addr_conflict", "packet_too_big"}
	for i, w := range want {
		if got := DropReason(i).String(); got != w {
			t.Errorf("DropReason(%d) = %q, want %q", i, got, w)
		}
	}
	if len(want) != int(NumDrops) || NumDrops.String() != "unknown" {
		t.Errorf("%d reasons, NumDrops = %q", NumDrops, NumDrops.String())
	}
	up := []string{"not_tracked", "neigh_miss", "conntrack_full", "fragment", "malformed", "ttl_exceeded", "no_address", "conntrack_source_limit", "bad_source", "no_route", "packet_too_big"}
	for i, w := range up {
		if got := UplinkDropReason(i).String(); got != w {
			t.Errorf("UplinkDropReason(%d) = %q, want %q", i, got, w)
		}
	}
	if len(up) != int(NumUplinkDrops) || NumUplinkDrops.String() != "unknown" {
		t.Errorf("%d uplink reasons", NumUplinkDrops)
	}
}
