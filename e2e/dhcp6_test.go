package e2e

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	"github.com/vswitch/vswitch/tap"
)

// dhclient6Script puts the leased address on the interface (as a /64:
// the RA's prefix has no A flag, so this is the guest's only global
// address and its on-link route) and writes the variables of each call
// to DIR/REASON, so the test reads what the client was told.
const dhclient6Script = `#!/bin/sh
env > "$(dirname "$0")/$reason"
case "$reason" in
BOUND6|RENEW6|REBIND6|REBOOT6) ip -6 addr replace "$new_ip6_address/64" dev "$interface" ;;
esac
exit 0
`

// waitLinkLocal waits until dev's link-local address passed DAD: a
// DHCPv6 client sends from it.
func waitLinkLocal(t *testing.T, h *host, dev string) {
	t.Helper()
	testnet.WaitFor(t, 20*time.Second, h.Name+" link-local address", func() bool {
		out := h.Run("ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link")
		return strings.Contains(out, "inet6 fe80::") && !strings.Contains(out, "tentative")
	})
}

// upLinkLocal sets each host's dev up, then waits until every one's
// link-local address passed DAD (DAD runs on all of them at once).
func upLinkLocal(t *testing.T, hs ...*host) {
	t.Helper()
	for _, h := range hs {
		h.Run("ip", "link", "set", h.dev, "up")
	}
	for _, h := range hs {
		waitLinkLocal(t, h, h.dev)
	}
}

// dhclient6 runs ISC dhclient -6 once (-1) in h on dev with DUID-LL (so
// the DUID is the interface's, whatever lease file it starts with); info
// asks for configuration only (-S). It returns the script's directory.
func dhclient6(t *testing.T, h *host, dev string, info bool) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte(dhclient6Script), 0o755); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(dir, "pid")
	args := []string{"-6", "-1", "-D", "LL", "-lf", filepath.Join(dir, "leases"), "-pf", pid, "-sf", script}
	if info {
		args = append(args, "-S")
	}
	h.Run("dhclient", append(args, dev)...)
	t.Cleanup(func() { killPidfile(pid) })
	return dir
}

// scriptVar reads a variable the dhclient script saw for reason.
func scriptVar(t *testing.T, dir, reason, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, reason))
	if err != nil {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("dhclient never ran its script with %s (it did with %v): %v", reason, names, err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `=(.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no %s in\n%s", reason, name, b)
	}
	return strings.TrimSpace(string(m[1]))
}

// addr6 waits for the global address the client put on dev.
func addr6(t *testing.T, h *host, dev string) string {
	t.Helper()
	var got string
	testnet.WaitFor(t, 20*time.Second, h.Name+" global IPv6 address", func() bool {
		out := h.Run("ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "global")
		m := regexp.MustCompile(`inet6 (\S+)/\d+ .*`).FindStringSubmatch(out)
		if m == nil || strings.Contains(out, "tentative") {
			return false
		}
		got = m[1]
		return true
	})
	return got
}

// leases6 is vs's DHCPv6 leases by address.
func leases6(t *testing.T, vs *instance) map[string]control.Lease {
	t.Helper()
	m := map[string]control.Lease{}
	for _, l := range vs.leaseList() {
		if l.Family == "ipv6" {
			m[l.IP] = l
		}
	}
	return m
}

// TestDHCPv6Stateful: ISC dhclient -6 on two namespace hosts gets the
// first two addresses of the range, dhcpcd -6 on a third its reservation
// by MAC; each pings the gateway from its leased address; `show leases`
// lists exactly those leases. vswitch is then killed with SIGKILL and
// started again: host 0's RENEW (as dhclient sends it at T1) is answered
// with its address and a full lifetime, then the dhclient hosts start
// over (no client state, same DUID-LL) in the other order, and each gets its own address back, which
// it could only if the leases survived (without them, the first to ask
// would get the first address).
func TestDHCPv6Stateful(t *testing.T) {
	requireE2E(t, "ping", "dhclient", "dhcpcd")
	hs := []*host{newHost6(t, "d6a"), newHost6(t, "d6b"), newHost6(t, "d6c")}
	devs := []string{testnet.Name("d6"), testnet.Name("d6"), testnet.Name("d6")}
	const reserved = "fd00:124::50"
	vs := startVswitch(t, tapPorts(devs, hs...)+fmt.Sprintf(`networks:
  - name: v6
    address: 10.231.0.1/24
    address6: "fd00:124::1/64"
    dhcp6:
      range: fd00:124::100-fd00:124::1ff
      lease: 1h
      hosts:
        - {mac: "%s", ip: "%s", name: resv}
`, tap.StableMAC(devs[2]), reserved))
	for i, h := range hs {
		h.dev = devs[i]
	}
	upLinkLocal(t, hs...)
	want := []string{"fd00:124::100", "fd00:124::101", reserved}
	dirs := make([]string, 2)
	for i := range 2 {
		dirs[i] = dhclient6(t, hs[i], devs[i], false)
		if got := addr6(t, hs[i], devs[i]); got != want[i] || scriptVar(t, dirs[i], "BOUND6", "new_ip6_address") != want[i] {
			t.Fatalf("dhclient -6 on host %d got %s, want %s", i, got, want[i])
		}
	}
	// dhcpcd: -B foreground, -1 exit once configured, -p keep the address,
	// no hooks and no config file (defaults: IA_NA when the RA says M).
	hs[2].Run("dhcpcd", "-6", "-B", "-1", "-p", "-t", "30", "-c", "/bin/true", "-f", "/dev/null", devs[2])
	if got := addr6(t, hs[2], devs[2]); got != reserved {
		t.Fatalf("dhcpcd -6 on the reserved host got %s, want %s", got, reserved)
	}
	for i, src := range want {
		out, err := hs[i].Output("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", src, "fd00:124::1")
		if err != nil || !strings.Contains(out, "3 received") {
			t.Fatalf("ping -6 the gateway from %s: %v\n%s", src, err, out)
		}
	}
	checkLeases6 := func(vs *instance) {
		t.Helper()
		ls := leases6(t, vs)
		if len(ls) != 3 {
			t.Fatalf("show leases: %+v, want %v", ls, want)
		}
		for i, ip := range want {
			l := ls[ip]
			if l.MAC != hs[i].mac(devs[i]) || l.State != "bound" || l.Network != "v6" || !strings.Contains(l.ClientID, "/") || l.Static != (ip == reserved) {
				t.Fatalf("lease of %s: %+v, want MAC %s", ip, l, hs[i].mac(devs[i]))
			}
		}
	}
	checkLeases6(vs)
	if table := vs.mustCLI("show", "leases"); !strings.Contains(table, "DUID/IAID") || !strings.Contains(table, "fd00:124::101") {
		t.Fatalf("show leases:\n%s", table)
	}

	clientID := leases6(t, vs)[want[0]].ClientID
	gwMAC := vs.gatewayMAC("v6")
	vs2 := killRestart(t, vs)
	checkLeases6(vs2)
	// dhclient's RENEW comes at T1 (30 min): the test sends the one it
	// would, from host 0 with its DUID and IAID, to the restarted server
	// (same DUID-LL: same gateway MAC). The lease is renewed as it was.
	killPidfile(filepath.Join(dirs[0], "pid"))
	duidHex, iaidText, _ := strings.Cut(clientID, "/")
	duid, err := hex.DecodeString(duidHex)
	var iaid uint32
	if _, err2 := fmt.Sscan(iaidText, &iaid); err != nil || err2 != nil {
		t.Fatalf("client id %q", clientID)
	}
	msg := testnet.DHCPv6Client(pkt.DHCPv6Renew, 0x7e7e7e, duid, append([]byte{0, 3, 0, 1}, gwMAC[:]...), false, iaid, netip.MustParseAddr(want[0]))
	raw := testnet.OpenRaw(t, hs[0].Netns, devs[0])
	// Sent once a second, as a client retransmits (RFC 8415 18.2.4): the
	// restarted gateway answers once its link-local address passed DAD.
	renew := dhcp6Raw(mustMAC(t, hs[0].mac(devs[0])), msg)
	for tries := 0; ; {
		f, ok := raw.Recv(time.Second)
		if !ok {
			if tries++; tries > 10 {
				t.Fatal("no REPLY to the RENEW after the restart")
			}
			raw.Send(renew)
			continue
		}
		if m, ok := dhcp6Of(f.Data); ok && m.TransactionID() == 0x7e7e7e {
			ia := m.ParseOptions().IANA
			if m.Type() != pkt.DHCPv6Reply || ia == nil || len(ia.Options()) < 4+pkt.DHCPv6IAAddrFixedLen ||
				pkt.DHCPv6IAAddr(ia.Options()[4:]).Addr().String() != want[0] || pkt.DHCPv6IAAddr(ia.Options()[4:]).ValidLifetime() != 3600 {
				t.Fatalf("RENEW after the restart: %x", []byte(m))
			}
			break
		}
	}
	for _, i := range []int{1, 0} {
		killPidfile(filepath.Join(dirs[i], "pid"))
		hs[i].Run("ip", "-6", "addr", "flush", "dev", devs[i], "scope", "global")
		dir := dhclient6(t, hs[i], devs[i], false)
		if got := addr6(t, hs[i], devs[i]); got != want[i] || scriptVar(t, dir, "BOUND6", "new_ip6_address") != want[i] {
			t.Fatalf("after kill -9 and restart, host %d got %s, want its %s", i, got, want[i])
		}
	}
	checkLeases6(vs2)
}

// TestDHCPv6Stateless: on a network with address6 and dhcp6 but no range,
// the RA has the O flag and keeps SLAAC; dhclient -6 -S (information only)
// gets the gateway as its DNS server and the domain search list.
func TestDHCPv6Stateless(t *testing.T) {
	requireE2E(t, "dhclient")
	h := newHost6(t, "d6s")
	dev := testnet.Name("d6s")
	vs := startVswitch(t, tapPorts([]string{dev}, h)+`networks:
  - name: sl
    address: 10.232.0.1/24
    address6: "fd00:125::1/64"
    dhcp: {domain: lab.example}
    dhcp6: {}
`)
	h.dev = dev
	upLinkLocal(t, h)
	dir := dhclient6(t, h, dev, true) // its script runs with RENEW6 for the information-only reply
	if got := scriptVar(t, dir, "RENEW6", "new_dhcp6_name_servers"); got != "fd00:125::1" {
		t.Fatalf("DNS servers %q, want fd00:125::1", got)
	}
	if got := scriptVar(t, dir, "RENEW6", "new_dhcp6_domain_search"); got != "lab.example." {
		t.Fatalf("domain search %q, want lab.example.", got)
	}
	if got := addr6(t, h, dev); got != slaac("fd00:125::/64", mustMAC(t, h.mac(dev))).String() {
		t.Fatalf("SLAAC address %s", got)
	}
	if ls := leases6(t, vs); len(ls) != 0 {
		t.Fatalf("a stateless server holds leases: %+v", ls)
	}
}

// dhcp6Raw frames a DHCPv6 message from src (its EUI-64 link-local
// address) to ff02::1:2, port 546 to 547, checksum set.
func dhcp6Raw(src pkt.MAC, msg []byte) []byte {
	u := make([]byte, pkt.UDPLen+len(msg))
	binary.BigEndian.PutUint16(u[0:], pkt.DHCPv6ClientPort)
	binary.BigEndian.PutUint16(u[2:], pkt.DHCPv6ServerPort)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[pkt.UDPLen:], msg)
	return frame6(pkt.MulticastMAC6(pkt.IPv6AllDHCP), src, pkt.LinkLocalFromMAC(src), pkt.IPv6AllDHCP, 1, pkt.ProtoUDP, u)
}

// dhcp6Msg is a client message with a DUID, an optional server id, Rapid
// Commit, and an empty IA_NA (IAID 1) unless typ is INFORMATION-REQUEST.
func dhcp6Msg(typ uint8, xid uint32, duid, serverID []byte, rapid bool) []byte {
	return testnet.DHCPv6Client(typ, xid, duid, serverID, rapid, 1, netip.Addr{})
}

// TestDHCPv6Abuse: one guest, from its own (learned) MAC, asks for leases
// under seven invented DUIDs with Rapid Commit, then sends garbage; it
// gets exactly four leases (the first four addresses), the other three
// are mac_lease_limit, and each kind of garbage is dropped with its exact
// reason (a final INFORMATION-REQUEST, answered, is the sentinel that the
// server read everything before it; the lease gauge and the
// mac_lease_limit count say no fifth lease comes later). An honest dhclient -6 on another
// port then gets the next address.
func TestDHCPv6Abuse(t *testing.T) {
	requireE2E(t, "dhclient")
	bad, good := newHost6(t, "d6x"), newHost6(t, "d6y")
	pb, pg := testnet.Name("d6x"), testnet.Name("d6y")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", addr)+tapPorts([]string{pb, pg}, bad, good)+`networks:
  - name: ab6
    address: 10.233.0.1/24
    address6: "fd00:126::1/64"
    dhcp6: {range: "fd00:126::100-fd00:126::1ff"}
`)
	bad.dev, good.dev = pb, pg
	upLinkLocal(t, bad, good)
	mac := mustMAC(t, bad.mac(pb))
	raw := testnet.OpenRaw(t, bad.Netns, pb)
	for i := range 7 {
		raw.Send(dhcp6Raw(mac, dhcp6Msg(pkt.DHCPv6Solicit, uint32(0x100+i), []byte{0, 4, 0xee, byte(i)}, nil, true)))
	}
	duid := []byte{0, 4, 0xee, 0xff}
	garbage := [][]byte{
		{1, 2}, // malformed: no header
		append(dhcp6Msg(pkt.DHCPv6Solicit, 1, duid, nil, false), 0, 1, 0, 9),              // malformed: an option past the end
		dhcp6Msg(pkt.DHCPv6Advertise, 2, duid, nil, false),                                // not_for_us: a server's message
		append([]byte{pkt.DHCPv6RelayForw, 0}, make([]byte, 32)...),                       // not_for_us: relayed
		dhcp6Msg(pkt.DHCPv6Request, 3, duid, []byte{0, 3, 0, 1, 2, 2, 2, 2, 2, 2}, false), // not_for_us: another server's id
	}
	for _, g := range garbage {
		raw.Send(dhcp6Raw(mac, g))
	}
	raw.Send(dhcp6Raw(mac, dhcp6Msg(pkt.DHCPv6InfoRequest, 0x5e5e, duid, nil, false)))
	// The sentinel's reply leaves at once; the rapid-commit REPLYs only
	// after their leases are on disk, so they may come after it.
	replies, sentinel := map[uint32]string{}, false
	for !sentinel || len(replies) < 4 {
		f, ok := raw.Recv(10 * time.Second)
		if !ok {
			t.Fatalf("no answer to the sentinel; replies %v", replies)
		}
		m, ok := dhcp6Of(f.Data)
		if !ok {
			continue
		}
		if m.TransactionID() == 0x5e5e {
			sentinel = true
			continue
		}
		o := m.ParseOptions()
		if m.Type() != pkt.DHCPv6Reply || o.IANA == nil || len(o.IANA.Options()) < 4+pkt.DHCPv6IAAddrFixedLen {
			t.Fatalf("reply %x", []byte(m))
		}
		replies[m.TransactionID()] = pkt.DHCPv6IAAddr(o.IANA.Options()[4:]).Addr().String()
	}
	want := map[uint32]string{0x100: "fd00:126::100", 0x101: "fd00:126::101", 0x102: "fd00:126::102", 0x103: "fd00:126::103"}
	if !maps.Equal(replies, want) {
		t.Fatalf("rapid-commit replies %v, want %v", replies, want)
	}
	text := scrape(t, addr)
	for reason, n := range map[string]float64{"mac_lease_limit": 3, "malformed": 2, "not_for_us": 3, "rate_limited": 0, "pool_exhausted": 0} {
		if got := metric(t, text, "vswitch_dhcp6_drops_total", `network="ab6",reason="`+reason+`"`); got != n {
			t.Fatalf("vswitch_dhcp6_drops_total{reason=%q} %v, want %v", reason, got, n)
		}
	}
	if got := metric(t, text, "vswitch_dhcp6_leases", `network="ab6"`); got != 4 {
		t.Fatalf("vswitch_dhcp6_leases %v, want 4", got)
	}
	// Positive control: an honest client on the other port.
	dhclient6(t, good, pg, false)
	if got := addr6(t, good, pg); got != "fd00:126::104" {
		t.Fatalf("honest dhclient -6 got %s, want fd00:126::104", got)
	}
	if ls := leases6(t, vs); len(ls) != 5 || ls["fd00:126::104"].MAC != good.mac(pg) || ls["fd00:126::103"].MAC != bad.mac(pb) {
		t.Fatalf("leases %+v", ls)
	}
}

// dhcp6Of is the DHCPv6 message a frame carries to the client port.
func dhcp6Of(b []byte) (pkt.DHCPv6, bool) {
	eth := pkt.Ethernet(b)
	if !eth.Valid() || eth.Type() != pkt.TypeIPv6 {
		return nil, false
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() || ip.NextHeader() != pkt.ProtoUDP {
		return nil, false
	}
	u := pkt.UDP(ip[pkt.IPv6Len:ip.Len()])
	if !u.Valid() || u.DstPort() != pkt.DHCPv6ClientPort || !pkt.DHCPv6(u.Payload()).Valid() {
		return nil, false
	}
	return pkt.DHCPv6(u.Payload()), true
}
