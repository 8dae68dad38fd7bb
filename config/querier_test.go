package config

import (
	"fmt"
	"testing"
)

// TestMulticastQuerier: off by default; true runs it on every VLAN a port
// carries (access, trunked, native, a VXLAN port's) but a network's; a
// list runs it on exactly those VLANs.
func TestMulticastQuerier(t *testing.T) {
	ports := `ports:
  - {name: a, type: tap}
  - {name: b, type: tap, vlan: 7}
  - {name: t, type: afpacket, device: eth1, trunk: [7, 9, 12], native: 4}
  - {name: x, type: vxlan, local: 192.0.2.1, vnis: {30: 300}, remotes: [192.0.2.2]}
networks:
  - {name: lab, address: 10.0.0.1/24, vlan: 9}
`
	for _, tt := range []struct{ name, yaml, want string }{
		{"default", ports, "[]"},
		{"false", ports + "multicast_querier: false\n", "[]"},
		{"true", ports + "multicast_querier: true\n", "[1 4 7 12 30]"},
		{"list", ports + "multicast_querier: [12, 3]\n", "[3 12]"},
		{"true, no ports", "multicast_querier: true\n", "[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(c.QuerierVLANs()); got != tt.want {
				t.Errorf("QuerierVLANs() = %s, want %s", got, tt.want)
			}
		})
	}
}
