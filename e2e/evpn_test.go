package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

type evpnStatus struct {
	Enabled  bool `json:"enabled"`
	Sessions []struct {
		Neighbor string `json:"neighbor"`
		State    string `json:"state"`
	} `json:"sessions"`
	VNIs []struct {
		VNI   uint32   `json:"vni"`
		Flood []string `json:"flood"`
	} `json:"vnis"`
	Routes []struct {
		Type  string `json:"type"`
		VNI   uint32 `json:"vni"`
		MAC   string `json:"mac"`
		IP    string `json:"ip"`
		VTEP  string `json:"vtep"`
		Local bool   `json:"local"`
	} `json:"routes"`
}

func (in *instance) evpn() evpnStatus {
	in.t.Helper()
	var st evpnStatus
	in.showJSON("evpn", &st)
	return st
}

// TestEVPNBetweenSwitches: two vswitches with no static remotes find each
// other's VTEP through BGP EVPN (type-3 routes) and each other's hosts
// (type-2 routes), and the hosts ping across. Each vswitch runs in its
// underlay namespace, so each BGP speaker listens on its own port 179.
// When one stops, the other's flood list for the VNI empties.
func TestEVPNBetweenSwitches(t *testing.T) {
	requireE2E(t, "ping")
	u := [2]*host{newHost(t, "eu"), newHost(t, "ev")}
	ua, ub := testnet.Veth(t, "eu", u[1].Netns)
	testnet.Run(t, "ip", "link", "set", ua, "netns", u[0].Name)
	u[0].addr(ua, "10.209.0.1/24")
	u[1].addr(ub, "10.209.0.2/24")
	var hosts [2]*host
	var ports [2]string
	var vs [2]*instance
	for i := range 2 {
		me, peer := fmt.Sprintf("10.209.0.%d", i+1), fmt.Sprintf("10.209.0.%d", 2-i)
		hosts[i], ports[i] = newHost(t, "eh"), testnet.Name("e")
		ns := u[i].Name
		vs[i] = startVswitchWrapped(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, vlan: %d, mtu: 1450}
  - {name: vx, type: vxlan, local: %s, vnis: {%d: 6010}, evpn: true}
bgp:
  asn: %d
  router_id: %s
  neighbors: [{address: %s, asn: %d}]
`, ports[i], hosts[i].Name, 10+i, me, 10+i, 65001+i, me, peer, 65002-i), func(string) []string {
			return []string{"ip", "netns", "exec", ns}
		})
		hosts[i].addr(ports[i], fmt.Sprintf("10.209.10.%d/24", i+1))
	}
	testnet.WaitFor(t, 30*time.Second, "both BGP sessions established and each VTEP in the other's flood list", func() bool {
		for i := range 2 {
			st := vs[i].evpn()
			if len(st.Sessions) != 1 || st.Sessions[0].State != "established" || len(st.VNIs) != 1 ||
				!slices.Equal(st.VNIs[0].Flood, []string{fmt.Sprintf("10.209.0.%d", 2-i)}) {
				return false
			}
		}
		return true
	})
	if !hosts[0].ping("10.209.10.2", 3) {
		t.Fatalf("no ping across EVPN\n%s\n%s", vs[0].mustCLI("show", "evpn"), vs[1].mustCLI("show", "evpn"))
	}
	// Each side has the other's host as a type-2 route from the other VTEP.
	for i := range 2 {
		mac, vtep := hosts[1-i].mac(ports[1-i]), fmt.Sprintf("10.209.0.%d", 2-i)
		testnet.WaitFor(t, 10*time.Second, "the peer's host MAC as a remote type-2 route", func() bool {
			for _, r := range vs[i].evpn().Routes {
				if r.Type == "mac" && r.MAC == mac && r.VNI == 6010 && r.VTEP == vtep && !r.Local {
					return true
				}
			}
			return false
		})
	}
	vs[1].stop()
	testnet.WaitFor(t, 15*time.Second, "the stopped peer's VTEP withdrawn", func() bool {
		st := vs[0].evpn()
		return len(st.VNIs) == 1 && len(st.VNIs[0].Flood) == 0
	})
}

// TestEVPNWithFRR: FRR (zebra and bgpd, `advertise-all-vni`) in a
// namespace is a Linux VTEP whose vxlan device does no learning
// (`nolearning`): it knows vswitch's host only from vswitch's type-2
// route. The session comes up over iBGP (FRR's automatic route target is
// ASN:VNI, the same on both sides), each side shows the other's MAC
// behind the other's VTEP (FRR's `show evpn mac vni`, vswitch's `show
// evpn`), and the hosts ping across. vswitch's host takes its address
// from the VLAN's DHCP server: FRR's BGP table then has the host's MAC
// with that address in a type-2 route, and the gateway's MAC with its own.
func TestEVPNWithFRR(t *testing.T) {
	requireE2E(t, "ping", "vtysh", "ethtool", "udhcpc")
	for _, d := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd"} {
		if _, err := os.Stat(d); err != nil {
			if os.Getenv("VSWITCH_E2E") == "1" {
				t.Fatalf("FRR (Debian's frr, in make deps): %v", err)
			}
			t.Skipf("FRR: %v", err)
		}
	}
	u, f, fh := newHost(t, "fu"), newHost(t, "ff"), newHost(t, "fh")
	ua, ub := testnet.Veth(t, "fu", f.Netns)
	testnet.Run(t, "ip", "link", "set", ua, "netns", u.Name)
	u.addr(ua, "10.212.0.1/24")
	f.addr(ub, "10.212.0.2/24")
	f.Run("ip", "link", "set", "lo", "up")
	// The veth hands the receiving socket partial inner checksums (see
	// TestVXLANWithLinux).
	f.Run("ethtool", "-K", ub, "tx", "off")
	f.Run("ip", "link", "add", "br10", "type", "bridge")
	f.Run("ip", "link", "set", "br10", "up")
	f.Run("ip", "link", "add", "vx6010", "type", "vxlan", "id", "6010", "local", "10.212.0.2", "dstport", "4789", "nolearning")
	f.Run("ip", "link", "set", "vx6010", "master", "br10")
	f.Run("ip", "link", "set", "vx6010", "up")
	ha, hb := testnet.Veth(t, "fh", fh.Netns)
	testnet.Run(t, "ip", "link", "set", ha, "netns", f.Name)
	f.Run("ip", "link", "set", ha, "master", "br10")
	f.Run("ip", "link", "set", ha, "up")
	fh.addr(hb, "10.212.10.2/24")

	// FRR runs as its own user: its directory must be open to it.
	dir, err := os.MkdirTemp("", "vstfrr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	conf := filepath.Join(dir, "frr.conf")
	os.WriteFile(conf, []byte(`hostname f
router bgp 65001
 bgp router-id 10.212.0.2
 no bgp default ipv4-unicast
 neighbor 10.212.0.1 remote-as 65001
 neighbor 10.212.0.1 timers connect 2
 address-family l2vpn evpn
  neighbor 10.212.0.1 activate
  advertise-all-vni
 exit-address-family
`), 0o644)
	frrArgs := func(d string) []string {
		return []string{"-u", "frr", "-g", "frr", "-i", filepath.Join(dir, d+".pid"), "-z", filepath.Join(dir, "zserv.api"),
			"--vty_socket", dir, "-f", conf}
	}
	f.Start("/usr/lib/frr/zebra", frrArgs("zebra")...)
	testnet.WaitFor(t, 10*time.Second, "zebra's socket", func() bool {
		_, err := os.Stat(filepath.Join(dir, "zserv.api"))
		return err == nil
	})
	f.Start("/usr/lib/frr/bgpd", frrArgs("bgpd")...)
	vtysh := func(cmd string) string {
		out, _ := f.Output("vtysh", "--vty_socket", dir, "-c", cmd)
		return out
	}

	g, pg := newHost(t, "fg"), testnet.Name("f")
	vs := startVswitchWrapped(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, vlan: 10, mtu: 1450}
  - {name: vx, type: vxlan, local: 10.212.0.1, vnis: {10: 6010}, evpn: true}
bgp:
  asn: 65001
  router_id: 10.212.0.1
  neighbors: [{address: 10.212.0.2, asn: 65001}]
networks:
  - {name: lab, vlan: 10, address: 10.212.10.254/24, dhcp: {range: 10.212.10.100-10.212.10.109}}
`, pg, g.Name), func(string) []string { return []string{"ip", "netns", "exec", u.Name} })
	ip := dhcpClient(t, "udhcpc", g, pg)

	testnet.WaitFor(t, 40*time.Second, "the session with FRR and FRR's VTEP in the flood list", func() bool {
		st := vs.evpn()
		return len(st.Sessions) == 1 && st.Sessions[0].State == "established" && len(st.VNIs) == 1 &&
			slices.Equal(st.VNIs[0].Flood, []string{"10.212.0.2"})
	})
	if !g.ping("10.212.10.2", 3) {
		t.Fatalf("no ping to FRR's side\n%s\n%s", vs.mustCLI("show", "evpn"), vtysh("show evpn mac vni all"))
	}
	ours, theirs := g.mac(pg), fh.mac(hb)
	testnet.WaitFor(t, 10*time.Second, "vswitch's MAC in FRR's table, remote behind 10.212.0.1", func() bool {
		for _, l := range strings.Split(vtysh("show evpn mac vni 6010"), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == ours && f[1] == "remote" && slices.Contains(f, "10.212.0.1") {
				return true
			}
		}
		return false
	})
	testnet.WaitFor(t, 10*time.Second, "FRR's host MAC in vswitch's routes, behind 10.212.0.2", func() bool {
		for _, r := range vs.evpn().Routes {
			if r.Type == "mac" && r.MAC == theirs && r.VTEP == "10.212.0.2" && !r.Local {
				return true
			}
		}
		return false
	})
	// The addresses ride in the type-2 routes FRR holds:
	// [2]:[0]:[48]:[MAC]:[32]:[IP].
	var gwMAC string
	for _, r := range vs.evpn().Routes {
		if r.Type == "mac" && r.Local && r.IP == "10.212.10.254" {
			gwMAC = r.MAC
		}
	}
	if gwMAC == "" {
		t.Fatalf("vswitch advertises no route for its gateway with 10.212.10.254:\n%s", vs.mustCLI("show", "evpn"))
	}
	for _, want := range [][2]string{{ours, ip}, {gwMAC, "10.212.10.254"}} {
		route := fmt.Sprintf("[48]:[%s]:[32]:[%s]", want[0], want[1])
		testnet.WaitFor(t, 10*time.Second, "FRR's BGP table to hold "+route, func() bool {
			return strings.Contains(vtysh("show bgp l2vpn evpn route type macip"), route)
		})
	}
}
