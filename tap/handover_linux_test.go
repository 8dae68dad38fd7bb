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
