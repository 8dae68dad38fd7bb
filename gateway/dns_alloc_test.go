//go:build !race

package gateway

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Handing a DNS query or TCP segment to the DNS server allocates nothing
// on the frame path, over either family; nor does framing the server's
// TCP segments (DeliverDNSTCP, off the frame path but per segment).
func TestDNSTCPAllocs(t *testing.T) {
	gw := gw6.Addr()
	q := dnsQuery(t, 1, "db.lab.")
	for _, c := range []struct {
		name  string
		frame func(gwMAC pkt.MAC) []byte
	}{
		{"udp4", func(pkt.MAC) []byte { return fromGuest(pkt.ProtoUDP, 1, 0, udp4(guestIP, gwIP, 40000, 53, q)) }},
		{"tcp4", func(pkt.MAC) []byte {
			return fromGuest(pkt.ProtoTCP, 1, 0, tcpSeg(40000, 53, 100, 0, pkt.TCPFlagSYN, nil, guestIP, gwIP))
		}},
		{"udp6", func(m pkt.MAC) []byte {
			return frame6(m, guestMAC, guest6, gw, 64, pkt.ProtoUDP, udp6(guest6, gw, 40000, 53, q))
		}},
		{"tcp6", func(m pkt.MAC) []byte {
			return frame6(m, guestMAC, guest6, gw, 64, pkt.ProtoTCP, tcp6(guest6, gw, 40000, 53, 100, 0, pkt.TCPFlagSYN, nil, nil))
		}},
	} {
		p, s := newDNSPort6(t, true) // not started: jobs stay queued, 1024 of them
		f := c.frame(p.MAC())
		const runs = 500
		if allocs := testing.AllocsPerRun(runs, func() { p.handle(f, t0) }); allocs != 0 {
			t.Fatalf("%s: %v allocs per hand-over", c.name, allocs)
		}
		// Each hand-over took one of the 1024 jobs (AllocsPerRun runs
		// once more than asked): the queue fills exactly at the 1025th.
		for range 1024 - (runs + 1) {
			p.handle(f, t0)
		}
		if d := s.Stats().Drops[dns.DropQueueFull]; d != 0 {
			t.Fatalf("%s: queue_full %d before the queue is full", c.name, d)
		}
		p.handle(f, t0)
		if st := s.Stats(); st.Drops[dns.DropQueueFull] != 1 || len(takeAll(p.q)) != 0 {
			t.Fatalf("%s: drops %v, want queue_full 1", c.name, st.Drops)
		}
	}
	p, _ := newDNSPort6(t, true)
	data := make([]byte, 1440)
	for _, dst := range []netip.Addr{guestIP, guest6} {
		seg := dns.TCPSegment{DstMAC: guestMAC, Dst: netip.AddrPortFrom(dst, 40000), Flags: pkt.TCPFlagACK, Payload: data}
		if allocs := testing.AllocsPerRun(500, func() {
			p.DeliverDNSTCP(seg)
			if drain(p.q) != 1 {
				t.Fatal("not sent")
			}
		}); allocs != 0 {
			t.Fatalf("to %v: %v allocs per segment", dst, allocs)
		}
	}
}
