package tap

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// TestTAPOffloads: a TAP vswitch opens claims checksum and TCP
// segmentation offload (and UDP segmentation where the kernel has USO) on
// its kernel side, and the kernel then hands over what that promises: a
// UDP datagram with a partial checksum, and a UDP_SEGMENT send of 5000
// bytes as one super-frame with its GSO size (with USO) or as 5
// partial-checksum datagrams (without).
func TestTAPOffloads(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "ethtool")
	ns := testnet.NewNetns(t, "to")
	name := testnet.Name("to")
	tp, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	const base = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	uso := tp.Offloads()&(unix.TUN_F_USO4|unix.TUN_F_USO6) != 0
	if got := tp.Offloads() &^ (unix.TUN_F_USO4 | unix.TUN_F_USO6); got != base {
		t.Fatalf("offloads %#x, want %#x (and USO where the kernel has it)", tp.Offloads(), base)
	}
	features := ns.Run("ethtool", "-k", name)
	want := []string{"tx-checksumming: on", "tcp-segmentation-offload: on", "tx-tcp-segmentation: on", "tx-tcp6-segmentation: on"}
	if uso {
		want = append(want, "tx-udp-segmentation: on")
	}
	for _, w := range want {
		if !strings.Contains(features, w) {
			t.Errorf("ethtool -k %s lacks %q:\n%s", name, w, features)
		}
	}
	t.Logf("USO: %v", uso)

	ns.Run("ip", "addr", "add", "10.211.0.1/24", "dev", name)
	ns.Run("ip", "neigh", "add", "10.211.0.2", "lladdr", ourMAC.String(), "dev", name, "nud", "permanent")
	var fd int
	err = inNetns(ns.Name, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet4{Port: 9, Addr: [4]byte{10, 211, 0, 2}}

	// One plain datagram: the checksum is left to the "hardware".
	if err := unix.Sendto(fd, []byte("one datagram"), 0, to); err != nil {
		t.Fatal(err)
	}
	frames := readUDP(t, tp, 1)
	wantCsum := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}
	if h := frames[0].VNet; h != wantCsum {
		t.Fatalf("plain datagram: header %+v, want %+v", h, wantCsum)
	}

	if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 1000); err != nil {
		t.Fatal(err)
	}
	// Two sends: the first super-frame is read through the spill buffer,
	// the second straight into a big frame; both must come out whole.
	payloads := [][]byte{make([]byte, 5000), make([]byte, 5000)}
	for i, p := range payloads {
		for j := range p {
			p[j] = byte(i*100 + j*7)
		}
		if err := unix.Sendto(fd, p, 0, to); err != nil {
			t.Fatal(err)
		}
	}
	if !uso {
		for i, f := range readUDP(t, tp, 10) {
			if f.Len() != 14+20+8+1000 || f.VNet != wantCsum {
				t.Fatalf("datagram %d: %d bytes, header %+v", i, f.Len(), f.VNet)
			}
		}
		return
	}
	wantGSO := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOUDPL4, GSOSize: 1000, HdrLen: 42, CsumStart: 34, CsumOffset: 6}
	for i, f := range readUDP(t, tp, 2) {
		if f.Len() != 14+20+8+5000 || f.VNet != wantGSO {
			t.Fatalf("UDP_SEGMENT send %d: %d bytes, header %+v; want %d bytes, %+v", i, f.Len(), f.VNet, 14+20+8+5000, wantGSO)
		}
		if !bytes.Equal(f.Bytes()[42:], payloads[i]) {
			t.Fatalf("UDP_SEGMENT send %d: the payload changed", i)
		}
	}
}

// readUDP reads frames from p until n UDP/IPv4 frames to port 9 came (the
// kernel's own IPv6 chatter is skipped) and returns copies of them.
func readUDP(t *testing.T, p vswitch.Port, n int) []*vswitch.Frame {
	t.Helper()
	var got []*vswitch.Frame
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		fs := newFrames(8)
		k, err := p.ReadBatch(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs[:k] {
			b := f.Bytes()
			if len(b) >= 42 && pkt.Ethernet(b).Type() == pkt.TypeIPv4 && b[23] == 17 && binary.BigEndian.Uint16(b[36:]) == 9 {
				got = append(got, f)
			}
		}
	}
	if len(got) != n {
		t.Fatalf("%d UDP frames to port 9, want %d", len(got), n)
	}
	return got
}
