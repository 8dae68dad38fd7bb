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
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
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

	// 100 pings: the sender's rx counter is at least 100.
	h1.Run("ping", "-c", "100", "-i", "0.005", "-q", "10.208.0.2")
	text := scrape(t, addr)
	if rx := metric(t, text, "vswitch_port_rx_packets_total", fmt.Sprintf(`port="%s"`, p1)); rx < 100 {
		t.Fatalf("rx packets of %s = %v after 100 pings", p1, rx)
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

	// promtool lints a real scrape.
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, addr))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// 20 frames captured while pinging, piped straight into tcpdump.
	pinger := h1.Start("ping", "-i", "0.05", "10.208.0.2")
	defer pinger.Process.Kill()
	capture := exec.Command(vswitchBin(t), "--control", vs.sock, "capture", p2, "--count", "20")
	tcpdump := exec.Command("tcpdump", "-nr", "-")
	pipe, _ := capture.StdoutPipe()
	tcpdump.Stdin = pipe
	var dump strings.Builder
	tcpdump.Stdout, tcpdump.Stderr = &dump, &dump
	if err := tcpdump.Start(); err != nil {
		t.Fatal(err)
	}
	if err := capture.Run(); err != nil {
		t.Fatalf("vswitch capture: %v", err)
	}
	tcpdump.Wait()
	if got := strings.Count(dump.String(), "ICMP echo"); got < 10 {
		t.Fatalf("tcpdump read %d ICMP echoes from the capture:\n%s", got, dump.String())
	}
	if !strings.Contains(dump.String(), "20 packets") && strings.Count(dump.String(), "\n") < 20 {
		t.Logf("tcpdump output:\n%s", dump.String())
	}

	// -w FILE: readable by tshark.
	file := filepath.Join(t.TempDir(), "c.pcap")
	vs.mustCLI("capture", p1, "-w", file, "--count", "10")
	out, err := exec.Command("tshark", "-r", file).CombinedOutput()
	if err != nil || strings.Count(string(out), "ICMP") < 5 {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	if st, _ := os.Stat(file); st.Size() < 24+10*16 {
		t.Fatalf("pcap file only %d bytes", st.Size())
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
