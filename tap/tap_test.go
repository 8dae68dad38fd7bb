package tap

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

var ourMAC = pkt.MAC{0x52, 0x54, 0x00, 0xee, 0, 1}

// arpRequest builds a who-has for target from ourMAC/ourIP.
func arpRequest(ourIP, target netip.Addr) []byte {
	b := make([]byte, 42)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: ourMAC, Type: pkt.TypeARP})
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:], ourMAC[:])
	s, d := ourIP.As4(), target.As4()
	copy(a[14:], s[:])
	copy(a[24:], d[:])
	return b
}

func newFrames(n int) []*vswitch.Frame {
	fs := make([]*vswitch.Frame, n)
	for i := range fs {
		fs[i] = vswitch.NewFrame()
	}
	return fs
}

// readARPReply reads frames from p until an ARP reply to ourMAC arrives.
func readARPReply(t *testing.T, p vswitch.Port) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		fs := newFrames(8)
		n, err := p.ReadBatch(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs[:n] {
			b := f.Bytes()
			if pkt.Ethernet(b).Type() == pkt.TypeARP && pkt.Ethernet(b).Dst() == ourMAC && binary.BigEndian.Uint16(b[20:]) == 2 {
				return append([]byte(nil), b...)
			}
		}
	}
	t.Fatal("no ARP reply")
	return nil
}

// TestTAPInNetns: a TAP whose kernel side lives in a namespace answers
// ARP through WriteBatch/ReadBatch, has the MTU and MAC asked for, and is
// gone after Close.
func TestTAPInNetns(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.NewNetns(t, "tp")
	name := testnet.Name("tp")
	mac := pkt.MAC{0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}
	tp, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name, MTU: 1400, MAC: mac})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	ns.Run("ip", "addr", "add", "10.210.0.1/24", "dev", name)
	link := ns.Run("ip", "link", "show", name)
	if !strings.Contains(link, "mtu 1400") || !strings.Contains(link, mac.String()) || !strings.Contains(link, "UP") {
		t.Fatalf("link: %s", link)
	}
	f := vswitch.NewFrame()
	f.SetData(arpRequest(netip.MustParseAddr("10.210.0.9"), netip.MustParseAddr("10.210.0.1")))
	if n, err := tp.WriteBatch([]*vswitch.Frame{f}); n != 1 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	reply := readARPReply(t, tp)
	if pkt.Ethernet(reply).Src() != mac {
		t.Fatalf("reply from %v", pkt.Ethernet(reply).Src())
	}
	if _, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second open of %s: %v", name, err)
	}
	tp.Close()
	if _, err := ns.Output("ip", "link", "show", name); err == nil {
		t.Fatal("TAP still exists after Close")
	}
	if _, err := OpenTAP(TAPConfig{Name: testnet.Name("tp"), Netns: "vstnosuchns"}); err == nil || !strings.Contains(err.Error(), "vstnosuchns") {
		t.Fatalf("missing netns: %v", err)
	}
}

// TestCloseUnblocksRead: a reader blocked in the netpoller returns
// ErrClosed when the port closes.
func TestCloseUnblocksRead(t *testing.T) {
	testnet.RequireRoot(t)
	tp, err := OpenTAP(TAPConfig{Name: testnet.Name("cu")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		fs := newFrames(4)
		for {
			if _, err := tp.ReadBatch(fs); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	tp.Close()
	select {
	case err := <-done:
		if !errors.Is(err, vswitch.ErrClosed) {
			t.Fatalf("read returned %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadBatch still blocked after Close")
	}
}

// TestAFPacketVLAN: an AF_PACKET port on a veth whose peer is in a
// namespace. A tagged ARP request written to the wire is answered untagged
// by nobody (the namespace has no VLAN device), so we check the tag the
// other way: a frame tagged in the data by WriteBatch on one end comes out
// of ReadBatch on the other end with its tag in auxdata.
func TestAFPacketVLAN(t *testing.T) {
	testnet.RequireRoot(t)
	pa, pb := afpacketPair(t, "ap")

	tagged := make([]byte, 64)
	pkt.Ethernet(tagged).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: ourMAC, Type: pkt.TypeVLAN})
	binary.BigEndian.PutUint16(tagged[14:], 0x6000|10) // PCP 3, VID 10
	binary.BigEndian.PutUint16(tagged[16:], 0x88b5)    // local experimental EtherType
	got := exchange(t, pa, pb, tagged)
	// The kernel strips the tag into auxdata; the frame's data is untagged.
	if ty := pkt.Ethernet(got.Bytes()).Type(); ty != 0x88b5 {
		t.Fatalf("type %#x: tag left in the data or frame mangled", ty)
	}
	if tci, ok := got.RxTCI(); !ok || tci != 0x6000|10 {
		t.Fatalf("auxdata tag %#x (present %v), want PCP 3 VID 10", tci, ok)
	}

}

// exchange writes frame from one port until it is read on the other.
func exchange(t *testing.T, from, to *AFPacket, frame []byte) *vswitch.Frame {
	t.Helper()
	out := []*vswitch.Frame{vswitch.NewFrame()}
	in := newFrames(vswitch.BatchSize)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		out[0].SetData(frame)
		if n, err := from.WriteBatch(out); n != 1 || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
		n, err := to.ReadBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range in[:n] {
			if pkt.Ethernet(f.Bytes()).Src() == ourMAC {
				return f
			}
		}
	}
	t.Fatal("the frame did not arrive")
	return nil
}

// afpacketPair opens AF_PACKET ports on both ends of a new veth pair; they
// close at the end of the test.
func afpacketPair(t *testing.T, tag string) (*AFPacket, *AFPacket) {
	t.Helper()
	a, b := testnet.Veth(t, tag, nil)
	return openAF(t, a), openAF(t, b)
}

// openAF opens an AF_PACKET port on dev, closed at the end of the test.
func openAF(t *testing.T, dev string) *AFPacket {
	t.Helper()
	p, err := OpenAFPacket(AFPacketConfig{Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestTAPReattach: a TAP left behind by a process that died without
// closing it (here: its fd closed without Close) is still there with its
// address, marked as vswitch's; the next OpenTAP takes it back, keeps the
// address, and moves frames; Close then removes it. A device of the same
// name that vswitch did not make is refused.
func TestTAPReattach(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "ip")
	ns := testnet.NewNetns(t, "tr")
	name := testnet.Name("tr")
	mac := StableMAC(name)
	tp, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name, MAC: mac})
	if err != nil {
		t.Fatal(err)
	}
	if tp.Reattached() {
		t.Fatal("a new device says it was reattached")
	}
	ns.Run("ip", "addr", "add", "10.211.0.1/24", "dev", name)
	if alias := strings.TrimSpace(ns.Run("ip", "-o", "link", "show", name)); !strings.Contains(alias, "alias vswitch:"+name) {
		t.Fatalf("no owner alias: %s", alias)
	}
	// While it is held, a second open is refused.
	if _, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open while held: %v, want ErrInUse", err)
	}
	tp.closed.Store(true)
	tp.f.Close() // the crash: the fd goes, the persistent device stays
	if out := ns.Run("ip", "-o", "addr", "show", "dev", name); !strings.Contains(out, "10.211.0.1/24") {
		t.Fatalf("device or address gone after the crash: %s", out)
	}
	tp2, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name, MAC: mac})
	if err != nil {
		t.Fatal(err)
	}
	defer tp2.Close()
	if !tp2.Reattached() {
		t.Fatal("reattached device says it is new")
	}
	if out := ns.Run("ip", "-o", "addr", "show", "dev", name); !strings.Contains(out, "10.211.0.1/24") {
		t.Fatalf("address lost on reattach: %s", out)
	}
	f := vswitch.NewFrame()
	f.SetData(arpRequest(netip.MustParseAddr("10.211.0.9"), netip.MustParseAddr("10.211.0.1")))
	if n, err := tp2.WriteBatch([]*vswitch.Frame{f}); n != 1 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if src := pkt.Ethernet(readARPReply(t, tp2)).Src(); src != mac {
		t.Fatalf("reply from %v, want %v", src, mac)
	}
	tp2.Close()
	if _, err := ns.Output("ip", "link", "show", name); err == nil {
		t.Fatal("TAP still exists after Close")
	}

	// Someone else's persistent TAP of the name: refused, left alone.
	ns.Run("ip", "tuntap", "add", "mode", "tap", "name", name)
	if _, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name}); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("foreign TAP: %v, want ErrNotOurs", err)
	}
	if _, err := ns.Output("ip", "link", "show", name); err != nil {
		t.Fatal("the foreign TAP was removed")
	}
}

// TestStableMAC: the same name gives the same MAC, locally administered
// and unicast, never one of the gateway's (first byte 0x02).
func TestStableMAC(t *testing.T) {
	a, b := StableMAC("vm1"), StableMAC("vm2")
	if a != StableMAC("vm1") || a == b {
		t.Fatalf("vm1 %v, vm1 again %v, vm2 %v", a, StableMAC("vm1"), b)
	}
	// FNV-1a 64 of "vswitch-tap/vm1", its low 40 bits after 0x06: a
	// change here changes every host's MAC, and so its DHCP lease.
	if want := (pkt.MAC{0x06, 0xb5, 0x3f, 0x0d, 0x1e, 0xe2}); a != want {
		t.Fatalf("StableMAC(vm1) = %v, want %v", a, want)
	}
	if b[0] != 0x06 {
		t.Fatalf("first byte %#x, want 0x06 (locally administered, unicast)", b[0])
	}
}
