package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// udpEchoFrom answers each datagram with "ADDR:PORT|" (who it came
// from) and the datagram.
const udpEchoFrom = udpServer + `while True:
    d,a=s.recvfrom(65535); s.sendto(("%s:%d|" % a).encode()+d, a)`

// udpAskBig sends TEXT repeated N times from local port SPORT to ADDR
// PORT and prints the answer.
const udpAskBig = udpClient + `s.sendto((sys.argv[4]*int(sys.argv[5])).encode(), (sys.argv[1], int(sys.argv[2]))); print(s.recv(65535).decode())`

// TestUserUplinkHostLoopback: with host_loopback, a guest reaches the
// host's 127.0.0.1 through 10.0.2.2 (a download checks out; a DNS server
// there answers through a UDP flow), DNS through the network's forwarder
// works, and a UDP port forward passes datagrams exactly both ways from
// the client's own address (a loopback client appears from 10.0.2.2).
// vswitch runs in a namespace of the test: that namespace is the host.
func TestUserUplinkHostLoopback(t *testing.T) {
	requireE2E(t, "python3", "udhcpc", "curl", "dig", "dnsmasq")
	hostNS, guest := newHost(t, "lh"), newHost(t, "lg")
	dir := t.TempDir()
	sum := randomBlob(t, filepath.Join(dir, "blob"), 4)
	serveHTTP(hostNS, "127.0.0.1", dir) // the host's loopback only
	hostNS.Start("dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--address=/fwd.example/198.51.100.7")
	vs, addr := startUserLab(t, hostNS, "192.168.246", `    dns: {forwarders: [127.0.0.1]}
    forwards: [{proto: udp, port: 5353, to: "192.168.246.10:5300"}]
`, ", host_loopback: 10.0.2.2", guest)
	downloadChecked(t, guest, "http://10.0.2.2:8000/blob", filepath.Join(t.TempDir(), "got"), sum, 20*time.Second, "10", "the download from the host's loopback")
	// DNS: straight to the host's loopback server (a UDP flow of the
	// uplink), and through the gateway's forwarder (its own socket).
	for _, server := range []string{"10.0.2.2", "192.168.246.1"} {
		if st, ans := dig(t, guest, server, "fwd.example"); st != "NOERROR" || fmt.Sprint(ans) != "[A 198.51.100.7]" {
			t.Fatalf("dig @%s: %s %v", server, st, ans)
		}
	}

	// The UDP forward: a client in a third namespace reaches the host
	// namespace over a veth; the guest's server sees its own address and
	// port, and each answer comes back whole.
	guest.Start("python3", "-c", udpEchoFrom, "192.168.246.10", "5300")
	client := newHost(t, "lc")
	ha, ca := testnet.Veth(t, "lc", client.Netns)
	testnet.Run(t, "ip", "link", "set", ha, "netns", hostNS.Name)
	hostNS.addr(ha, "10.246.0.1/24")
	client.addr(ca, "10.246.0.2/24")
	askFwd := func(h *host, dst string, sport int, text string, n int) (string, error) {
		o, err := h.Output("python3", "-c", udpAskBig, dst, "5353", fmt.Sprint(sport), text, fmt.Sprint(n))
		return strings.TrimSuffix(o, "\n"), err
	}
	testnet.WaitFor(t, 15*time.Second, "the guest's UDP server through the forward", func() bool {
		_, err := askFwd(client, "10.246.0.1", 40000, "up", 1)
		return err == nil
	})
	for i, c := range []struct {
		h     *host
		dst   string
		sport int
		text  string
		n     int
		seen  string
	}{
		{client, "10.246.0.1", 40001, "a", 1, "10.246.0.2"},
		{client, "10.246.0.1", 40001, "b", 1400, "10.246.0.2"}, // the same flow, near the MTU
		{client, "10.246.0.1", 40002, "c", 4000, "10.246.0.2"}, // a new flow, fragmented both ways
		{hostNS, "10.246.0.1", 40003, "d", 1, "10.246.0.1"},    // the host from its own address
		{hostNS, "127.0.0.1", 40004, "e", 1, "10.0.2.2"},       // the host through its loopback
	} {
		want := fmt.Sprintf("%s:%d|%s", c.seen, c.sport, strings.Repeat(c.text, c.n))
		if got, err := askFwd(c.h, c.dst, c.sport, c.text, c.n); err != nil || got != want {
			t.Fatalf("datagram %d: %v, got %d bytes %.60q, want %d bytes %.60q", i, err, len(got), got, len(want), want)
		}
	}
	m := hostNS.Run("curl", "-sf", "http://"+addr+"/metrics")
	for _, r := range []string{"user_forward_source", "user_forbidden_dst", "user_datagram_too_big"} {
		if v := metric(t, m, "vswitch_uplink_drops_total", fmt.Sprintf(`reason=%q,uplink="host"`, r)); v != 0 {
			t.Fatalf("%s %v, want 0", r, v)
		}
	}
	if err := vs.stop(); err != nil {
		t.Fatalf("vswitch exit: %v\n%s", err, vs.log)
	}
}
