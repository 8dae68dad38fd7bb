package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// A raw-socket sender of DHCP garbage and DISCOVER floods (python3 is in
// the test packages; the frames are built by hand so nothing in the host
// stack smooths them over).
const dhcpAbuse = `import os, socket, struct, sys, random
dev, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b)//2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
def frame(src, payload):
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b"\xff"*4)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\xff"*6 + src + b"\x08\x00" + ip + udp
def bootp(mac, opts, cookie=b"\x63\x82\x53\x63"):
    return struct.pack("!BBBBIHH", 1, 1, 6, 0, random.getrandbits(32), 0, 0x8000) + bytes(16) + mac + bytes(10) + bytes(192) + cookie + opts
for i in range(count):
    # Garbage from one (learned) MAC reaches the parser every time; the
    # flood comes from random MACs.
    mac = bytes([0x52, 0x54, 0x01]) + (os.urandom(3) if mode == "flood" else b"\0\0\1")
    if mode == "flood":
        p = bootp(mac, b"\x35\x01\x01\xff")
    else:
        p = random.choice([
            os.urandom(random.randint(0, 400)),                        # noise
            bootp(mac, b"\x35\x01\x01\xff")[:100],                       # truncated
            bootp(mac, b"\x35\x01\x01\xff", cookie=b"\x00\x00\x00\x00"),# wrong magic cookie
            bootp(mac, b"\x35\x01\x01\x37\xff\x01"),                      # option length past the end
            bootp(mac, b"\x34\x01\x03\x35\x01\x01" + b"\x34\x01\x03"*50 + b"\xff"), # overload loops
            bootp(mac, b"\x35\x01\x63\xff"),                             # unknown message type
        ])
    s.send(frame(mac, p))
`

func rssKB(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// TestDHCPAbuse: garbage on UDP/67 is dropped and counted, a DISCOVER
// flood from thousands of random MACs through a port limited to 4 MACs
// takes at most 4 addresses, a real client on another port still gets its
// lease, and the process neither panics nor grows.
func TestDHCPAbuse(t *testing.T) {
	requireE2E(t, "python3", "udhcpc")
	bad, good := newHost(t, "ab"), newHost(t, "ag")
	pb, pg := testnet.Name("a"), testnet.Name("a")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, max_macs: 4}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.222.0.1/24
    dhcp: {range: 10.222.0.10-10.222.0.30}
`, addr, pb, bad.Name, pg, good.Name))
	bad.Run("ip", "link", "set", pb, "up")
	rss0 := rssKB(t, vs.cmd.Process.Pid)
	bad.Run("python3", "-c", dhcpAbuse, pb, "garbage", "2000")
	bad.Run("python3", "-c", dhcpAbuse, pb, "flood", "5000")
	ip := dhcpClient(t, "udhcpc", good, pg)
	if !strings.HasPrefix(ip, "10.222.0.") {
		t.Fatalf("legitimate client got %q after the flood", ip)
	}
	out := vs.mustCLI("show", "leases")
	if n := strings.Count(out, "52:54:01:"); n > 4 {
		t.Fatalf("the flooding port holds %d leases, its max_macs is 4:\n%s", n, out)
	}
	rss1 := rssKB(t, vs.cmd.Process.Pid)
	t.Logf("RSS %d KiB before, %d KiB after 2000 garbage messages and 5000 DISCOVERs", rss0, rss1)
	if rss1-rss0 > 64*1024 {
		t.Fatalf("RSS grew by %d KiB", rss1-rss0)
	}
	text := scrape(t, addr)
	for _, reason := range []string{"malformed", "no_type", "unlearned_src"} {
		name, labels := "vswitch_dhcp_drops_total", `reason="`+reason+`"`
		if reason == "unlearned_src" {
			name, labels = "vswitch_gateway_drops_total", `network="lab",reason="unlearned_src"`
		}
		if v := metric(t, text, name, labels); v < 1 {
			t.Errorf("%s{%s} = %v", name, labels, v)
		}
	}
	if v := metric(t, text, "vswitch_dhcp_leases", `network="lab"`); v < 1 || v > 5 {
		t.Errorf("vswitch_dhcp_leases = %v", v)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool: %v\n%s", err, out)
	}
	if p := vs.ports()[pb]; p.Drops["fdb_limit"] < 1000 {
		t.Errorf("fdb_limit drops %d: the random MACs were learned?", p.Drops["fdb_limit"])
	}
}
