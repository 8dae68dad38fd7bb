package tap

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// TestAdoptTAP: a TAP handed over (Dup, KeepDevice, Close) is adopted as
// the same device, address and all, and answers; a descriptor adopted
// under another name is refused; the adopted port's Close removes the
// device as a clean stop does.
func TestAdoptTAP(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "ip")
	ns := testnet.NewNetns(t, "ta")
	name := testnet.Name("ta")
	mac := StableMAC(name)
	tp, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name, MAC: mac})
	if err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "addr", "add", "10.212.0.1/24", "dev", name)
	ifindex := ns.Run("cat", "/sys/class/net/"+name+"/ifindex")
	wrong, err := tp.Dup()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AdoptTAP("other0", wrong); !errors.Is(err, ErrNotHandedOver) {
		t.Fatalf("adopted under another name: %v", err)
	}
	fd, err := tp.Dup()
	if err != nil {
		t.Fatal(err)
	}
	tp.KeepDevice()
	tp.Close()
	a, err := AdoptTAP(name, fd)
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Run("cat", "/sys/class/net/"+name+"/ifindex"); got != ifindex {
		t.Fatalf("ifindex %s after the hand over, was %s", got, ifindex)
	}
	if out := ns.Run("ip", "-d", "link", "show", name); !strings.Contains(out, "persist on") {
		t.Fatalf("no longer persistent:\n%s", out)
	}
	f := vswitch.NewFrame()
	f.SetData(arpRequest(netip.MustParseAddr("10.212.0.9"), netip.MustParseAddr("10.212.0.1")))
	if n, err := a.WriteBatch([]*vswitch.Frame{f}); n != 1 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if src := pkt.Ethernet(readARPReply(t, a)).Src(); src != mac {
		t.Fatalf("reply from %v, want %v", src, mac)
	}
	a.Close()
	if _, err := ns.Output("ip", "link", "show", name); err == nil {
		t.Fatal("the adopted TAP is still there after its Close")
	}
}

// TestAdoptVXLAN: a tunnel's UDP socket handed over (Dup, KeepDevice,
// Close) is adopted as the same socket: a datagram a remote sent while
// no process read it is the adopted port's first frame, and the adopted
// port sends; a descriptor adopted for another UDP port is refused and
// closed.
func TestAdoptVXLAN(t *testing.T) {
	vnis := map[uint16]uint32{10: 1010}
	a := openVX(t, "127.0.0.1", vnis, "127.0.0.2")
	b := openVX(t, "127.0.0.2", vnis, "127.0.0.1")
	cfg := VXLANConfig{Name: "vx-a", Local: netip.MustParseAddr("127.0.0.1"), Port: vxPort(), VNIs: vnis,
		Remotes: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}
	wrong, err := a.Dup()
	if err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.Port++
	if _, err := AdoptVXLAN(other, wrong); !errors.Is(err, ErrNotHandedOver) {
		t.Fatalf("adopted for another port: %v", err)
	}
	if isOpen(wrong) {
		t.Fatal("the refused descriptor was left open")
	}
	fd, err := a.Dup()
	if err != nil {
		t.Fatal(err)
	}
	a.KeepDevice()
	macA, macB := pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xb}
	during := taggedFrame(pkt.Broadcast, macB, 10, "sent during the hand over")
	if n := sendFrames(t, b, during); n != 1 {
		t.Fatalf("b sent %d", n)
	}
	a.Close()
	na, err := AdoptVXLAN(cfg, fd)
	if err != nil {
		t.Fatal(err)
	}
	defer na.Close()
	if got, vid := recvOne(t, na); vid != 10 || string(got) != string(untag(during)) {
		t.Fatalf("the adopted port got VLAN %d %q, want the frame sent during the hand over", vid, got)
	}
	back := taggedFrame(macB, macA, 10, "from the adopted port")
	if n := sendFrames(t, na, back); n != 1 {
		t.Fatalf("the adopted port sent %d", n)
	}
	if got, vid := recvOne(t, b); vid != 10 || string(got) != string(untag(back)) {
		t.Fatalf("b got VLAN %d %q", vid, got)
	}
}
