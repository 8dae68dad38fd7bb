package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// sendFromMAC sends n broadcast ARP requests with the given Ethernet
// source MAC out of dev, and prints "SENT n".
const sendFromMAC = `import socket, sys
dev, src, n = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
arp = bytes.fromhex("0001080006040001") + src + bytes(4) + bytes(6) + bytes([10, 223, 0, 1])
for _ in range(n):
    s.send(b"\xff" * 6 + src + b"\x08\x06" + arp + bytes(18))
print("SENT", n, flush=True)
`

// TestGatewayMACNotStolen: a guest sends frames with the gateway's MAC as
// source (derivable from the network's name, and in every gratuitous ARP).
// On a learning switch one frame would move the gateway's address to the
// guest's port and give it everyone's routed traffic. Here each frame is
// dropped and counted as local_mac, the gateway's FDB entry stays on its
// port, and an honest guest still leases and pings the gateway.
func TestGatewayMACNotStolen(t *testing.T) {
	requireE2E(t, "ping", "python3", "udhcpc")
	bad, good := newHost(t, "mb"), newHost(t, "mg")
	pb, pg := testnet.Name("m"), testnet.Name("m")
	vs := startVswitch(t, tapPorts([]string{pb, pg}, bad, good)+`networks:
  - name: lab
    address: 10.223.0.1/24
    dhcp: {range: 10.223.0.10-10.223.0.20}
`)
	var gwMAC string
	for _, e := range vs.fdb() {
		if e.Port == "gw-lab" {
			gwMAC = e.MAC
			if !e.Static || e.VLAN != 1 {
				t.Fatalf("gateway entry %+v: want static on VLAN 1", e)
			}
		}
	}
	if gwMAC == "" {
		t.Fatalf("no FDB entry for the gateway port: %+v", vs.fdb())
	}
	bad.Run("ip", "link", "set", pb, "up")
	const n = 50
	if out := strings.TrimSpace(bad.Run("python3", "-c", sendFromMAC, pb, gwMAC, fmt.Sprint(n))); out != fmt.Sprintf("SENT %d", n) {
		t.Fatalf("sender: %q", out)
	}
	testnet.WaitFor(t, 5*time.Second, "the spoofed frames counted", func() bool { return vs.ports()[pb].Drops["local_mac"] == n })
	for _, e := range vs.fdb() {
		if e.MAC == gwMAC && e.Port != "gw-lab" {
			t.Fatalf("the gateway's MAC moved to %s", e.Port)
		}
	}
	// The positive control: an honest guest leases and reaches the gateway.
	if ip := dhcpClient(t, "udhcpc", good, pg); ip != "10.223.0.10" {
		t.Fatalf("honest guest leased %q, want 10.223.0.10", ip)
	}
	if !good.ping("10.223.0.1", 5) {
		t.Fatal("honest guest cannot ping the gateway")
	}
	if d := vs.ports()[pb].Drops["local_mac"]; d != n {
		t.Fatalf("local_mac drops %d, want exactly %d", d, n)
	}
}
