package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric reads one sample's value from a scrape.
func metric(t *testing.T, text, name string, labels string) float64 {
	t.Helper()
	series := name + "{" + labels + "}"
	if labels == "" {
		series = name // a sample without labels has no braces
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s{%s} in the scrape", name, labels)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsAndCapture: counters in a real Prometheus scrape follow real
// traffic, a tagged frame on an access port shows up as a drop with its
// reason, promtool accepts the scrape, and a capture is read by tcpdump
// and tshark.
func TestMetricsAndCapture(t *testing.T) {
	requireE2E(t, "ping", "tcpdump", "tshark", "promtool", "python3")
	h1, h2 := newHost(t, "m1"), newHost(t, "m2")
	p1, p2 := testnet.Name("m"), testnet.Name("m")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\nports:\n  - {name: %s, type: tap, netns: %s, vlan: 10}\n  - {name: %s, type: tap, netns: %s, vlan: 10}\n",
		addr, p1, h1.Name, p2, h2.Name))
	h1.addr(p1, "10.208.0.1/24")
	h2.addr(p2, "10.208.0.2/24")

	// Static neighbours and no IPv6: the pings are the only frames, so
	// each port counts exactly 100 each way.
	h1.Run("ip", "neigh", "replace", "10.208.0.2", "lladdr", h2.mac(p2), "dev", p1, "nud", "permanent")
	h2.Run("ip", "neigh", "replace", "10.208.0.1", "lladdr", h1.mac(p1), "dev", p2, "nud", "permanent")
	counters := func(text string) [4]float64 {
		return [4]float64{
			metric(t, text, "vswitch_port_rx_packets_total", fmt.Sprintf(`port="%s"`, p1)),
			metric(t, text, "vswitch_port_tx_packets_total", fmt.Sprintf(`port="%s"`, p2)),
			metric(t, text, "vswitch_port_rx_packets_total", fmt.Sprintf(`port="%s"`, p2)),
			metric(t, text, "vswitch_port_tx_packets_total", fmt.Sprintf(`port="%s"`, p1)),
		}
	}
	c0 := counters(scrape(t, addr))
	if n := h1.pingEvery("10.208.0.2", 100, "0.005"); n != 100 {
		t.Fatalf("%d of 100 pings answered", n)
	}
	text := scrape(t, addr)
	c1 := counters(text)
	for i, what := range []string{p1 + " rx", p2 + " tx", p2 + " rx", p1 + " tx"} {
		if d := c1[i] - c0[i]; d != 100 {
			t.Errorf("%s packets grew by %v over 100 pings, want 100", what, d)
		}
	}

	// A frame tagged with VLAN 20 on an access port of VLAN 10, sent with
	// a raw socket (the kernel here may lack 802.1Q interfaces).
	before := metric(t, text, "vswitch_port_drops_total", fmt.Sprintf(`port="%s",reason="vlan_not_allowed"`, p1))
	py := `import socket,sys
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)
s.bind((sys.argv[1],0))
f=b"\xff"*6+bytes.fromhex("525400aabb01")+b"\x81\x00\x00\x14\x08\x06"+b"\x00"*46
for _ in range(3): s.send(f)`
	h1.Run("python3", "-c", py, p1)
	testnet.WaitFor(t, 5*time.Second, "the vlan_not_allowed drop counter", func() bool {
		return metric(t, scrape(t, addr), "vswitch_port_drops_total", fmt.Sprintf(`port="%s",reason="vlan_not_allowed"`, p1)) >= before+3
	})
	if v := metric(t, scrape(t, addr), "vswitch_port_drops_total", fmt.Sprintf(`port="%s",reason="vlan_not_allowed"`, p1)); v != before+3 {
		t.Fatalf("vlan_not_allowed drops %v after 3 tagged frames, want %v", v, before+3)
	}

	// promtool lints a real scrape.
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, addr))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// 20 frames captured while pinging, piped straight into tcpdump.
	pinger := h1.Start("ping", "-i", "0.05", "10.208.0.2")
	defer pinger.Process.Kill()
	// Exactly the 20 frames asked for, every one an echo (the neighbours
	// are static: nothing else crosses the port).
	for _, l := range vs.captureLines(p2, 20) {
		if !strings.Contains(l, "ICMP echo") {
			t.Fatalf("not an echo in the capture: %q", l)
		}
	}

	// -w FILE: readable by tshark, 10 records of 98-byte echoes.
	file := filepath.Join(t.TempDir(), "c.pcap")
	vs.mustCLI("capture", p1, "-w", file, "--count", "10")
	out, err := exec.Command("tshark", "-r", file).Output() // stderr: a warning about root
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); len(got) != 10 || strings.Count(string(out), "Echo (ping)") != 10 {
		t.Fatalf("tshark read %d records, want 10 echoes:\n%s", len(got), out)
	}
	if st, err := os.Stat(file); err != nil {
		t.Fatal(err)
	} else if st.Size() != 24+10*(16+98) {
		t.Fatalf("pcap file of %d bytes, want %d (header and 10 records of 98 bytes)", st.Size(), 24+10*(16+98))
	}

	// An unknown port is a clear error.
	if out, err := vs.cli("capture", "nosuchport", "--count", "1"); err == nil || !strings.Contains(out, "no port") {
		t.Fatalf("capture of an unknown port: %v %s", err, out)
	}
	// `show ports` lists drops by reason.
	if out := vs.mustCLI("show", "ports"); !strings.Contains(out, "vlan_not_allowed=") {
		t.Errorf("show ports lacks the drop reason:\n%s", out)
	}
}

// TestStalledCaptureCutOff: a capture client that stops reading is cut off
// (control/capture.go: after 10 s without progress) and leaves nothing
// behind, while the port it watched carries traffic at full speed
// throughout.
func TestStalledCaptureCutOff(t *testing.T) {
	requireE2E(t, "ping", "iperf3")
	h1, h2 := newHost(t, "x1"), newHost(t, "x2")
	p1, p2 := testnet.Name("x"), testnet.Name("x")
	vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap, netns: %s}\n", p1, h1.Name, p2, h2.Name))
	h1.addr(p1, "10.210.0.1/24")
	h2.addr(p2, "10.210.0.2/24")
	if !h1.ping("10.210.0.2", 2) {
		t.Fatal("no traffic between the hosts")
	}
	// The CLI writes the pcap stream to a pipe nobody reads: once the
	// pipe and the socket buffers are full, the server's writes stall.
	capture := exec.Command(vswitchBin(t), "--control", vs.sock, "capture", p2)
	stalled, err := capture.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capture.Process.Kill() })
	// The pcap file header comes first, at once: the capture is on.
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(stalled, hdr); err != nil {
		t.Fatalf("capture: no pcap header: %v", err)
	}
	gbps := iperfTCP(t, h2, h1, "10.210.0.2", 15)
	t.Logf("iperf3 TCP with a stalled capture on the receiving port: %.2f Gbit/s", gbps)
	testnet.WaitFor(t, 30*time.Second, "the server to cut the stalled capture off", func() bool {
		return strings.Contains(vs.log.String(), "msg=\"capture ended\" port="+p2+" ")
	})
	if n := h1.pingCount("10.210.0.2", 5); n != 5 {
		t.Fatalf("%d of 5 pings answered after the cut-off", n)
	}
	// The stream is over: what is buffered drains, then the CLI exits.
	done := make(chan error, 1)
	go func() {
		io.Copy(io.Discard, stalled)
		done <- capture.Wait()
	}()
	select {
	case err := <-done:
		t.Logf("the stalled capture's CLI ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the capture stream did not end after the cut-off")
	}
}
