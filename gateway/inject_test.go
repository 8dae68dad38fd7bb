package gateway

import (
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
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
	// The gateway's reader has counted its gratuitous ARP and its reply:
	// it no longer holds the guest's port (a frame the uplink hands on
	// while it does is left to it to write).
	waitFor(t, func() bool { st, _ := sw.Port("gw-n"); return st.RxPackets == 2 })
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
	// Its gratuitous ARP, its ARP reply and the answer (a reader counts a
	// batch once it is forwarded: maybe after the guest has it).
	waitFor(t, func() bool { st, _ := sw.Port("gw-n"); return st.RxPackets == 3 })
}

// ptrLink is a tryLink that records the frames the switch hands it, read
// or to write, to follow one frame through.
type ptrLink struct {
	tryLink
	mu           sync.Mutex
	read, writes []*vswitch.Frame
}

func (l *ptrLink) ReadBatch(frames []*vswitch.Frame) (int, error) {
	n, err := l.tryLink.ReadBatch(frames)
	l.mu.Lock()
	l.read = append(l.read, frames[:n]...)
	l.mu.Unlock()
	return n, err
}

func (l *ptrLink) TryWriteBatch(frames []*vswitch.Frame) (int, int, error) {
	n, err := l.WriteBatch(frames)
	return n, n, err
}

func (l *ptrLink) WriteBatch(frames []*vswitch.Frame) (int, error) {
	l.mu.Lock()
	l.writes = append(l.writes, frames...)
	l.mu.Unlock()
	return l.memLink.WriteBatch(frames)
}

// TestOutboundKept: on a switch, a guest's packet out through the NAT
// leaves on the uplink in the very frame the guest's port read it into
// (the gateway keeps it: vswitch.Frame.Take), translated, and the
// gateway's port counts its bytes as sent to it.
func TestOutboundKept(t *testing.T) {
	up := &ptrLink{tryLink: tryLink{newMemLink()}}
	u := NewUplink(UplinkConfig{Name: "up", Link: up, MAC: upMAC, Gateway: routerIP, NAT: nat.New(nat.Config{}),
		Address: upPfx, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p := New(Config{Network: "n", VLAN: 1, Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	sw := startUplink(t, u)
	guest := &ptrLink{tryLink: tryLink{newMemLink()}}
	for _, port := range []struct {
		name string
		drv  vswitch.Port
	}{{"gw-n", p}, {"guest", guest}} {
		if err := sw.AddPort(vswitch.PortConfig{Name: port.name, VLAN: vswitch.VLANConfig{PVID: 1}}, port.drv); err != nil {
			t.Fatal(err)
		}
	}
	up.expect(t) // the gratuitous ARP
	up.expect(t) // the ARP for the router
	up.in <- arpFrame(upMAC, routerMAC, 2, routerMAC, routerIP, upMAC, upIP)
	waitFor(t, func() bool { _, ok := u.neigh.lookup(routerIP); return ok })
	guest.in <- arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwAddr.Addr())
	for b := guest.expect(t); pkt.Ethernet(b).Dst() != guestMAC; b = guest.expect(t) {
		// the gateway's gratuitous ARP, before its reply
	}
	// The guest's ARP request is all the gateway's port was sent so far
	// (counted once the gateway returns, which may be after its reply).
	waitFor(t, func() bool { st, _ := sw.Port("gw-n"); return st.TxPackets == 1 })
	before, _ := sw.Port("gw-n")

	query := udpFrame(p.MAC(), guestMAC, guestIP, remoteIP, 64, 5353, 53, []byte("query"))
	guest.in <- query
	ip := checkIPv4(t, up.expect(t))
	if ip.Src() != upIP || ip.TTL() != 63 || binary.BigEndian.Uint16(ip[22:]) != 53 {
		t.Fatalf("outbound % x", ip)
	}
	guest.mu.Lock()
	read := guest.read[len(guest.read)-1]
	guest.mu.Unlock()
	up.mu.Lock()
	written := up.writes[len(up.writes)-1]
	up.mu.Unlock()
	if read != written {
		t.Error("the packet left in another frame than it came in: copied")
	}
	waitFor(t, func() bool { st, _ := sw.Port("gw-n"); return st.TxPackets == 2 })
	if after, _ := sw.Port("gw-n"); after.TxBytes-before.TxBytes != uint64(len(query)) {
		t.Errorf("the gateway's port counted %d bytes sent to it for the query, want %d", after.TxBytes-before.TxBytes, len(query))
	}
}
