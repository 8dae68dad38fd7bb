package gateway

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// fakeUser records what a user uplink injects (on the link's injector).
type fakeUser struct {
	mu     sync.Mutex
	got    [][]byte
	hdrs   []pkt.VirtioNetHdr
	closed int
}

func (f *fakeUser) Inject(ip []byte, h pkt.VirtioNetHdr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, append([]byte(nil), ip...))
	f.hdrs = append(f.hdrs, h)
}
func (f *fakeUser) Close() error { f.closed++; return nil }

// take waits for n packets injected, and hands them over (with their
// headers); a packet more than n, soon after, fails the test.
func (f *fakeUser) take(t *testing.T, n int) ([][]byte, []pkt.VirtioNetHdr) {
	t.Helper()
	var got [][]byte
	var hdrs []pkt.VirtioNetHdr
	waitFor(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.got) < n {
			return false
		}
		got, hdrs, f.got, f.hdrs = f.got, f.hdrs, nil, nil
		return true
	})
	if len(got) != n {
		t.Fatalf("%d packets injected, want %d", len(got), n)
	}
	return got, hdrs
}

// newUserUplink is a user uplink on st, not started: what it sends waits
// on a ring (sent), as newUplink's does.
func newUserUplink(st UserStack) (*Uplink, *userLink) {
	u := NewUserUplink("host", st, nil)
	u.tx = ringEgress{ring.NewQueue[vswitch.Frame](1024)}
	return u, u.Link().(*userLink)
}

// readUser reads what the link holds from the stack, as the port's
// reader does, and delivers it to u; it returns how many frames.
func readUser(t *testing.T, u *Uplink, l *userLink) int {
	t.Helper()
	if l.in.Len() == 0 {
		return 0
	}
	frames := make([]*vswitch.Frame, vswitch.BatchSize)
	for i := range frames {
		frames[i] = vswitch.NewFrame()
	}
	n, err := l.ReadBatch(frames)
	if err != nil {
		t.Fatal(err)
	}
	(*uplinkRouter)(u).Deliver(frames[:n])
	for _, f := range frames {
		f.Release()
	}
	return n
}

func TestUserUplink(t *testing.T) {
	st := &fakeUser{}
	u, l := newUserUplink(st)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	p.garp.Store(true)
	u.Attach(p)
	stackMAC := u.MAC()
	stackMAC[5] ^= 1

	// Out: the guest's packet leaves on the uplink's port as a frame to
	// the stack's side, TTL decremented, source untouched (the stack's
	// sockets are the translation); the port's writer hands it over whole.
	p.handle(arpFrame(p.MAC(), guestMAC, 2, guestMAC, guestIP, p.MAC(), gwAddr.Addr()), t0)
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "query"), t0)
	out := sent(u)
	want := udpFrame(stackMAC, u.MAC(), guestIP, remoteIP, 63, 5353, 53, []byte("query"))
	if len(out) != 1 || string(out[0]) != string(want) {
		t.Fatalf("sent % x\nwant\n% x", out, want)
	}
	if n, err := l.WriteBatch([]*vswitch.Frame{frameOf(out[0])}); n != 1 || err != nil {
		t.Fatalf("written %d %v", n, err)
	}
	if got, _ := st.take(t, 1); string(got[0]) != string(want[pkt.EthernetLen:]) {
		t.Fatalf("injected % x", got[0])
	}

	// In: the stack's answer is read from the port as a frame from the
	// stack's side, and goes to the guest's MAC on the network that holds
	// its destination.
	answer := udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, guestIP, 64, 53, 5353, []byte("answer"))[pkt.EthernetLen:]
	u.DeliverUser(answer, pkt.VirtioNetHdr{})
	if got := l.in.Len(); got != 1 {
		t.Fatalf("%d queued", got)
	}
	readUser(t, u, l)
	got := takeAll(p.q)
	if w := udpFrame(guestMAC, p.MAC(), remoteIP, guestIP, 64, 53, 5353, []byte("answer")); len(got) != 1 || string(got[0]) != string(w) {
		t.Fatalf("delivered % x\nwant\n% x", got, w)
	}
	if out, in := u.Translations(); out != 1 || in != 1 {
		t.Fatalf("translations %d %d, want 1 1", out, in)
	}

	// Refused: a destination on no attached network, a runt, and (on the
	// gateway) a foreign source.
	u.DeliverUser(udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, netip.MustParseAddr("10.99.0.1"), 64, 53, 5353, []byte("x"))[pkt.EthernetLen:], pkt.VirtioNetHdr{})
	u.DeliverUser([]byte{0x45, 0}, pkt.VirtioNetHdr{})
	readUser(t, u, l)
	p.handle(udpFrame(p.MAC(), guestMAC, netip.MustParseAddr("10.99.0.1"), remoteIP, 64, 1, 2, []byte("spoof")), t0)
	wantUp := [NumUplinkDrops]uint64{UplinkNotTracked: 1, UplinkMalformed: 1}
	if d, gd := u.Drops(), p.Drops(); d != wantUp || gd[DropBadSource] != 1 || len(sent(u)) != 0 || len(takeAll(p.q)) != 0 {
		t.Fatalf("uplink drops %v gateway drops %v", d, gd)
	}

	// A full queue from the stack drops, counted as the link's own.
	for range userQueueLen + 3 {
		u.DeliverUser(answer, pkt.VirtioNetHdr{})
	}
	if c := l.Counters(); c["queue_full"] != 3 || l.in.Len() != userQueueLen {
		t.Fatalf("counters %v, %d queued", c, l.in.Len())
	}

	if err := u.Close(); err != nil || st.closed != 1 {
		t.Fatalf("close %v, stack closed %d times", err, st.closed)
	}
	if _, err := l.ReadBatch([]*vswitch.Frame{vswitch.NewFrame()}); err != vswitch.ErrClosed {
		t.Fatalf("read after close: %v", err)
	}
}

// chanUser hands what a user uplink injects to a channel: the port's
// writer injects on its own goroutine.
type chanUser chan []byte

func (c chanUser) Inject(ip []byte, _ pkt.VirtioNetHdr) { c <- append([]byte(nil), ip...) }
func (c chanUser) Close() error                         { return nil }

// TestUserUplinkPort: started, the user uplink is a routed switch port
// named after it; a packet each way crosses it, counted exactly, and
// Close removes it.
func TestUserUplinkPort(t *testing.T) {
	st := make(chanUser, 4)
	u := NewUserUplink("host", st, nil)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	p.neigh.learn(guestIP, guestMAC, t0)
	sw := startUplink(t, u)
	query := guestUDP(remoteIP, 64, 5353, 53, "query")
	p.handle(query, t0)
	ip := testnet.Recv(t, st, 5*time.Second, "a packet into the stack")
	if want := udpFrame(pkt.MAC{}, pkt.MAC{}, guestIP, remoteIP, 63, 5353, 53, []byte("query"))[pkt.EthernetLen:]; string(ip) != string(want) {
		t.Fatalf("injected % x", ip)
	}
	answer := udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, guestIP, 64, 53, 5353, []byte("answer"))
	u.DeliverUser(answer[pkt.EthernetLen:], pkt.VirtioNetHdr{})
	waitFor(t, func() bool { return p.q.Len() == 1 })
	if got := takeAll(p.q); string(got[0]) != string(udpFrame(guestMAC, p.MAC(), remoteIP, guestIP, 64, 53, 5353, []byte("answer"))) {
		t.Fatalf("delivered % x", got[0])
	}
	waitFor(t, func() bool {
		ps, _ := sw.Port("host")
		return ps.RxPackets == 1 && ps.RxBytes == uint64(len(answer)) && ps.TxPackets == 1 && ps.TxBytes == uint64(len(query))
	})
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sw.Port("host"); ok {
		t.Fatal("port left on the switch")
	}
}
