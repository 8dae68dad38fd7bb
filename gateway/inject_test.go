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

// ptrLink is a memLink the switch may write from the forwarding goroutine
// (a vswitch.TryWriter, as a TAP is) that records the frames it is handed,
// read or to write, to follow one frame through.
type ptrLink struct {
	*memLink
	mu           sync.Mutex
	read, writes []*vswitch.Frame
}

func newPtrLink() *ptrLink { return &ptrLink{memLink: newMemLink()} }

func (l *ptrLink) ReadBatch(frames []*vswitch.Frame) (int, error) {
	n, err := l.memLink.ReadBatch(frames)
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

// last is the last frame in list, under l's lock.
func (l *ptrLink) last(list *[]*vswitch.Frame) *vswitch.Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return (*list)[len(*list)-1]
}

// natLab is a nat network's gateway port and a guest's port on a switch
// with the uplink (on link up), the router resolved and the guest known
// to the gateway by its ARP request, answered.
type natLab struct {
	u         *Uplink
	p         *Port
	sw        *vswitch.Switch
	up, guest *ptrLink
}

func newNATLab(t *testing.T) *natLab {
	t.Helper()
	l := &natLab{up: newPtrLink(), guest: newPtrLink()}
	l.u = NewUplink(UplinkConfig{Name: "up", Link: l.up, MAC: upMAC, Gateway: routerIP, NAT: nat.New(nat.Config{}),
		Address: upPfx, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l.p = New(Config{Network: "n", VLAN: 1, Address: gwAddr, Mode: config.ModeNAT, Uplink: l.u})
	l.u.Attach(l.p)
	l.sw = startUplink(t, l.u)
	for _, port := range []struct {
		name string
		drv  vswitch.Port
	}{{"gw-n", l.p}, {"guest", l.guest}} {
		if err := l.sw.AddPort(vswitch.PortConfig{Name: port.name, VLAN: vswitch.VLANConfig{PVID: 1}}, port.drv); err != nil {
			t.Fatal(err)
		}
	}
	l.up.expect(t) // the gratuitous ARP
	l.up.expect(t) // the ARP for the router
	l.up.in <- arpFrame(upMAC, routerMAC, 2, routerMAC, routerIP, upMAC, upIP)
	waitFor(t, func() bool { _, ok := l.u.neigh.lookup(routerIP); return ok })
	l.guest.in <- arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwAddr.Addr())
	for b := l.guest.expect(t); pkt.Ethernet(b).Dst() != guestMAC; b = l.guest.expect(t) {
		// the gateway's gratuitous ARP, before its reply
	}
	// The gateway's reader has counted its gratuitous ARP and its reply,
	// so it no longer holds the guest's port (a frame handed on while it
	// does is left to it to write); the guest's request is all the
	// gateway's port was sent (counted once the gateway returns).
	waitFor(t, func() bool {
		st, _ := l.sw.Port("gw-n")
		return st.RxPackets == 2 && st.TxPackets == 1
	})
	return l
}

// TestInboundInjected: with the network's port on the switch, a packet
// from the outside is translated and written to the guest's port by the
// goroutine that delivered it (the uplink's reader), before Deliver
// returns: it does not wait on the gateway port's queue for that port's
// reader. The gateway port counts it received; its queue stays empty.
func TestInboundInjected(t *testing.T) {
	l := newNATLab(t)
	l.guest.in <- udpFrame(l.p.MAC(), guestMAC, guestIP, remoteIP, 64, 5353, 53, []byte("query"))
	ip := checkIPv4(t, l.up.expect(t))
	sport := binary.BigEndian.Uint16(ip[20:])

	(*uplinkRouter)(l.u).Deliver([]*vswitch.Frame{frameOf(udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, sport, []byte("answer")))})
	want := udpFrame(guestMAC, l.p.MAC(), remoteIP, guestIP, 49, 53, 5353, []byte("answer"))
	select {
	case got := <-l.guest.out:
		if string(got) != string(want) {
			t.Fatalf("inbound\n% x\nwant\n% x", got, want)
		}
	default:
		t.Fatal("the answer was not written to the guest when Deliver returned")
	}
	if l.p.q.Len() != 0 {
		t.Errorf("%d frames on the gateway's queue", l.p.q.Len())
	}
	// Its gratuitous ARP, its ARP reply and the answer.
	if st, _ := l.sw.Port("gw-n"); st.RxPackets != 3 {
		t.Errorf("the gateway's port counted %d received, want 3", st.RxPackets)
	}
}

// TestOutboundKept: on a switch, a guest's packet out through the NAT
// leaves on the uplink in the very frame the guest's port read it into
// (the gateway keeps it: vswitch.Frame.Take), translated, and the
// gateway's port counts its bytes as sent to it.
func TestOutboundKept(t *testing.T) {
	l := newNATLab(t)
	before, _ := l.sw.Port("gw-n")
	query := udpFrame(l.p.MAC(), guestMAC, guestIP, remoteIP, 64, 5353, 53, []byte("query"))
	l.guest.in <- query
	ip := checkIPv4(t, l.up.expect(t))
	if ip.Src() != upIP || ip.TTL() != 63 || binary.BigEndian.Uint16(ip[22:]) != 53 {
		t.Fatalf("outbound % x", ip)
	}
	if l.guest.last(&l.guest.read) != l.up.last(&l.up.writes) {
		t.Error("the packet left in another frame than it came in: copied")
	}
	waitFor(t, func() bool { st, _ := l.sw.Port("gw-n"); return st.TxPackets == 2 })
	if after, _ := l.sw.Port("gw-n"); after.TxBytes-before.TxBytes != uint64(len(query)) {
		t.Errorf("the gateway's port counted %d bytes sent to it for the query, want %d", after.TxBytes-before.TxBytes, len(query))
	}
}
