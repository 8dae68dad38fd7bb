package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// leaseScript records what udhcpc was given: address, lease time, DNS.
const leaseScript = `#!/bin/sh
case "$1" in
bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; echo "$ip $lease $dns" > "$0.out" ;;
esac
exit 0
`

// udhcpcAsk runs udhcpc once on dev, asking for reqIP if set (option 50
// of its DISCOVER), and returns "ip lease dns".
func udhcpcAsk(t *testing.T, h *host, dev, reqIP string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "lease.sh")
	if err := os.WriteFile(script, []byte(leaseScript), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-i", dev, "-n", "-q", "-t", "10", "-T", "1", "-s", script}
	if reqIP != "" {
		args = append(args, "-r", reqIP)
	}
	h.Run("udhcpc", args...)
	b, err := os.ReadFile(script + ".out")
	if err != nil {
		t.Fatalf("udhcpc on %s: no lease: %v", dev, err)
	}
	return strings.TrimSpace(string(b))
}

// TestReloadNetworks: a reload changes a network's DHCP range, lease time
// and DNS option and its port forwards while the switch runs. A client
// whose lease is inside the new range is given its address again, with
// the new options; one whose lease left the range asks for it and is
// given an address of the new range (a RENEW of it is refused: the dhcp
// package's TestReconfigure);
// a removed forward forwards no new connection and an added one does. A
// reload that changes dhcp.domain (also the DNS server's domain) is
// refused with its line and changes nothing.
func TestReloadNetworks(t *testing.T) {
	requireE2E(t, "udhcpc", "python3")
	out, upDev, _ := outsideHost(t, "rn", "10.235.9.1/24")
	h1, h2 := newHost(t, "rn1"), newHost(t, "rn2")
	p1, p2 := testnet.Name("rn"), testnet.Name("rn")
	cfg := func(dhcp, forwards string) string {
		return fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.235.0.1/24
    mode: nat
    uplink: wan
    dhcp: {%s}
    forwards: [%s]
uplinks:
  - {name: wan, device: %s, address: 10.235.9.5/24, gateway: 10.235.9.1}
`, p1, h1.Name, p2, h2.Name, dhcp, forwards, upDev)
	}
	vs := startVswitch(t, cfg("range: 10.235.0.100-10.235.0.110, lease: 1h", `{proto: tcp, port: 9090, to: "10.235.0.101:9000"}`))
	if got := udhcpcAsk(t, h1, p1, ""); got != "10.235.0.100 3600 10.235.0.1" {
		t.Fatalf("h1's first lease: %q", got)
	}
	if got := udhcpcAsk(t, h2, p2, ""); got != "10.235.0.101 3600 10.235.0.1" {
		t.Fatalf("h2's first lease: %q", got)
	}
	h2.Run("ip", "route", "add", "default", "via", "10.235.0.1")
	if seen := peerExchange(t, h2, out, "10.235.0.101", "9000", "10.235.9.5", "9090", "the forward before the reload"); seen != "10.235.9.1" {
		t.Fatalf("h2 saw %q", seen)
	}

	path := filepath.Join(vs.dir, "vswitch.yaml")
	head := fmt.Sprintf("control: %s\nstate_dir: %s\nmetrics: \"\"\n", vs.sock, filepath.Join(vs.dir, "state"))
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(head+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Refused: dhcp.domain; nothing changes (the old forward still works).
	write(cfg("range: 10.235.0.101-10.235.0.120, lease: 10m, domain: other", ""))
	o, err := vs.cli("reload")
	if err == nil || !strings.Contains(o, "vswitch.yaml:8: networks[0].dhcp.domain: cannot change while running") {
		t.Fatalf("reload changing the domain: %v\n%s", err, o)
	}
	if seen := peerExchange(t, h2, out, "10.235.0.101", "9000", "10.235.9.5", "9090", "the forward after a refused reload"); seen != "10.235.9.1" {
		t.Fatalf("h2 saw %q", seen)
	}

	write(cfg("range: 10.235.0.101-10.235.0.120, lease: 10m, dns: [10.235.0.53]", `{proto: tcp, port: 8080, to: "10.235.0.101:8000"}`))
	if o := vs.mustCLI("reload"); strings.TrimSpace(o) != "networks: lab" {
		t.Fatalf("reload printed %q, want networks: lab", o)
	}
	// Inside the new range: the same address, the new lease time and DNS.
	if got := udhcpcAsk(t, h2, p2, "10.235.0.101"); got != "10.235.0.101 600 10.235.0.53" {
		t.Fatalf("h2 after the reload: %q, want its address with the new options", got)
	}
	h2.Run("ip", "route", "replace", "default", "via", "10.235.0.1") // the script's flush took it
	// Outside it: an address of the new range instead.
	if got := udhcpcAsk(t, h1, p1, "10.235.0.100"); got != "10.235.0.102 600 10.235.0.53" {
		t.Fatalf("h1 after the reload: %q, want 10.235.0.102 (its .100 left the range)", got)
	}
	// The removed forward forwards nothing new; the added one does.
	if o, err := out.Output("python3", "-c", `import socket,sys
try:
    socket.create_connection(("10.235.9.5", 9090), timeout=2); print("connected")
except OSError as e:
    print("refused", e)`); err != nil || !strings.HasPrefix(o, "refused") {
		t.Fatalf("a connection to the removed forward: %v %s", err, o)
	}
	if seen := peerExchange(t, h2, out, "10.235.0.101", "8000", "10.235.9.5", "8080", "the added forward"); seen != "10.235.9.1" {
		t.Fatalf("h2 saw %q through the added forward", seen)
	}
}
