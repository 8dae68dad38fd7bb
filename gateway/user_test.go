package gateway

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
)

// fakeUser records what a user uplink injects.
type fakeUser struct {
	got    [][]byte
	closed int
}

func (f *fakeUser) Inject(ip []byte) { f.got = append(f.got, append([]byte(nil), ip...)) }
func (f *fakeUser) Close() error     { f.closed++; return nil }

func TestUserUplink(t *testing.T) {
	st := &fakeUser{}
	u := NewUserUplink("host", st, nil)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	p.garp.Store(true)
	u.Attach(p)

	// Out: the guest's packet reaches the stack whole, TTL decremented,
	// source untouched (the stack's sockets are the translation).
	p.handle(arpFrame(p.MAC(), guestMAC, 2, guestMAC, guestIP, p.MAC(), gwAddr.Addr()), t0)
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "query"), t0)
	want := udpFrame(p.MAC(), guestMAC, guestIP, remoteIP, 63, 5353, 53, []byte("query"))[pkt.EthernetLen:]
	if len(st.got) != 1 || string(st.got[0]) != string(want) {
		t.Fatalf("injected % x\nwant\n% x", st.got, want)
	}

	// In: the stack's answer goes to the guest's MAC on the network that
	// holds its destination.
	u.DeliverUser(udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, guestIP, 64, 53, 5353, []byte("answer"))[pkt.EthernetLen:])
	got := takeAll(p.q)
	if w := udpFrame(guestMAC, p.MAC(), remoteIP, guestIP, 64, 53, 5353, []byte("answer")); len(got) != 1 || string(got[0]) != string(w) {
		t.Fatalf("delivered % x\nwant\n% x", got, w)
	}
	if out, in := u.Translations(); out != 1 || in != 1 {
		t.Fatalf("translations %d %d, want 1 1", out, in)
	}

	// Refused: a destination on no attached network, a runt, and (on the
	// gateway) a foreign source.
	u.DeliverUser(udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, netip.MustParseAddr("10.99.0.1"), 64, 53, 5353, []byte("x"))[pkt.EthernetLen:])
	u.DeliverUser([]byte{0x45, 0})
	p.handle(udpFrame(p.MAC(), guestMAC, netip.MustParseAddr("10.99.0.1"), remoteIP, 64, 1, 2, []byte("spoof")), t0)
	wantUp := [NumUplinkDrops]uint64{UplinkNotTracked: 1, UplinkMalformed: 1}
	if d, gd := u.Drops(), p.Drops(); d != wantUp || gd[DropBadSource] != 1 || len(st.got) != 1 || len(takeAll(p.q)) != 0 {
		t.Fatalf("uplink drops %v gateway drops %v, %d injected", d, gd, len(st.got))
	}

	if err := u.Close(); err != nil || st.closed != 1 {
		t.Fatalf("close %v, stack closed %d times", err, st.closed)
	}
}
