package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// Client scripts that only set the address: the stock scripts rewrite
// /etc/resolv.conf, which a network namespace shares with the host.
const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
esac
exit 0
`

const dhclientScript = `#!/bin/sh
case "$reason" in
BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
exit 0
`

func writeScript(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// dhcpClient runs one real client in h on dev until it has a lease, and
// returns the IPv4 address the interface got.
func dhcpClient(t *testing.T, client string, h *host, dev string) string {
	t.Helper()
	h.Run("ip", "link", "set", dev, "up")
	dir := t.TempDir()
	switch client {
	case "udhcpc":
		h.Run("udhcpc", "-i", dev, "-n", "-q", "-t", "10", "-T", "1", "-s", writeScript(t, "udhcpc.sh", udhcpcScript))
	case "dhclient":
		pid := filepath.Join(dir, "dhclient.pid")
		h.Run("dhclient", "-1", "-4", "-lf", filepath.Join(dir, "leases"), "-pf", pid, "-sf", writeScript(t, "dhclient.sh", dhclientScript), dev)
		t.Cleanup(func() { killPidfile(pid) })
	case "dhcpcd":
		// -B: stay in the foreground, -1: exit once bound, -p: keep the
		// address on exit, -c /bin/true: no hooks (no resolv.conf).
		h.Run("dhcpcd", "-B", "-1", "-4", "-p", "-t", "20", "-c", "/bin/true", "-f", "/dev/null", dev)
	}
	out := h.Run("ip", "-4", "-o", "addr", "show", "dev", dev)
	m := regexp.MustCompile(`inet (\S+)/`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no address on %s after the lease:\n%s", client, dev, out)
	}
	return m[1]
}

// killPidfile ends a daemon we started, by the PID it wrote.
func killPidfile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
}

// TestDHCPClients: busybox udhcpc, ISC dhclient and dhcpcd each lease an
// address from the gateway, a static host gets its reservation, all ping
// the gateway and resolve its MAC by ARP; a second network on another
// VLAN is served independently; after kill -9 and a restart every lease
// is still listed and every client gets its address back.
func TestDHCPClients(t *testing.T) {
	requireE2E(t, "ping", "udhcpc", "dhclient", "dhcpcd")
	clients := []string{"udhcpc", "dhclient", "dhcpcd", "udhcpc"}
	var hosts []*host
	var ports []string
	cfg := "ports:\n"
	for i := range clients {
		h := newHost(t, fmt.Sprintf("d%d", i))
		p := testnet.Name("d")
		hosts, ports = append(hosts, h), append(ports, p)
		cfg += fmt.Sprintf("  - {name: %s, type: tap, netns: %s, vlan: 10, mac: \"52:54:00:d0:00:%02x\"}\n", p, h.Name, i+1)
	}
	// A client that first asks after the restart.
	hNew, pNew := newHost(t, "dn"), testnet.Name("d")
	cfg += fmt.Sprintf("  - {name: %s, type: tap, netns: %s, vlan: 10, mac: \"52:54:00:d0:00:05\"}\n", pNew, hNew.Name)
	// A host on VLAN 20's network.
	h20, p20 := newHost(t, "d20"), testnet.Name("d")
	cfg += fmt.Sprintf("  - {name: %s, type: tap, netns: %s, vlan: 20, mac: \"52:54:00:d0:00:20\"}\n", p20, h20.Name)
	cfg += `networks:
  - name: lab
    vlan: 10
    address: 10.220.0.1/24
    dhcp:
      range: 10.220.0.100-10.220.0.150
      lease: 1h
      dns: [10.220.0.1]
      domain: lab
      hosts: [{mac: "52:54:00:d0:00:04", ip: 10.220.0.7, name: web}]
  - name: other
    vlan: 20
    address: 10.221.0.1/24
    dhcp: {range: 10.221.0.50-10.221.0.60}
`
	vs := startVswitch(t, cfg)
	got := map[string]string{}
	for i, c := range clients {
		ip := dhcpClient(t, c, hosts[i], ports[i])
		if !strings.HasPrefix(ip, "10.220.0.") {
			t.Fatalf("%s got %s", c, ip)
		}
		got[ports[i]] = ip
		if !hosts[i].ping("10.220.0.1", 2) {
			t.Fatalf("%s host (%s) cannot ping the gateway", c, ip)
		}
		neigh := hosts[i].Run("ip", "neigh", "show", "10.220.0.1")
		if !strings.Contains(neigh, "lladdr 02:") {
			t.Fatalf("gateway MAC not resolved by ARP: %q", neigh)
		}
	}
	t.Logf("leases: udhcpc %s, dhclient %s, dhcpcd %s, static host %s", got[ports[0]], got[ports[1]], got[ports[2]], got[ports[3]])
	if got[ports[3]] != "10.220.0.7" {
		t.Fatalf("static host got %s, want 10.220.0.7", got[ports[3]])
	}
	seen := map[string]bool{}
	for _, ip := range got {
		if seen[ip] {
			t.Fatalf("address %s handed out twice: %v", ip, got)
		}
		seen[ip] = true
	}
	ip20 := dhcpClient(t, "udhcpc", h20, p20)
	if !strings.HasPrefix(ip20, "10.221.0.") || !h20.ping("10.221.0.1", 1) {
		t.Fatalf("VLAN 20 network: got %s", ip20)
	}
	// VLAN 10's host, told that VLAN 20's subnet is on its link, asks
	// for 10.221.0.1 there: neither the ARP requests nor anything else
	// reaches VLAN 20's gateway, so nothing answers.
	hosts[0].Run("ip", "route", "add", "10.221.0.0/24", "dev", ports[0])
	w := hosts[0].watch(ports[0], "host 10.221.0.1 and not ether src "+hosts[0].mac(ports[0]))
	if n := hosts[0].pingCount("10.221.0.1", 2); n != 0 {
		t.Fatalf("VLAN 10 host reached VLAN 20's gateway: %d replies", n)
	}
	w.none(hosts[1], ports[1], "VLAN 20's gateway answered on VLAN 10")

	before := vs.leases()
	if len(before) != 5 {
		t.Fatalf("show leases: %d leases, want 5: %v", len(before), before)
	}

	// kill -9, restart on the same state directory: the same leases,
	// read back from the store.
	vs2 := killRestart(t, vs)
	if after := vs2.leases(); !maps.Equal(after, before) {
		t.Fatalf("after kill -9 the leases are\n%v\nwant\n%v", after, before)
	}
	// A new client asks first: the server must know what is taken, so it
	// gets the lowest address of the range that nobody held (udhcpc asks
	// for nothing in particular; without the stored leases it would get
	// 10.220.0.100, the first client's).
	var held []string
	for k := range before {
		held = append(held, k.ip)
	}
	wantNew := ""
	for i := 100; i <= 150; i++ {
		if a := fmt.Sprintf("10.220.0.%d", i); !slices.Contains(held, a) {
			wantNew = a
			break
		}
	}
	if ip := dhcpClient(t, "udhcpc", hNew, pNew); ip != wantNew {
		t.Fatalf("new client after the restart got %s, want %s (held: %v)", ip, wantNew, held)
	}
	// The TAPs died with the process; the old clients come back in reverse
	// order on the new devices (same MACs) and each gets its own address.
	for i := len(clients) - 1; i >= 0; i-- {
		hosts[i].Run("ip", "addr", "flush", "dev", ports[i])
		if ip := dhcpClient(t, clients[i], hosts[i], ports[i]); ip != got[ports[i]] {
			t.Errorf("%s: %s after restart, had %s", clients[i], ip, got[ports[i]])
		}
	}
	h20.Run("ip", "addr", "flush", "dev", p20)
	if ip := dhcpClient(t, "udhcpc", h20, p20); ip != ip20 {
		t.Errorf("VLAN 20 client: %s after restart, had %s", ip, ip20)
	}
	final := vs2.leases()
	before[leaseKey{"lab", "52:54:00:d0:00:05", wantNew}] = "bound"
	if !maps.Equal(final, before) {
		t.Fatalf("leases at the end:\n%v\nwant\n%v", final, before)
	}
}

// leaseKey is what must survive a restart: which MAC holds which address.
type leaseKey struct{ network, mac, ip string }

// leases reads `show leases --json` as a set, with each lease's state.
func (in *instance) leases() map[leaseKey]string {
	in.t.Helper()
	m := map[leaseKey]string{}
	for _, l := range in.leaseList() {
		k := leaseKey{l.Network, l.MAC, l.IP}
		if _, dup := m[k]; dup {
			in.t.Fatalf("lease listed twice: %+v", l)
		}
		m[k] = l.State
	}
	return m
}

// TestDHCPReadOnlyStore: a lease is acknowledged only once it is on disk.
// vswitch runs in a mount namespace of its own in which its state
// directory is read-only: DISCOVERs get OFFERs, but no REQUEST can be
// stored, so none gets an ACK (each counted as store_failed), the client
// gets no address, and no lease is listed.
func TestDHCPReadOnlyStore(t *testing.T) {
	requireE2E(t, "udhcpc", "unshare", "mount", "promtool")
	h, p := newHost(t, "ro"), testnet.Name("r")
	addr := freeAddr(t)
	vs := startVswitchWrapped(t, tapPorts([]string{p}, h)+fmt.Sprintf(`metrics: %q
networks:
  - name: lab
    address: 10.223.0.1/24
    dhcp: {range: 10.223.0.10-10.223.0.20}
`, addr), func(dir string) []string {
		state := filepath.Join(dir, "state")
		if err := os.MkdirAll(state, 0o755); err != nil {
			t.Fatal(err)
		}
		return []string{"unshare", "--mount", "sh", "-c",
			`mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"`, "sh", state}
	})
	h.Run("ip", "link", "set", p, "up")
	out, err := h.Output("udhcpc", "-i", p, "-n", "-q", "-t", "3", "-T", "1", "-s", writeScript(t, "udhcpc.sh", udhcpcScript))
	if err == nil {
		t.Fatalf("udhcpc got a lease from a server that cannot store it:\n%s", out)
	}
	text := scrape(t, addr)
	offers := metric(t, text, "vswitch_dhcp_messages_total", `type="offer"`)
	requests := metric(t, text, "vswitch_dhcp_messages_total", `type="request"`)
	acks := metric(t, text, "vswitch_dhcp_messages_total", `type="ack"`)
	failed := metric(t, text, "vswitch_dhcp_drops_total", `reason="store_failed"`)
	t.Logf("offers %v, requests %v, acks %v, store_failed %v", offers, requests, acks, failed)
	if offers < 1 || requests < 1 || acks != 0 || failed != requests {
		t.Errorf("offers %v, requests %v, acks %v, store_failed %v: want every REQUEST refused for want of a durable write, none acknowledged",
			offers, requests, acks, failed)
	}
	if l := vs.leases(); len(l) != 0 {
		t.Errorf("leases listed: %v", l)
	}
	if got := h.Run("ip", "-4", "-o", "addr", "show", "dev", p); strings.Contains(got, "inet ") {
		t.Errorf("the client configured an address:\n%s", got)
	}
}
