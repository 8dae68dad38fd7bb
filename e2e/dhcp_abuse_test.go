package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// A raw-socket DHCP client for many MACs at once (python3 is in the test
// packages; the frames are built by hand so nothing in the host stack
// smooths them over).
//
// flood N: N distinct random MACs (52:54:01:xx:xx:xx) each send a
// DISCOVER and answer any OFFER with a REQUEST, so a MAC the server hears
// completes DISCOVER/OFFER/REQUEST/ACK and holds a real lease. It prints
// "MAC m" per MAC in sending order, "ACK m ip" per lease and "SENT n".
// It sends about 2000 frames a second, which the TAP's queue holds.
//
// spoof MAC N: from one (learned) Ethernet source MAC, N INIT-REBOOT
// REQUESTs, each with another random client hardware address (chaddr)
// and asking for the next address from 10.222.0.10 on; prints "ACK
// chaddr ip" per lease and "SENT n".
//
// garbage MAC K: K messages of each malformed kind from one MAC, in a
// fixed order, and prints "SENT n".
const dhcpAbuse = pyCsum + `import os, socket, struct, sys, random, select, time
dev, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((dev, 0))
sent = 0
def send(src, payload):
    global sent
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b"\xff"*4)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(b"\xff"*6 + src + b"\x08\x00" + ip + udp)
    sent += 1
def bootp(mac, opts, xid=0, op=1, cookie=b"\x63\x82\x53\x63"):
    return struct.pack("!BBBBIHH", op, 1, 6, 0, xid, 0, 0x8000) + bytes(16) + mac + bytes(10) + bytes(192) + cookie + opts
def opts(b):
    o, i = {}, 0
    while i < len(b) and b[i] != 255:
        if b[i] == 0: i += 1; continue
        o[b[i]] = b[i+2:i+2+b[i+1]]; i += 2 + b[i+1]
    return o
pending, asked = {}, set()
def answer(wait):
    # Reads the server's replies: an OFFER is taken with a REQUEST, an ACK
    # (or NAK) answers it. With wait, it returns once the server has been
    # quiet that long and answered every REQUEST, or after 60 s.
    end = time.time() + 60
    while select.select([s], [], [], wait)[0] or (wait and asked and time.time() < end):
        d, a = s.recvfrom(4096)
        if a[2] == socket.PACKET_OUTGOING or len(d) < 14+20+8+240 or d[12:14] != b"\x08\x00" or d[23] != 17:
            continue
        m = d[14+(d[14]&15)*4+8:]
        if struct.unpack("!H", d[14+(d[14]&15)*4:][:2])[0] != 67 or m[0] != 2:
            continue
        xid, yi, o = struct.unpack("!I", m[4:8])[0], m[16:20], opts(m[240:])
        mac = pending.get(xid)
        if mac is None or 53 not in o:
            continue
        if o[53] == b"\x02" and xid not in asked:
            asked.add(xid)
            send(mac, bootp(mac, b"\x35\x01\x03\x32\x04" + yi + b"\x36\x04" + o[54] + b"\xff", xid))
        elif o[53] in (b"\x05", b"\x06"):
            asked.discard(xid)
            if o[53] == b"\x05":
                print("ACK", mac.hex(":"), socket.inet_ntoa(yi), flush=True)
if mode == "flood":
    for i, n in enumerate(random.sample(range(1, 1 << 24), int(sys.argv[3]))):
        mac = bytes([0x52, 0x54, 0x01]) + n.to_bytes(3, "big")
        xid = random.getrandbits(32)
        pending[xid] = mac
        print("MAC", mac.hex(":"), flush=True)
        send(mac, bootp(mac, b"\x35\x01\x01\xff", xid))
        answer(0)
        if i % 20 == 19:
            time.sleep(0.01)
    answer(3)  # until the server has been quiet for 3 s
elif mode == "spoof":
    src = bytes.fromhex(sys.argv[3].replace(":", ""))
    for i, n in enumerate(random.sample(range(1, 1 << 24), int(sys.argv[4]))):
        mac = bytes([0x52, 0x54, 0x02]) + n.to_bytes(3, "big")
        xid = random.getrandbits(32)
        pending[xid] = mac
        send(src, bootp(mac, b"\x35\x01\x03\x32\x04" + bytes([10, 222, 0, 10 + i % 21]) + b"\xff", xid))
        answer(0)
    answer(3)
else:
    mac, k = bytes.fromhex(sys.argv[3].replace(":", "")), int(sys.argv[4])
    kinds = [
        lambda: os.urandom(random.randint(0, 239)),                   # malformed: shorter than a BOOTP header
        lambda: bootp(mac, b"\x35\x01\x01\xff")[:100],                # malformed: truncated
        lambda: bootp(mac, b"\x35\x01\x01\xff", cookie=bytes(4)),     # malformed: wrong magic cookie
        lambda: bootp(mac, b"\x35\x01\x01\x37\xff\x01"),              # malformed: option length past the end
        lambda: bootp(mac, b"\x35\x01\x01\xff", op=2),                # not_request: a BOOTREPLY
        lambda: bootp(mac, b"\x35\x01\x63\xff"),                      # no_type: unknown message type
        lambda: bootp(mac, b"\x0c\x03abc\xff"),                        # no_type: no option 53
        lambda: bootp(mac, b"\x34\x01\x03\x35\x01\x01" + b"\x34\x01\x03"*50 + b"\xff"), # overload loops: a DISCOVER
    ]
    for kind in kinds:
        for _ in range(k):
            send(mac, kind())
print("SENT", sent, flush=True)
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

// abuseRig runs a vswitch with metrics on addr whose network lab
// (10.222.0.1/24, DHCP pool .10-.30) has two TAP ports: pb in bad, with
// the port options badOpts, and pg in good. pb is up, with no address.
func abuseRig(t *testing.T, tag, badOpts string) (vs *instance, addr string, bad, good *host, pb, pg string) {
	t.Helper()
	bad, good = newHost(t, tag+"b"), newHost(t, tag+"g")
	pb, pg = testnet.Name(tag), testnet.Name(tag)
	addr = freeAddr(t)
	vs = startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.222.0.1/24
    dhcp: {range: 10.222.0.10-10.222.0.30}
`, addr, pb, bad.Name, badOpts, pg, good.Name))
	bad.Run("ip", "link", "set", pb, "up")
	return vs, addr, bad, good, pb, pg
}

// TestDHCPAbuse: a flood of 2000 random MACs, each trying a whole
// DISCOVER/OFFER/REQUEST/ACK, through a port limited to 4 MACs leases
// exactly 4 addresses, to the first 4 MACs it sent (the ones the switch
// learned); every frame of the rest is counted as fdb_limit on the port
// and unlearned_src at the gateway. Garbage from a learned MAC is dropped
// with exact counts per reason, a real client on another port then gets
// the next free address, and the process neither panics nor grows.
func TestDHCPAbuse(t *testing.T) {
	requireE2E(t, "python3", "udhcpc", "promtool")
	// Five of the eight garbage kinds are whole BOOTP messages, rate-limited
	// per MAC (a burst of 20): 3 of each stay under it, so every one is
	// counted under its own reason.
	const floodMACs, garbageEach = 2000, 3
	vs, addr, bad, good, pb, pg := abuseRig(t, "a", "max_macs: 4")
	rss0 := rssKB(t, vs.cmd.Process.Pid)

	out := bad.Run("python3", "-c", dhcpAbuse, pb, "flood", fmt.Sprint(floodMACs))
	var macs []string
	acks := map[string]string{}
	sent := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "MAC":
			macs = append(macs, f[1])
		case len(f) == 3 && f[0] == "ACK":
			acks[f[1]] = f[2]
		case len(f) == 2 && f[0] == "SENT":
			sent, _ = strconv.Atoi(f[1])
		}
	}
	if len(macs) != floodMACs || sent != floodMACs+4 {
		t.Fatalf("flood: %d MACs, %d frames sent, want %d and %d:\n%s", len(macs), sent, floodMACs, floodMACs+4, out)
	}
	// The switch learns the first 4 source MACs it sees on the port: the
	// first 4 the flood sent. Each got the lowest address free when its
	// DISCOVER was served, in sending order.
	learned := macs[:4]
	want := map[string]string{}
	for i, m := range learned {
		want[m] = fmt.Sprintf("10.222.0.%d", 10+i)
	}
	if !maps.Equal(acks, want) {
		t.Fatalf("ACKs in the flood: %v, want exactly the 4 learned MACs %v", acks, want)
	}
	var onPort []string
	for _, e := range vs.fdb() {
		if e.Port == pb {
			onPort = append(onPort, e.MAC)
		}
	}
	sort.Strings(onPort)
	wantFDB := slices.Sorted(slices.Values(learned))
	if !slices.Equal(onPort, wantFDB) {
		t.Fatalf("FDB on %s: %v, want the first 4 MACs sent %v", pb, onPort, wantFDB)
	}

	// Garbage from a learned MAC reaches the parser.
	out = bad.Run("python3", "-c", dhcpAbuse, pb, "garbage", learned[0], fmt.Sprint(garbageEach))
	if strings.TrimSpace(out) != fmt.Sprintf("SENT %d", 8*garbageEach) {
		t.Fatalf("garbage: %q", out)
	}
	total := sent + 8*garbageEach
	unlearned := uint64(floodMACs - 4) // one DISCOVER each
	// The gateway works through its queue after the port has read it all:
	// wait until the last counters reach their totals, then compare all.
	var ports map[string]portStatus
	var text string
	testnet.WaitFor(t, 60*time.Second, fmt.Sprintf("%d frames through %s and the gateway", total, pb), func() bool {
		ports, text = vs.ports(), scrape(t, addr)
		return ports[pb].RxPackets >= uint64(total) &&
			uint64(metric(t, text, "vswitch_gateway_drops_total", `network="lab",reason="unlearned_src"`)) >= unlearned &&
			uint64(metric(t, text, "vswitch_dhcp_drops_total", `reason="no_type"`)) >= 2*garbageEach &&
			uint64(metric(t, text, "vswitch_dhcp_messages_total", `type="offer"`)) >= 4+garbageEach
	})
	kernelDropped := strings.TrimSpace(bad.Run("cat", "/sys/class/net/"+pb+"/statistics/tx_dropped"))
	exact := []struct {
		what      string
		got, want uint64
	}{
		{pb + " rx_packets (the kernel dropped " + kernelDropped + ")", ports[pb].RxPackets, uint64(total)},
		{pb + " fdb_limit drops", ports[pb].Drops["fdb_limit"], unlearned},
		{"gw-lab queue_full drops", ports["gw-lab"].Drops["queue_full"], 0},
		{"gateway unlearned_src", uint64(metric(t, text, "vswitch_gateway_drops_total", `network="lab",reason="unlearned_src"`)), unlearned},
		{"DHCP malformed", uint64(metric(t, text, "vswitch_dhcp_drops_total", `reason="malformed"`)), 4 * garbageEach},
		{"DHCP not_request", uint64(metric(t, text, "vswitch_dhcp_drops_total", `reason="not_request"`)), garbageEach},
		{"DHCP no_type", uint64(metric(t, text, "vswitch_dhcp_drops_total", `reason="no_type"`)), 2 * garbageEach},
		{"DHCP pool_exhausted", uint64(metric(t, text, "vswitch_dhcp_drops_total", `reason="pool_exhausted"`)), 0},
		{"DHCP rate_limited", uint64(metric(t, text, "vswitch_dhcp_drops_total", `reason="rate_limited"`)), 0},
		{"DHCP discover", uint64(metric(t, text, "vswitch_dhcp_messages_total", `type="discover"`)), 4 + garbageEach},
		{"DHCP offer", uint64(metric(t, text, "vswitch_dhcp_messages_total", `type="offer"`)), 4 + garbageEach},
		{"DHCP request", uint64(metric(t, text, "vswitch_dhcp_messages_total", `type="request"`)), 4},
		{"DHCP ack", uint64(metric(t, text, "vswitch_dhcp_messages_total", `type="ack"`)), 4},
		{"DHCP nak", uint64(metric(t, text, "vswitch_dhcp_messages_total", `type="nak"`)), 0},
		{"leases", uint64(metric(t, text, "vswitch_dhcp_leases", `network="lab"`)), 4},
	}
	for _, c := range exact {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}

	// A real client on another port still leases: the next free address.
	ip := dhcpClient(t, "udhcpc", good, pg)
	if ip != "10.222.0.14" {
		t.Fatalf("legitimate client got %q after the flood, want 10.222.0.14", ip)
	}
	want[good.mac(pg)] = ip
	got := map[string]string{}
	for _, l := range vs.leaseList() {
		if l.Network != "lab" || l.State != "bound" || got[l.MAC] != "" {
			t.Errorf("lease %+v", l)
		}
		got[l.MAC] = l.IP
	}
	if !maps.Equal(got, want) {
		t.Fatalf("leases %v, want exactly %v", got, want)
	}

	rss1 := rssKB(t, vs.cmd.Process.Pid)
	t.Logf("RSS %d KiB before, %d KiB after %d flood and %d garbage frames", rss0, rss1, sent, 8*garbageEach)
	if rss1-rss0 > 64*1024 {
		t.Fatalf("RSS grew by %d KiB", rss1-rss0)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, addr))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool: %v\n%s", err, out)
	}
}

// TestDHCPChaddrSpoof: the gateway ignores DHCP from MACs the switch did
// not learn, "so one port cannot drain the pool" (gateway/gateway.go). A
// host on a port limited to one MAC sends, from its one learned MAC,
// REQUESTs that each carry another client hardware address (chaddr, the
// address a lease is bound to) and ask for each address of the pool in
// turn. None of those clients was learned, so none may get a lease, and a
// real client on another port gets the pool's first address.
func TestDHCPChaddrSpoof(t *testing.T) {
	requireE2E(t, "python3", "udhcpc")
	vs, addr, bad, good, pb, pg := abuseRig(t, "s", `max_macs: 1, mac: "52:54:00:5b:00:01"`)
	out := bad.Run("python3", "-c", dhcpAbuse, pb, "spoof", "52:54:00:5b:00:01", "42")
	if acks := strings.Count(out, "ACK "); acks != 0 {
		t.Errorf("%d leases for client hardware addresses the switch never learned, all from one port with max_macs 1:\n%s",
			acks, out)
	}
	// Every spoofed REQUEST is counted, and none reached the server.
	testnet.WaitFor(t, 20*time.Second, "42 chaddr_spoofed drops", func() bool {
		return metric(t, scrape(t, addr), "vswitch_gateway_drops_total", `network="lab",reason="chaddr_spoofed"`) >= 42
	})
	text := scrape(t, addr)
	if v := metric(t, text, "vswitch_gateway_drops_total", `network="lab",reason="chaddr_spoofed"`); v != 42 {
		t.Errorf("chaddr_spoofed drops %v, want 42", v)
	}
	if v := metric(t, text, "vswitch_dhcp_messages_total", `type="request"`); v != 0 {
		t.Errorf("the DHCP server saw %v REQUESTs, want 0", v)
	}
	if ip := dhcpClient(t, "udhcpc", good, pg); ip != "10.222.0.10" {
		t.Errorf("a real client on another port got %q, want the pool's first address 10.222.0.10", ip)
	}
	want := map[leaseKey]string{{"lab", good.mac(pg), "10.222.0.10"}: "bound"}
	if got := vs.leases(); !maps.Equal(got, want) {
		t.Errorf("leases %v, want only the real client's %v", got, want)
	}
}
