package gateway

import (
	"encoding/binary"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// tryLink is a memLink that the switch may write from the forwarding
// goroutine (a vswitch.TryWriter, as a TAP is).
type tryLink struct{ *memLink }

func (l tryLink) TryWriteBatch(frames []*vswitch.Frame) (int, int, error) {
	n, err := l.WriteBatch(frames)
	return n, n, err
}

// TestInboundInjected: with the network's port on the switch, a packet
// from the outside is translated and written to the guest's port by the
// goroutine that delivered it (the uplink's reader), before Deliver
// returns: it does not wait on the gateway port's queue for that port's
// reader. The gateway port counts it received; its queue stays empty.
func TestInboundInjected(t *testing.T) {
	u, l := newUplink(true)
	p := New(Config{Network: "n", VLAN: 1, Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	sw := startUplink(t, u)
	guest := tryLink{newMemLink()}
	for _, port := range []struct {
		name string
		drv  vswitch.Port
	}{{"gw-n", p}, {"guest", guest}} {
		if err := sw.AddPort(vswitch.PortConfig{Name: port.name, VLAN: vswitch.VLANConfig{PVID: 1}}, port.drv); err != nil {
			t.Fatal(err)
		}
	}
	l.expect(t) // the gratuitous ARP
	l.expect(t) // the ARP for the router
	l.in <- arpFrame(upMAC, routerMAC, 2, routerMAC, routerIP, upMAC, upIP)
	waitFor(t, func() bool { _, ok := u.neigh.lookup(routerIP); return ok })

	guest.in <- arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwAddr.Addr())
	for b := guest.expect(t); pkt.Ethernet(b).Dst() != guestMAC; b = guest.expect(t) {
		// the gateway's gratuitous ARP, before its reply
	}
	guest.in <- udpFrame(p.MAC(), guestMAC, guestIP, remoteIP, 64, 5353, 53, []byte("query"))
	ip := checkIPv4(t, l.expect(t))
	sport := binary.BigEndian.Uint16(ip[20:])

	(*uplinkRouter)(u).Deliver([]*vswitch.Frame{frameOf(udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, sport, []byte("answer")))})
	want := udpFrame(guestMAC, p.MAC(), remoteIP, guestIP, 49, 53, 5353, []byte("answer"))
	select {
	case got := <-guest.out:
		if string(got) != string(want) {
			t.Fatalf("inbound\n% x\nwant\n% x", got, want)
		}
	default:
		t.Fatal("the answer was not written to the guest when Deliver returned")
	}
	if p.q.Len() != 0 {
		t.Errorf("%d frames on the gateway's queue", p.q.Len())
	}
	// Its gratuitous ARP, its ARP reply and the answer.
	if st, _ := sw.Port("gw-n"); st.RxPackets != 3 {
		t.Errorf("the gateway's port counted %d received, want 3", st.RxPackets)
	}
}
