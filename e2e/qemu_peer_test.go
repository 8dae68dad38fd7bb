package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// A QEMU socket peer (the stream netdev's framing: a 4-byte big-endian
// length, then the frame). stall: one whole frame (id 1), then a length of
// 100 with only 3 bytes, then silence; it prints "closed" with the seconds
// the switch took to hang up. send: one whole frame (id 2) and a clean exit.
const qemuPeer = `import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def frame(i):
    f = b"\xff"*6 + bytes.fromhex("027674000051") + b"\x88\xb6vst" + bytes([i])
    return f + bytes(60 - len(f))
if sys.argv[2] == "stall":
    s.sendall(struct.pack("!I", 60) + frame(1) + struct.pack("!I", 100) + b"\x01\x02\x03")
    t = time.time()
    s.settimeout(60)
    print("closed" if s.recv(1) == b"" else "data", round(time.time() - t), flush=True)
else:
    s.sendall(struct.pack("!I", 60) + frame(2))
    time.sleep(0.5)
`

// TestQEMUPeerStalledMidFrame: a QEMU socket peer that sends half a frame
// and stalls is disconnected after the stall limit (10 s, tap/qemu.go) and
// counted as a bad peer; the whole frame before it was delivered, the half
// one never is, and the next peer on the same socket is served.
func TestQEMUPeerStalledMidFrame(t *testing.T) {
	requireE2E(t, "python3")
	h, p := newHost(t, "qh"), testnet.Name("q")
	sock := filepath.Join(t.TempDir(), "vm.sock")
	vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: vm, type: qemu, socket: %s}\n  - {name: %s, type: tap, netns: %s}\n", sock, p, h.Name))
	h.Run("ip", "link", "set", p, "up")
	rx := &tagReceiver{name: "TAP host", raw: testnet.OpenRaw(t, h.Netns, p)}

	out, err := testnet.Output("python3", "-c", qemuPeer, sock, "stall")
	f := strings.Fields(out)
	if err != nil || len(f) != 2 || f[0] != "closed" {
		t.Fatalf("stalled peer: %v %q", err, out)
	}
	t.Logf("the switch hung up on the stalled peer after %s s", f[1])
	if secs, _ := strconv.Atoi(f[1]); secs < 9 || secs > 30 {
		t.Errorf("hung up after %s s; the stall limit is 10 s", f[1])
	}
	if d := vs.ports()["vm"].Driver["bad_peer"]; d != 1 {
		t.Errorf("bad_peer = %d, want 1", d)
	}
	if out, err := testnet.Output("python3", "-c", qemuPeer, sock, "send"); err != nil {
		t.Fatalf("second peer: %v\n%s", err, out)
	}
	rx.until(t, 2)
	if want := []seenTag{{id: 1}, {id: 2}}; !slices.Equal(rx.got, want) {
		t.Errorf("the TAP host got %v, want %v", rx.got, want)
	}
}
