package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// name is a short unique name with this package's prefix "vsd", within
// the 15-byte limit of interface names.
func name(tag string) string { return testnet.PrefixName("vsd", tag) }

// netns creates a namespace with IPv6 off, so its interfaces send nothing
// on their own (no router solicitations to learn), and deletes it at
// cleanup.
func netns(t *testing.T) string {
	t.Helper()
	ns := name("n")
	testnet.Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { testnet.Output("ip", "netns", "del", ns) })
	testnet.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	testnet.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// links lists the interface names in ns, sorted.
func links(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(testnet.Run(t, "ip", "-n", ns, "-o", "link", "show")), "\n") {
		// "1: lo: <LOOPBACK> ..." or "5: vsdx@if4: ..."
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("ip link line %q", l)
		}
		n, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("vsd.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	return cfg
}

// TestStartRollback: when a later port fails to open, Start returns the
// error with the config line and the port's name, and leaves nothing
// behind: the TAPs it made are gone from their namespace, the QEMU socket
// it made and the control socket are removed, and what it did not make
// (a device or socket in the way) is left alone.
func TestStartRollback(t *testing.T) {
	testnet.RequireRoot(t)
	ns := netns(t)
	dir := t.TempDir()
	ctl := filepath.Join(dir, "vswitch.sock")

	// In the way: a device named like the second port's TAP, and a
	// socket someone else listens on.
	taken, peer := name("x"), name("y")
	testnet.Run(t, "ip", "-n", ns, "link", "add", taken, "type", "veth", "peer", "name", peer)
	busy := filepath.Join(dir, "busy.sock")
	testnet.Serve(t, "unix", busy, func(c net.Conn) { c.Close() })
	before := links(t, ns)
	if want := []string{"lo", taken, peer}; !slices.Equal(before, want) {
		t.Fatalf("links before: %q, want %q", before, want)
	}

	tap1, tap2 := name("a"), name("b")
	tests := []struct {
		name  string
		ports string
		want  string
	}{
		{"second port fails",
			fmt.Sprintf("  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap, netns: %s}\n", tap1, ns, taken, ns),
			fmt.Sprintf("vsd.yaml:5: port %s: tap %s: device %s already exists and is not vswitch's (ifalias \"\")", taken, taken, taken)},
		{"third port fails",
			fmt.Sprintf("  - {name: %s, type: tap, netns: %s, vlan: 10}\n  - {name: vm, type: qemu, socket: %s}\n  - {name: %s, type: qemu, socket: %s}\n",
				tap1, ns, filepath.Join(dir, "vm.sock"), tap2, busy),
			fmt.Sprintf("vsd.yaml:6: port %s: qemu port %s: something already listens on %s", tap2, tap2, busy)},
		{"third port's netns missing",
			fmt.Sprintf("  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap, netns: %s}\n  - {name: c, type: tap, netns: %s}\n",
				tap1, ns, tap2, ns, "vsdnone"),
			"vsd.yaml:6: port c: tap c: netns vsdnone: open /run/netns/vsdnone: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "control: " + ctl + "\nmetrics: \"\"\nports:\n" + tt.ports
			goroutines := runtime.NumGoroutine()
			d, err := Start(parse(t, yaml), quiet())
			if err == nil {
				d.Stop()
				t.Fatal("Start succeeded")
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n%s\nwant\n%s", err, tt.want)
			}
			if got := links(t, ns); !slices.Equal(got, before) {
				t.Fatalf("links after the failed start: %q, want %q", got, before)
			}
			// The control socket and vm.sock are gone; busy.sock stays.
			if got := dirNames(t, dir); !slices.Equal(got, []string{"busy.sock"}) {
				t.Fatalf("files left in the socket dir: %q", got)
			}
			if c, err := net.Dial("unix", busy); err != nil {
				t.Fatalf("the other listener's socket was touched: %v", err)
			} else {
				c.Close()
			}
			testnet.WaitFor(t, 3*time.Second, "the port goroutines to end", func() bool {
				return runtime.NumGoroutine() <= goroutines
			})
		})
	}
}

// rawSender opens a packet socket on dev in ns, for writing whole frames
// as the device's kernel side sends them.
func rawSender(t *testing.T, ns, dev string) int {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	fd, serr := func() (int, error) {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return -1, err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	}()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so Go discards it with this goroutine.
		t.Fatalf("back to our netns: %v", err)
	}
	runtime.UnlockOSThread()
	if serr != nil {
		t.Fatal(serr)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// frame is a broadcast from src, tagged with vid unless it is 0.
func frame(src pkt.MAC, vid uint16) []byte {
	b := make([]byte, 0, 64)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, src[:]...)
	if vid != 0 {
		b = append(b, 0x81, 0x00, byte(vid>>8), byte(vid))
	}
	b = append(b, 0x88, 0xb5) // local experimental EtherType
	return append(b, make([]byte, 60-len(b))...)
}

func send(t *testing.T, fd int, b []byte) {
	t.Helper()
	if _, err := unix.Write(fd, b); err != nil {
		t.Fatal(err)
	}
}

// TestStaticFDB: fdb.static entries of the config are in the FDB as
// static, on their port and VLAN, from the moment Start returns; a frame
// from a static MAC on another port does not move it, while a learned MAC
// does move; learned entries age out, static ones stay.
func TestStaticFDB(t *testing.T) {
	testnet.RequireRoot(t)
	ns := netns(t)
	p1, p2 := name("a"), name("b")
	mac1 := pkt.MAC{0x52, 0x54, 0x00, 0x5d, 0x00, 0x01}
	mac2 := pkt.MAC{0x52, 0x54, 0x00, 0x5d, 0x00, 0x02}
	mac3 := pkt.MAC{0x52, 0x54, 0x00, 0x5d, 0x00, 0x03} // learned
	yaml := fmt.Sprintf(`control: %s
metrics: ""
fdb:
  ageing: 2s
  static:
    - {mac: "%s", port: %s, vlan: 10}
    - {mac: "%s", port: %s, vlan: 30}
ports:
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, trunk: [10, 30]}
`, filepath.Join(t.TempDir(), "vswitch.sock"), mac1, p1, mac2, p2, p1, ns, p2, ns)
	d, err := Start(parse(t, yaml), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	sw := d.Switch()
	statics := []vswitch.FDBEntry{
		{VLAN: 10, MAC: mac1, Port: p1, Static: true},
		{VLAN: 30, MAC: mac2, Port: p2, Static: true},
	}
	if got := sw.FDB(); !slices.Equal(got, statics) {
		t.Fatalf("FDB after Start:\n%+v\nwant\n%+v", got, statics)
	}

	s1, s2 := rawSender(t, ns, p1), rawSender(t, ns, p2)
	rx := func(port string) uint64 {
		st, ok := sw.Port(port)
		if !ok {
			t.Fatalf("no port %s", port)
		}
		return st.RxPackets
	}
	at := func(vid uint16, mac pkt.MAC) (vswitch.FDBEntry, bool) {
		for _, e := range sw.FDB() {
			if e.VLAN == vid && e.MAC == mac {
				return e, true
			}
		}
		return vswitch.FDBEntry{}, false
	}

	// A learned MAC moves: mac3 on p1, then on p2 (tagged 10).
	send(t, s1, frame(mac3, 0))
	testnet.WaitFor(t, 3*time.Second, "mac3 learned on p1", func() bool { e, ok := at(10, mac3); return ok && e.Port == p1 })
	send(t, s2, frame(mac3, 10))
	testnet.WaitFor(t, 3*time.Second, "mac3 moved to p2", func() bool { e, ok := at(10, mac3); return ok && e.Port == p2 })
	if m := sw.FDBStats().Moves; m != 1 {
		t.Fatalf("moves %d after mac3 moved, want 1", m)
	}

	// A static MAC does not: mac1 from p2 on VLAN 10, mac2 from p2 on
	// VLAN 30 (its own port: nothing changes either).
	send(t, s2, frame(mac1, 10))
	send(t, s2, frame(mac2, 30))
	testnet.WaitFor(t, 3*time.Second, "p2 to receive 3 frames", func() bool { return rx(p2) == 3 })
	if got, want := rx(p1), uint64(1); got != want {
		t.Fatalf("p1 received %d frames, want %d", got, want)
	}
	if e, _ := at(10, mac1); e != statics[0] {
		t.Fatalf("static mac1 after a frame from it on p2: %+v, want %+v", e, statics[0])
	}
	if m := sw.FDBStats().Moves; m != 1 {
		t.Fatalf("moves %d after frames from static MACs, want still 1", m)
	}

	// Ageing (2 s) removes mac3 and leaves exactly the static entries.
	testnet.WaitFor(t, 8*time.Second, "mac3 to age out", func() bool { _, ok := at(10, mac3); return !ok })
	if got := sw.FDB(); !slices.Equal(got, statics) {
		t.Fatalf("FDB after ageing:\n%+v\nwant\n%+v", got, statics)
	}
	// The API shows them the same way.
	api := backend{d}.FDB()
	if len(api) != 2 || !api[0].Static || api[0].Port != p1 || api[0].VLAN != 10 || api[0].MAC != mac1.String() ||
		!api[1].Static || api[1].Port != p2 || api[1].VLAN != 30 || api[1].MAC != mac2.String() || api[0].AgeSeconds != 0 {
		t.Fatalf("API FDB %+v", api)
	}
}

// dhcp_relay marks the port's frames for the gateway, and only that port's.
func TestSwitchPortConfigRelayMark(t *testing.T) {
	if m := switchPortConfig(config.Port{Name: "r", VLAN: 1, DHCPRelay: true}).Mark; m != gateway.MarkDHCPRelay {
		t.Fatalf("relay port mark %d", m)
	}
	if m := switchPortConfig(config.Port{Name: "g", VLAN: 1}).Mark; m != 0 {
		t.Fatalf("guest port mark %d", m)
	}
}
