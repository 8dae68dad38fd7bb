package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// upstreamDNS runs dnsmasq on the host's loopback as the forwarders'
// target: fwd.example (and below) is 198.51.100.7, big.example has a TXT
// record of about 850 bytes. It returns the address and the process.
func upstreamDNS(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	addr := freeAddr(t) // a free TCP port; dnsmasq takes UDP and TCP on it
	_, port, _ := strings.Cut(addr, ":")
	long := strings.Repeat("x", 200)
	cmd := exec.Command("dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
		"--pid-file=", "--listen-address=127.0.0.1", "--bind-interfaces", "--port="+port,
		"--address=/fwd.example/198.51.100.7",
		fmt.Sprintf(`--txt-record=big.example,"%s","%s","%s","%s"`, long, long, long, long))
	startProcess(t, "dnsmasq", cmd)
	testnet.WaitFor(t, 5*time.Second, "dnsmasq listening", func() bool {
		out, err := exec.Command("dig", "+short", "+time=1", "+tries=1", "-p", port, "@127.0.0.1", "fwd.example").Output()
		return err == nil && strings.TrimSpace(string(out)) == "198.51.100.7"
	})
	return addr, cmd
}

var digStatus = regexp.MustCompile(`status: (\w+)`)

// dig asks server from h; it returns the status and the answer lines'
// data, in order.
func dig(t *testing.T, h *host, server, name string, args ...string) (string, []string) {
	t.Helper()
	argv := append(append([]string{"+time=2", "+tries=1", "+nocmd", "+noquestion", "+nostats", "@" + server}, args...), name)
	out, _ := h.Output("dig", argv...)
	m := digStatus.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dig %s %v from %s: no answer:\n%s", name, args, h.Name, out)
	}
	var data []string
	inAnswer := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, ";; ANSWER SECTION"):
			inAnswer = true
		case strings.HasPrefix(l, ";;") || strings.TrimSpace(l) == "":
			inAnswer = false
		case inAnswer:
			f := strings.Fields(l)
			data = append(data, f[3]+" "+strings.Join(f[4:], " "))
		}
	}
	return m[1], data
}

// resolvConf points h's own resolver (getent, through nsswitch) at
// server: ip netns exec mounts /etc/netns/NAME/resolv.conf over the file.
func resolvConf(t *testing.T, h *host, server string) {
	dir := filepath.Join("/etc/netns", h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver "+server+"\noptions timeout:2 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dnsFlood sends n queries to the gateway from one socket as fast as it
// can: every other one a query for a random name, the rest random bytes.
const dnsFlood = `
import os, random, socket, struct, sys
dst, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
for i in range(n):
    if i % 2:
        name = b"".join(bytes([len(l)]) + l for l in (os.urandom(6).hex().encode(), b"example")) + b"\0"
        msg = struct.pack("!HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1"
    else:
        msg = os.urandom(random.randint(1, 600))
    try:
        s.sendto(msg, (dst, 53))
    except BlockingIOError:
        pass
print("SENT", n)
`

// TestDNS: the gateway answers dig and the guests' own resolver for a
// leased host name (option 12), a dhcp.hosts name and a dns.hosts name,
// A and PTR; forwards other names to a dnsmasq upstream, EDNS0 answers
// over 512 bytes included; answers SERVFAIL within 3 s once the upstream
// is gone; keeps network A's names from network B; forgets a name whose
// lease is released; and under a flood of 50k random queries from one
// guest keeps forwarding frames for the others with its memory bounded.
func TestDNS(t *testing.T) {
	requireE2E(t, "dig", "dnsmasq", "udhcpc", "getent", "python3", "ping")
	up, upCmd := upstreamDNS(t)
	g1, g2, g3, b1 := newHost(t, "n1"), newHost(t, "n2"), newHost(t, "n3"), newHost(t, "nb")
	p1, p2, p3, pb := testnet.Name("n"), testnet.Name("n"), testnet.Name("n"), testnet.Name("n")
	maddr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, vlan: 10, mac: "52:54:00:e0:00:07"}
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, vlan: 20}
networks:
  - name: a
    vlan: 10
    address: 10.230.0.1/24
    dhcp:
      range: 10.230.0.100-10.230.0.150
      domain: lab
      hosts: [{mac: "52:54:00:e0:00:07", ip: 10.230.0.7, name: web}]
    dns:
      forwarders: [%q]
      hosts: [{name: db, ip: 10.230.0.20}]
  - name: b
    vlan: 20
    address: 10.231.0.1/24
    dhcp: {range: 10.231.0.100-10.231.0.150, domain: lab}
    dns: {forwarders: [%q]}
`, maddr, p1, g1.Name, p2, g2.Name, p3, g3.Name, pb, b1.Name, up, up))
	script := writeScript(t, "udhcpc.sh", udhcpcScript)
	lease := func(h *host, dev string, extra ...string) {
		h.Run("ip", "link", "set", dev, "up")
		h.Run("udhcpc", append([]string{"-i", dev, "-n", "-q", "-t", "10", "-T", "1", "-s", script}, extra...)...)
	}
	// g1's client stays: -R releases the lease when it is told to stop.
	g1.Run("ip", "link", "set", p1, "up")
	alpha := g1.Start("udhcpc", "-f", "-R", "-i", p1, "-t", "10", "-T", "1", "-s", script, "-x", "hostname:alpha")
	testnet.WaitFor(t, 15*time.Second, "g1's lease", func() bool {
		return strings.Contains(g1.Run("ip", "-4", "-o", "addr", "show", "dev", p1), "inet ")
	})
	lease(g2, p2)
	g3.addr(p3, "10.230.0.9/24")
	b1.addr(pb, "10.231.0.5/24")
	ip1 := regexp.MustCompile(`inet (\S+)/`).FindStringSubmatch(g1.Run("ip", "-4", "-o", "addr", "show", "dev", p1))[1]
	rev1 := "PTR alpha.lab."
	for _, h := range []*host{g1, g2, g3} {
		resolvConf(t, h, "10.230.0.1")
	}
	resolvConf(t, b1, "10.231.0.1")

	type want struct {
		from   *host
		name   string
		args   []string
		status string
		data   string
	}
	check := func(tc want) {
		t.Helper()
		server := "10.230.0.1"
		if tc.from == b1 {
			server = "10.231.0.1"
		}
		status, data := dig(t, tc.from, server, tc.name, tc.args...)
		if got := strings.Join(data, ", "); status != tc.status || got != tc.data {
			t.Errorf("from %s: dig %s %v: %s [%s], want %s [%s]", tc.from.Name, tc.name, tc.args, status, got, tc.status, tc.data)
		}
	}
	for _, tc := range []want{
		{g3, "alpha.lab", nil, "NOERROR", "A " + ip1},
		{g3, ip1, []string{"-x"}, "NOERROR", rev1},
		{g3, "web.lab", nil, "NOERROR", "A 10.230.0.7"},
		{g1, "10.230.0.7", []string{"-x"}, "NOERROR", "PTR web.lab."},
		{g3, "db.lab", nil, "NOERROR", "A 10.230.0.20"},
		{g2, "10.230.0.20", []string{"-x"}, "NOERROR", "PTR db.lab."},
		{g3, "nobody.lab", nil, "NXDOMAIN", ""},
		{g3, "fwd.example", nil, "NOERROR", "A 198.51.100.7"},
		// Network B sees none of A's names, and forwards for itself.
		{b1, "alpha.lab", nil, "NXDOMAIN", ""},
		{b1, "db.lab", nil, "NXDOMAIN", ""},
		// Outside b's prefix: not b's to answer, so forwarded, and the
		// upstream (dnsmasq --no-resolv) refuses it.
		{b1, "10.230.0.20", []string{"-x"}, "SERVFAIL", ""},
		{b1, "www.fwd.example", nil, "NOERROR", "A 198.51.100.7"},
	} {
		check(tc)
	}
	// EDNS0: an answer over 512 bytes arrives whole over UDP.
	big, err := g3.Output("dig", "+time=2", "+tries=1", "+bufsize=1232", "+notcp", "+ignore", "@10.230.0.1", "big.example", "TXT")
	m := regexp.MustCompile(`MSG SIZE\s+rcvd: (\d+)`).FindStringSubmatch(big)
	if size := 0; m != nil {
		size, _ = strconv.Atoi(m[1])
		if err != nil || size < 800 || strings.Contains(big, " tc ") || !strings.Contains(big, "status: NOERROR") {
			t.Errorf("EDNS0 TXT answer of %d bytes: %v\n%s", size, err, big)
		}
	} else {
		t.Errorf("EDNS0 TXT answer: %v\n%s", err, big)
	}
	// TCP: a local name; the large answer asked over TCP; and over UDP
	// without EDNS0, where it comes truncated and dig retries over TCP.
	check(want{g3, "db.lab", []string{"+tcp"}, "NOERROR", "A 10.230.0.20"})
	for _, args := range [][]string{{"+tcp", "+noedns"}, {"+noedns"}} {
		out, err := g3.Output("dig", append([]string{"+time=2", "+tries=1", "@10.230.0.1", "big.example", "TXT"}, args...)...)
		m := regexp.MustCompile(`MSG SIZE\s+rcvd: (\d+)`).FindStringSubmatch(out)
		size := 0
		if m != nil {
			size, _ = strconv.Atoi(m[1])
		}
		if err != nil || size < 800 || strings.Count(out, "xxxxxxxxxx") < 4*20 || !strings.Contains(out, "status: NOERROR") ||
			(args[0] == "+noedns") != strings.Contains(out, "Truncated, retrying in TCP mode") {
			t.Errorf("dig %v big.example TXT: %d bytes, %v\n%s", args, size, err, out)
		}
	}
	// The guests' own resolver.
	for _, tc := range []struct {
		h          *host
		name, want string
	}{{g3, "db.lab", "10.230.0.20     db.lab"}, {g3, "alpha.lab", ip1 + " alpha.lab"}, {g1, "fwd.example", "198.51.100.7    fwd.example"}} {
		out, err := testnet.Output("ip", "netns", "exec", tc.h.Name, "getent", "hosts", tc.name)
		if err != nil || strings.Join(strings.Fields(out), " ") != strings.Join(strings.Fields(tc.want), " ") {
			t.Errorf("getent hosts %s in %s: %q (%v), want %q", tc.name, tc.h.Name, out, err, tc.want)
		}
	}
	if out, err := testnet.Output("ip", "netns", "exec", b1.Name, "getent", "hosts", "db.lab"); err == nil {
		t.Errorf("network b resolved db.lab: %q", out)
	}

	// A query with a spoofed outside source (reflection) is dropped and
	// counted; the same query from the guest's own address, sent after
	// it the same way, is answered (the sentinel).
	gwMAC := regexp.MustCompile(`lladdr (\S+)`).FindStringSubmatch(g3.Run("ip", "neigh", "show", "10.230.0.1"))[1]
	raw := testnet.OpenRaw(t, g3.Netns, p3)
	for _, src := range []string{"203.0.113.9", "10.230.0.9"} {
		raw.Send(udpQueryFrame(t, g3.mac(p3), gwMAC, src, "db.lab"))
	}
	for {
		f, ok := raw.Recv(3 * time.Second)
		if !ok {
			t.Fatal("no answer to the query from the guest's own address")
		}
		ip := pkt.IPv4(f.Data[pkt.EthernetLen:])
		if pkt.Ethernet(f.Data).Type() != pkt.TypeIPv4 || ip.Protocol() != pkt.ProtoUDP || pkt.UDP(ip.Payload()).SrcPort() != 53 {
			continue
		}
		if ip.Dst().String() != "10.230.0.9" {
			t.Fatalf("an answer went to %s", ip.Dst())
		}
		break
	}
	if v := metric(t, scrape(t, maddr), "vswitch_dns_drops_total", `network="a",reason="outside_prefix"`); v != 1 {
		t.Errorf("outside_prefix drops %v, want 1", v)
	}

	// The flood: one guest, 50k queries; the others keep working.
	answered := func() float64 {
		text := scrape(t, maddr)
		n := 0.0
		for _, r := range []string{"local", "forwarded", "cached", "servfail", "refused"} {
			n += metric(t, text, "vswitch_dns_results_total", `network="a",result="`+r+`"`)
		}
		return n
	}
	rss0, answered0, start := rssKB(t, vs.cmd.Process.Pid), answered(), time.Now()
	flood := g1.Start("python3", "-c", dnsFlood, "10.230.0.1", "50000")
	if got := g3.pingEvery("10.230.0.7", 20, "0.05"); got != 20 {
		t.Errorf("during the flood: %d of 20 pings from another guest answered", got)
	}
	if err := flood.Wait(); err != nil {
		t.Fatalf("flood: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // what is queued drains
	took, answeredFlood := time.Since(start), answered()-answered0
	rss1 := rssKB(t, vs.cmd.Process.Pid)
	text := scrape(t, maddr)
	limited := metric(t, text, "vswitch_dns_drops_total", `network="a",reason="ratelimit"`)
	queueFull := metric(t, text, "vswitch_dns_drops_total", `network="a",reason="queue_full"`)
	t.Logf("flood in %v: %.0f answered, %.0f ratelimit drops, %.0f queue_full; RSS %d -> %d kB", took, answeredFlood, limited, queueFull, rss0, rss1)
	// The rate limit: a burst of 200, then 100 a second; the rest of what
	// reached the server (most of it, even under the race detector) was
	// dropped by the limit or the full queue.
	if answeredFlood > 200+100*took.Seconds()+1 || limited+queueFull < 5000 {
		t.Errorf("flood: %.0f answered in %v, %.0f rate limited, %.0f queue full", answeredFlood, took, limited, queueFull)
	}
	// The race detector's shadow memory grows with the heap it watches.
	if limit := map[bool]int{false: 64 << 10, true: 192 << 10}[raceEnabled]; rss1-rss0 > limit {
		t.Errorf("RSS grew by %d kB under the flood", rss1-rss0)
	}
	check(want{g3, "db.lab", nil, "NOERROR", "A 10.230.0.20"})
	if got := g3.pingCount("10.230.0.7", 3); got != 3 {
		t.Errorf("after the flood: %d of 3 pings answered", got)
	}

	// A released lease's name stops resolving.
	alpha.Process.Signal(syscall.SIGTERM)
	alpha.Wait()
	if v := metric(t, scrape(t, maddr), "vswitch_dhcp_messages_total", `type="release"`); v != 1 {
		t.Fatalf("releases %v, want 1", v)
	}
	testnet.WaitFor(t, 3*time.Second, "alpha.lab gone", func() bool {
		status, _ := dig(t, g3, "10.230.0.1", "alpha.lab")
		return status == "NXDOMAIN"
	})
	check(want{g3, ip1, []string{"-x"}, "NXDOMAIN", ""})

	// The upstream stops answering (SIGSTOP: queries go unanswered, the
	// forwarder's timeout ends them), then goes away (SIGKILL: the kernel
	// refuses at once): SERVFAIL within 3 s both times.
	servfail0 := metric(t, scrape(t, maddr), "vswitch_dns_results_total", `network="a",result="servfail"`)
	for i, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGKILL} {
		upCmd.Process.Signal(sig)
		if sig == syscall.SIGKILL {
			upCmd.Wait()
		}
		start = time.Now()
		status, _ := dig(t, g3, "10.230.0.1", fmt.Sprintf("new%d.fwd.example", i), "+time=5")
		if d := time.Since(start); status != "SERVFAIL" || d > 3*time.Second {
			t.Errorf("upstream %v: %s after %v, want SERVFAIL within 3s", sig, status, d)
		}
	}
	// Local names do not need it.
	check(want{g3, "db.lab", nil, "NOERROR", "A 10.230.0.20"})
	text = scrape(t, maddr)
	if v := metric(t, text, "vswitch_dns_results_total", `network="a",result="servfail"`); v != servfail0+2 {
		t.Errorf("servfail results %v, want %v", v, servfail0+2)
	}
}

// udpQueryFrame is an Ethernet frame with a DNS query for name (A) from
// src port 5353 to the gateway's port 53.
func udpQueryFrame(t *testing.T, srcMAC, dstMAC, src, name string) []byte {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	q, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return udpFrame4(t, dstMAC, srcMAC, src, "10.230.0.1", 5353, 53, string(q))
}
