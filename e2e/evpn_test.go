package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
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
		VTEP  string `json:"vtep"`
		Local bool   `json:"local"`
	} `json:"routes"`
}

func (in *instance) evpn() evpnStatus {
	in.t.Helper()
	var st evpnStatus
	if err := json.Unmarshal([]byte(in.mustCLI("show", "evpn", "--json")), &st); err != nil {
		in.t.Fatal(err)
	}
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
