//go:build !race

package vswitch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestGuardAllocs: the guard's checks (static and DHCP bindings, IPv4 and
// ARP, IPv6 and NDP) and the gateway port's snooping of frames that are
// not ACKs (a DHCPv6 Reply to a MAC on no guarded port) allocate
// nothing, and the frames go where they should.
func TestGuardAllocs(t *testing.T) {
	static := PortConfig{Name: "s", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{MACs: []pkt.MAC{mac(1)}, IPs: []netip.Addr{ip5, a6own}}}
	dhcp := PortConfig{Name: "d", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}
	now := time.Now().Unix()
	tests := []struct {
		name string
		in   int
		tmpl []byte
		drop DropReason // NumDropReasons: every frame to port "o" (multicasts: to the 3 others)
	}{
		{"static IPv4", 0, udp4(mac(8), mac(1), ip5, gw1, 1, 2, nil), NumDropReasons},
		{"static ARP", 0, arp4(mac(1), mac(1), ip5, gw1), NumDropReasons},
		{"static spoofed", 0, udp4(mac(8), mac(1), ip6, gw1, 1, 2, nil), DropSpoofedIP},
		{"dhcp bound IPv4", 1, udp4(mac(8), mac(2), ip6, gw1, 1, 2, nil), NumDropReasons},
		{"dhcp DISCOVER", 1, dhcpFromClient(mac(3), pkt.DHCPDiscover), NumDropReasons},
		{"dhcp spoofed", 1, udp4(mac(8), mac(4), ip6, gw1, 1, 2, nil), DropSpoofedMAC},
		{"gateway's UDP", 2, udp4(mac(8), mac(9), gw1, ip6, 67, 53, nil), NumDropReasons},
		{"static IPv6", 0, echo6to(mac(8), mac(1), a6own), NumDropReasons},
		{"static NA", 0, na6(mac(1), a6own, a6own, lla(2, mac(1))...), NumDropReasons},
		{"static NA spoofed", 0, na6(mac(1), a6own, a6other), DropSpoofedND},
		{"dhcp SLAAC", 1, echo6to(mac(8), mac(2), slaac("fd00::", mac(2))), NumDropReasons},
		{"dhcp DHCPv6 lease", 1, echo6to(mac(8), mac(2), netip.MustParseAddr("fd00::100")), NumDropReasons},
		{"dhcp IPv6 spoofed", 1, echo6to(mac(8), mac(2), a6other), DropSpoofedIP},
		{"gateway's DHCPv6 Reply", 2, reply6(mac(8), netip.MustParseAddr("fd00::108"), 60), NumDropReasons},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newGuardRig(t, static, dhcp, access("gw", 1), access("o", 1))
			if err := r.s.AddLocal("gw", 1, mac(9)); err != nil {
				t.Fatal(err)
			}
			r.s.fdb.learn(r.ports["d"], 1, mac(2), now)
			r.s.snoopDHCP(frameOf(ack(mac(2), ip6, 3600)), now)
			r.s.snoopDHCP(frameOf(reply6(mac(2), netip.MustParseAddr("fd00::100"), 3600)), now)
			if err := r.s.AddLocalAddr6(1, gw6); err != nil {
				t.Fatal(err)
			}
			r.s.fdb.learn(r.ports["o"], 1, mac(8), now)
			in := []*swPort{r.ports["s"], r.ports["d"], r.ports["gw"]}[tt.in]
			frames := make([]*Frame, BatchSize)
			for i := range frames {
				frames[i] = NewFrame()
			}
			out := make([]*Frame, BatchSize)
			got := 0
			batch := func() {
				for _, f := range frames {
					f.reset()
					f.SetData(tt.tmpl)
				}
				r.s.ingress(in, frames, now)
				got = 0
				for _, p := range r.ports {
					for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
						for _, f := range out[:k] {
							f.Release()
						}
						got += k
					}
				}
			}
			if a := testing.AllocsPerRun(50, batch); a != 0 {
				t.Fatalf("%v allocations per batch", a)
			}
			want := BatchSize
			if pkt.Ethernet(tt.tmpl).Dst().IsMulticast() {
				want = 3 * BatchSize
			}
			if tt.drop != NumDropReasons {
				want = 0
				if d := in.status().Drops[tt.drop]; d != 51*BatchSize {
					t.Fatalf("%d %s drops, want %d", d, tt.drop, 51*BatchSize)
				}
			}
			if got != want {
				t.Fatalf("%d frames out per batch, want %d", got, want)
			}
		})
	}
}

func frameOf(b []byte) *Frame {
	f := NewFrame()
	f.SetData(b)
	f.vid = 1
	return f
}
