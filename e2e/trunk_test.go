package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestTrunkBetweenSwitches joins two vswitches with a veth whose ends are
// AF_PACKET trunk ports carrying VLANs 10 and 20, each switch with an
// access host per VLAN. Hosts reach their VLAN's peer across the trunk and
// nothing else; the veth carries 802.1Q tags (tcpdump sees them); TCP
// crosses both switches. This exercises the tag push on AF_PACKET egress
// and the tag restore from PACKET_AUXDATA on ingress without needing the
// kernel's 802.1Q module.
func TestTrunkBetweenSwitches(t *testing.T) {
	requireE2E(t, "ping", "iperf3", "tcpdump")
	ta, tb := testnet.Veth(t, "k", nil)
	type side struct {
		h10, h20 *host
		p10, p20 string
		vs       *instance
	}
	var sides [2]*side
	for i, trunkDev := range []string{ta, tb} {
		s := &side{h10: newHost(t, fmt.Sprintf("k%d", i)), h20: newHost(t, fmt.Sprintf("k%d", i)),
			p10: testnet.Name("k"), p20: testnet.Name("k")}
		s.vs = startVswitch(t, fmt.Sprintf(`ports:
  - {name: trunk, type: afpacket, device: %s, trunk: [10, 20]}
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, vlan: 20}
`, trunkDev, s.p10, s.h10.Name, s.p20, s.h20.Name))
		s.h10.addr(s.p10, fmt.Sprintf("10.205.10.%d/24", i+1))
		s.h20.addr(s.p20, fmt.Sprintf("10.205.20.%d/24", i+1))
		sides[i] = s
	}
	a, b := sides[0], sides[1]
	// b's VLAN 20 host also takes an address in VLAN 10's subnet: reachable
	// from VLAN 10 only if frames crossed VLANs.
	b.h20.Run("ip", "addr", "add", "10.205.10.9/24", "dev", b.p20)

	// Watch the wire for tagged ICMP while VLAN 10 pings.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var dump bytes.Buffer
	td := exec.CommandContext(ctx, "tcpdump", "-l", "-n", "-e", "-i", ta, "-c", "2", "vlan 10 and icmp")
	td.Stdout, td.Stderr = &dump, &dump
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let tcpdump attach

	if !a.h10.ping("10.205.10.2", 3) {
		t.Fatal("VLAN 10 host on switch A cannot reach VLAN 10 host on switch B")
	}
	if !b.h20.ping("10.205.20.1", 3) {
		t.Fatal("VLAN 20 host on switch B cannot reach VLAN 20 host on switch A")
	}
	if a.h10.ping("10.205.10.9", 2) {
		t.Fatal("VLAN 10 reached a host on VLAN 20 across the trunk")
	}
	td.Wait()
	if !strings.Contains(dump.String(), "vlan 10") {
		t.Errorf("tcpdump saw no 802.1Q tag 10 on the trunk:\n%s", dump.String())
	}
	for _, e := range a.vs.fdb() {
		if e.Port == "trunk" && e.VLAN != 10 && e.VLAN != 20 {
			t.Errorf("trunk learned on VLAN %d", e.VLAN)
		}
	}
	gbps := iperfTCP(t, b.h10, a.h10, "10.205.10.2", 3)
	t.Logf("iperf3 TCP across two vswitches and an AF_PACKET veth trunk: %.2f Gbit/s (race detector: %v)", gbps, raceEnabled)
}
