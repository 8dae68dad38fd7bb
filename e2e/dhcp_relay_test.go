package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// relayAgent is a DHCP relay agent as ISC dhcrelay is on the wire: a UDP
// socket on port 67 of its own address, forwarding each client's message
// with giaddr = that address and option 82 (circuit id "relay-e2e/I"),
// unicast to the server. For each of n clients (chaddr 52:54:00:aa:TAG:I)
// it sends a DISCOVER, and for each OFFER a REQUEST (SELECTING), then
// prints every reply: "REPLY <src ip> <src port> <hex>", and "DONE".
const relayAgent = `import socket, struct, sys, time
me, server, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3], 16), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((me, 67))
s.settimeout(0.5)
def msg(i, typ, opts=b""):
    chaddr = bytes([0x52, 0x54, 0, 0xaa, tag, i]) + bytes(10)
    circuit = ("relay-e2e/%d" % i).encode()
    o = bytes([53, 1, typ]) + opts + bytes([82, 2 + len(circuit), 1, len(circuit)]) + circuit + b"\xff"
    return struct.pack("!BBBBIHH4s4s4s4s16s", 1, 1, 6, 1, 0x5000 + i, 0, 0, bytes(4), bytes(4), bytes(4),
        socket.inet_aton(me), chaddr) + bytes(192) + b"\x63\x82\x53\x63" + o
def drain(until):
    got = []
    while time.time() < until:
        try:
            b, a = s.recvfrom(2048)
        except socket.timeout:
            continue
        print("REPLY", a[0], a[1], b.hex(), flush=True)
        got.append(b)
    return got
for i in range(n):
    s.sendto(msg(i, 1), (server, 67))
for b in drain(time.time() + 2):
    if len(b) > 240 and b[242] == 2:
        i, yi = b[33], b[16:20]
        s.sendto(msg(i, 3, bytes([50, 4]) + yi + bytes([54, 4]) + socket.inet_aton(server)), (server, 67))
drain(time.time() + 2)
print("DONE", flush=True)
`

// relayReply is one reply the relay agent received.
type relayReply struct {
	src  string // ip:port it came from
	msg  pkt.DHCP
	typ  uint8
	opts pkt.DHCPOptionSet
}

func runRelay(t *testing.T, h *host, me, server string, tag byte, n int) []relayReply {
	t.Helper()
	out := h.Run("python3", "-c", relayAgent, me, server, fmt.Sprintf("%x", tag), strconv.Itoa(n))
	if !strings.HasSuffix(strings.TrimSpace(out), "DONE") {
		t.Fatalf("relay agent:\n%s", out)
	}
	var reps []relayReply
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "REPLY" {
			continue
		}
		b, err := hex.DecodeString(f[3])
		if err != nil || !pkt.DHCP(b).Valid() {
			t.Fatalf("reply %q: %v", f[3], err)
		}
		o := pkt.DHCP(b).ParseOptions()
		reps = append(reps, relayReply{src: f[1] + ":" + f[2], msg: b, typ: o.Type, opts: o})
	}
	return reps
}

// TestDHCPRelay: a relay agent on a trusted port (dhcp_relay: true) gets,
// for each of 6 clients (more than max_leases_per_mac), an OFFER and then
// an ACK at giaddr:67 from the gateway's port 67, each carrying the
// client's chaddr and the relay's option 82 exactly as sent; the leases
// are in `show leases` under the clients' MACs. The same relay on an
// ordinary port is a guest: its clients count against its MAC, so exactly
// max_leases_per_mac (4) get offers and 2 are mac_lease_limit drops.
func TestDHCPRelay(t *testing.T) {
	requireE2E(t, "python3")
	trusted, plain := newHost(t, "rt"), newHost(t, "rp")
	pt, pp := testnet.Name("r"), testnet.Name("r")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, dhcp_relay: true}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.225.0.1/24
    dhcp: {range: 10.225.0.10-10.225.0.200, max_leases_per_mac: 4}
`, addr, pt, trusted.Name, pp, plain.Name))
	const gw = "10.225.0.1"
	trusted.addr(pt, "10.225.0.2/24")
	plain.addr(pp, "10.225.0.3/24")

	reps := runRelay(t, trusted, "10.225.0.2", gw, 1, 6)
	offers, acks := map[byte]netip.Addr{}, map[byte]netip.Addr{}
	for _, r := range reps {
		m := r.msg
		i := m.CHAddr()[5]
		circuit := fmt.Sprintf("relay-e2e/%d", i)
		want82 := append([]byte{1, byte(len(circuit))}, circuit...)
		if r.src != gw+":67" || m.Op() != pkt.BOOTReply || m.GIAddr() != netip.MustParseAddr("10.225.0.2") ||
			m.CHAddr() != (pkt.MAC{0x52, 0x54, 0, 0xaa, 1, i}) || !bytes.Equal(r.opts.RelayAgent, want82) {
			t.Fatalf("reply from %s: giaddr %v chaddr %v option 82 %q, want %q", r.src, m.GIAddr(), m.CHAddr(), r.opts.RelayAgent, want82)
		}
		switch r.typ {
		case pkt.DHCPOffer:
			offers[i] = m.YIAddr()
		case pkt.DHCPAck:
			if offers[i] != m.YIAddr() {
				t.Fatalf("client %d: ACK for %v, offered %v", i, m.YIAddr(), offers[i])
			}
			acks[i] = m.YIAddr()
		default:
			t.Fatalf("client %d: reply type %d", i, r.typ)
		}
	}
	if len(reps) != 12 || len(offers) != 6 || len(acks) != 6 {
		t.Fatalf("trusted relay: %d replies, %d offers, %d acks; want 12, 6, 6", len(reps), len(offers), len(acks))
	}
	leases := vs.leases()
	for i, ip := range acks {
		k := leaseKey{"lab", fmt.Sprintf("52:54:00:aa:01:%02x", i), ip.String()}
		if leases[k] != "bound" {
			t.Fatalf("lease %+v: %q in %v", k, leases[k], leases)
		}
	}

	c0 := readDHCPCounters(t, addr)
	reps = runRelay(t, plain, "10.225.0.3", gw, 2, 6)
	n := map[uint8]int{}
	for _, r := range reps {
		if r.src != gw+":67" || r.msg.GIAddr() != netip.MustParseAddr("10.225.0.3") {
			t.Fatalf("ordinary port: reply from %s to giaddr %v", r.src, r.msg.GIAddr())
		}
		n[r.typ]++
	}
	d := readDHCPCounters(t, addr).sub(c0)
	if n[pkt.DHCPOffer] != 4 || n[pkt.DHCPAck] != 4 || len(reps) != 8 || d["mac_lease_limit"] != 2 || d["chaddr_spoofed"] != 0 {
		t.Fatalf("ordinary port: replies %v (%d), counters %v; want 4 offers, 4 acks, 2 mac_lease_limit", n, len(reps), d)
	}
}

// perfdhcpNet is vswitch with network lab on 10.<second>.0.1/16 and its
// metrics at addr, and a host behind a dhcp_relay port p at
// 10.<second>.0.2, where perfdhcp runs.
func perfdhcpNet(t *testing.T, tag string, second int) (vs *instance, h *host, p, addr string) {
	requireE2E(t, "perfdhcp")
	h = newHost(t, tag)
	p = testnet.Name("p")
	addr = freeAddr(t)
	vs = startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, dhcp_relay: true}
networks:
  - name: lab
    address: 10.%d.0.1/16
    dhcp: {range: 10.%d.1.0-10.%d.255.254}
`, addr, p, h.Name, second, second, second))
	h.addr(p, fmt.Sprintf("10.%d.0.2/16", second))
	return vs, h, p, addr
}

// bound counts the bound leases in `show leases`.
func (in *instance) bound() int {
	n := 0
	for _, state := range in.leases() {
		if state == "bound" {
			n++
		}
	}
	return n
}

// perfdhcpCounts are one exchange's figures in perfdhcp's report: the
// first block is DISCOVER-OFFER, the second REQUEST-ACK.
type perfdhcpCounts struct{ sent, received int }

func parsePerfdhcp(t *testing.T, out string) []perfdhcpCounts {
	t.Helper()
	var c []perfdhcpCounts
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "sent packets: "); ok {
			c = append(c, perfdhcpCounts{sent: atoiOr(t, v, out)})
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "received packets: "); ok && len(c) > 0 {
			c[len(c)-1].received = atoiOr(t, v, out)
		}
	}
	if len(c) != 2 {
		t.Fatalf("perfdhcp report without two exchanges:\n%s", out)
	}
	return c
}

// TestDHCPPerfdhcp: perfdhcp (Kea's benchmark, a relay agent: giaddr
// set, port 67) on a dhcp_relay port, 200 four-way exchanges a second
// for 3 seconds: under 1 % of either exchange dropped, and every lease
// the server acknowledged, at least every one perfdhcp saw, is bound in
// `show leases`.
func TestDHCPPerfdhcp(t *testing.T) {
	vs, h, p, addr := perfdhcpNet(t, "pd", 228)
	// A reply counts as lost only after 5 s (-d), and perfdhcp waits 3 s
	// for the last ones (-W): on a loaded machine a late ACK is not a drop.
	out, _ := h.Output("perfdhcp", "-4", "-l", p, "-r", "200", "-R", "100000", "-p", "3", "-d", "5", "-W", "3000000", "10.228.0.1")
	c := parsePerfdhcp(t, out)
	for i, x := range c {
		if x.sent < 500 || x.received*100 < x.sent*99 {
			t.Fatalf("exchange %d: %d sent, %d received (over 1 %% dropped):\n%s", i, x.sent, x.received, out)
		}
	}
	// A lease is bound before its ACK is counted and sent: wait until the
	// last ones are counted too.
	var acks float64
	var bound int
	testnet.WaitFor(t, 5*time.Second, "the server's last ACKs", func() bool {
		acks = readDHCPCounters(t, addr)["ack"]
		bound = vs.bound()
		return int(acks) >= c[1].received && float64(bound) == acks
	})
	if float64(bound) != acks || bound < c[1].received {
		t.Fatalf("%d bound leases, the server sent %v ACKs, perfdhcp received %d", bound, acks, c[1].received)
	}
	t.Logf("perfdhcp at 200/s for 3 s: DO %d/%d, RA %d/%d, %d leases", c[0].received, c[0].sent, c[1].received, c[1].sent, bound)
}

// TestDHCPPerfdhcpKill: vswitch is killed with SIGKILL in the middle of
// a perfdhcp run (perfdhcp dies too: its interface goes with the process).
// Each ACK is counted after its lease was synced and before it is sent,
// so after a restart on the same state directory at least as many leases
// are bound as the server had counted ACKs just before the kill (which
// must be hundreds: the run did work).
func TestDHCPPerfdhcpKill(t *testing.T) {
	vs, h, p, addr := perfdhcpNet(t, "pk", 229)
	perf := h.Command(context.Background(), "perfdhcp", "-4", "-l", p, "-r", "300", "-R", "100000", "-p", "10", "10.229.0.1")
	if err := perf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { perf.Process.Kill(); perf.Wait() })
	time.Sleep(3 * time.Second)
	acks := readDHCPCounters(t, addr)["ack"]
	vs2 := killRestart(t, vs)
	bound := vs2.bound()
	if acks < 300 || float64(bound) < acks {
		t.Fatalf("after kill -9: %d leases bound, %v ACKs counted before the kill", bound, acks)
	}
	t.Logf("kill -9 after 3 s of 300 DORA/s: %v ACKs counted, %d leases bound after restart", acks, bound)
}

// atoiOr is v as a number, or the test fails with perfdhcp's report out.
func atoiOr(t *testing.T, v, out string) int {
	t.Helper()
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("perfdhcp count %q: %v\n%s", v, err, out)
	}
	return n
}
