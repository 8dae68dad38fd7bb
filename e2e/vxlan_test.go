package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestVXLANWithLinux joins vswitch to a Linux VTEP (`ip link add type
// vxlan`) over an underlay of two namespaces. VLAN 10 is VNI 1010 and VLAN
// 20 is VNI 1020 on vswitch's side; on Linux's side each VNI is a vxlan
// device with an address in one shared subnet, so a frame that crossed
// VNIs would be answered. VLAN 10's host reaches VNI 1010's address (ping
// and a 16 MiB HTTP download checked by SHA-256), not VNI 1020's; VLAN
// 20's host reaches VNI 1020's. The underlay carries UDP to port 4789 and
// `show fdb` has the Linux side's MAC on the vxlan port.
func TestVXLANWithLinux(t *testing.T) {
	requireE2E(t, "ping", "tcpdump", "python3", "curl", "sha256sum", "ethtool")
	u1, u2 := newHost(t, "xu"), newHost(t, "xv")
	ua, ub := testnet.Veth(t, "xu", u2.Netns)
	testnet.Run(t, "ip", "link", "set", ua, "netns", u1.Name)
	u1.addr(ua, "10.207.0.1/24")
	u2.addr(ub, "10.207.0.2/24")
	// A veth hands a locally delivered datagram over with the inner TCP
	// checksum still partial (a NIC would have filled it in on the wire):
	// checksum in software on the underlay, as a wire would.
	u2.Run("ethtool", "-K", ub, "tx", "off")
	// VNI 1020's device moves to a namespace of its own (its socket stays
	// on u2's underlay), so each subnet address has one way back.
	u3 := newHost(t, "xw")
	for _, vx := range []struct {
		dev, vni, addr string
		ns             *host
	}{{"vx10", "1010", "10.207.10.2/24", u2}, {"vx20", "1020", "10.207.10.3/24", u3}} {
		u2.Run("ip", "link", "add", vx.dev, "type", "vxlan", "id", vx.vni, "local", "10.207.0.2",
			"remote", "10.207.0.1", "dstport", "4789", "dev", ub)
		if vx.ns != u2 {
			u2.Run("ip", "link", "set", vx.dev, "netns", vx.ns.Name)
		}
		vx.ns.addr(vx.dev, vx.addr)
	}

	vs, h10, h20 := vxlanSwitch(t, "x", u1, "10.207.0.1", "10.207.0.2", "10.207.10.1/24", "10.207.10.4/24")

	wire := u2.watch(ub, "udp dst port 4789 and src host 10.207.0.1")
	if !h10.ping("10.207.10.2", 3) {
		t.Fatalf("VLAN 10 cannot reach VNI 1010 across the tunnel\n%s", vs.log)
	}
	if n := h10.pingCount("10.207.10.3", 2); n != 0 {
		t.Fatalf("VLAN 10 reached VNI 1020's address: %d replies", n)
	}
	if !h20.ping("10.207.10.3", 3) {
		t.Fatal("VLAN 20 cannot reach VNI 1020 across the tunnel")
	}
	wire.wait("vni 1010", 5*time.Second)
	wire.wait("vni 1020", 5*time.Second)
	wire.stop()
	for _, l := range wire.lines() {
		if strings.Contains(l, "vni") && !strings.Contains(l, "10.207.0.1.") {
			t.Fatalf("a VXLAN datagram to vswitch's VTEP not from it: %s", l)
		}
	}

	// The Linux side's MAC for VNI 1010 is learned on the vxlan port, VLAN 10.
	vs.requireRemoteMAC(u2.mac("vx10"), "vx", 10, "10.207.0.2")

	// TCP across the tunnel: a download checked end to end.
	dir := t.TempDir()
	want := randomBlob(t, dir+"/blob", 16)
	serveHTTP(u2, "10.207.10.2", dir)
	downloadChecked(t, h10, "http://10.207.10.2:8000/blob", dir+"/got", want, 30*time.Second, "20", "the download across the tunnel")

	// The other way the guest sends: its TAP hands vswitch TSO
	// super-frames, which leave as UDP-GSO sends (the underlay veth's
	// capture sees datagrams longer than its MTU, before the kernel cuts
	// them: DF is set, so nothing else makes them). 32 MiB checked by
	// SHA-256 at the Linux end.
	gso := u1.watch(ua, "udp dst port 4789 and greater 3000")
	up := t.TempDir()
	wantUp := randomBlob(t, up+"/blob", 32)
	serveHTTP(h10, "10.207.10.1", up)
	downloadChecked(t, u2, "http://10.207.10.1:8000/blob", up+"/got", wantUp, 30*time.Second, "30", "the upload across the tunnel")
	gso.wait("vni 1010", 5*time.Second)
}

// TestVXLANBetweenSwitches joins two vswitches by VXLAN: each side's VLAN
// 10 host reaches the other's (ping, and 16 MiB over TCP checked by
// SHA-256), VLAN 20 stays apart, and the second switch's VLANs map to the
// VNIs under other VLAN numbers (the VNI is what the ends share).
func TestVXLANBetweenSwitches(t *testing.T) {
	requireE2E(t, "ping", "python3", "curl", "sha256sum")
	u1, u2 := newHost(t, "yu"), newHost(t, "yv")
	ua, ub := testnet.Veth(t, "yu", u2.Netns)
	testnet.Run(t, "ip", "link", "set", ua, "netns", u1.Name)
	u1.addr(ua, "10.208.0.1/24")
	u2.addr(ub, "10.208.0.2/24")
	type side struct {
		a, b   *host
		pa, pb string
	}
	var s [2]side
	for i, u := range []struct {
		ns            *host
		local, remote string
		vlanA, vlanB  int
	}{{u1, "10.208.0.1", "10.208.0.2", 10, 20}, {u2, "10.208.0.2", "10.208.0.1", 110, 120}} {
		s[i] = side{a: newHost(t, "ya"), b: newHost(t, "yb"), pa: testnet.Name("y"), pb: testnet.Name("y")}
		startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, vlan: %d, mtu: 1450}
  - {name: %s, type: tap, netns: %s, vlan: %d, mtu: 1450}
  - {name: vx, type: vxlan, netns: %s, local: %s, vnis: {%d: 5010, %d: 5020}, remotes: [%s]}
`, s[i].pa, s[i].a.Name, u.vlanA, s[i].pb, s[i].b.Name, u.vlanB, u.ns.Name, u.local, u.vlanA, u.vlanB, u.remote))
		s[i].a.addr(s[i].pa, fmt.Sprintf("10.208.10.%d/24", i+1))
		// VNI 5020's hosts share the subnet: a leak between VNIs would answer.
		s[i].b.addr(s[i].pb, fmt.Sprintf("10.208.10.%d/24", i+3))
	}
	if !s[0].a.ping("10.208.10.2", 3) {
		t.Fatal("VNI 5010 hosts cannot reach each other across two switches")
	}
	if n := s[0].a.pingCount("10.208.10.4", 2); n != 0 {
		t.Fatalf("VNI 5010 reached a VNI 5020 host: %d replies", n)
	}
	if !s[0].b.ping("10.208.10.4", 3) {
		t.Fatal("VNI 5020 hosts cannot reach each other across two switches")
	}
	// TCP from one TSO guest to the other: UDP-GSO sends on one side,
	// the datagrams the kernel cut for the other's socket. 16 MiB checked
	// by SHA-256.
	dir := t.TempDir()
	want := randomBlob(t, dir+"/blob", 16)
	serveHTTP(s[1].a, "10.208.10.2", dir)
	downloadChecked(t, s[0].a, "http://10.208.10.2:8000/blob", dir+"/got", want, 30*time.Second, "20", "the download between two switches")
}

// requireRemoteMAC fails the test unless the FDB has mac on port, VLAN
// vlan, behind the VTEP remote.
func (in *instance) requireRemoteMAC(mac, port string, vlan uint16, remote string) {
	in.t.Helper()
	fdb := in.fdb()
	for _, e := range fdb {
		if e.MAC != mac {
			continue
		}
		if e.Port != port || e.VLAN != vlan || e.Remote != remote {
			in.t.Fatalf("fdb has %s on %s VLAN %d behind %q, want %s VLAN %d behind %s", mac, e.Port, e.VLAN, e.Remote, port, vlan, remote)
		}
		return
	}
	in.t.Fatalf("fdb lacks the remote MAC %s: %+v", mac, fdb)
}

// vxlanSwitch starts vswitch with a host on VLAN 10 (VNI 1010) and one on
// VLAN 20 (VNI 1020), inner MTU 1450, and a vxlan port in underlay bound
// to local with one static remote VTEP; the hosts get cidr10 and cidr20.
func vxlanSwitch(t testing.TB, tag string, underlay *host, local, remote, cidr10, cidr20 string) (vs *instance, h10, h20 *host) {
	t.Helper()
	h10, h20 = newHost(t, tag+"a"), newHost(t, tag+"b")
	p10, p20 := testnet.Name(tag), testnet.Name(tag)
	vs = startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, vlan: 10, mtu: 1450}
  - {name: %s, type: tap, netns: %s, vlan: 20, mtu: 1450}
  - {name: vx, type: vxlan, netns: %s, local: %s, vnis: {10: 1010, 20: 1020}, remotes: [%s]}
`, p10, h10.Name, p20, h20.Name, underlay.Name, local, remote))
	h10.addr(p10, cidr10)
	h20.addr(p20, cidr20)
	return vs, h10, h20
}
