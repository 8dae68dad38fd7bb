package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultParses(t *testing.T) {
	c := Default()
	if len(c.Ports) != 2 || c.Ports[0].Name != "vsw0" || c.Ports[1].Name != "vsw1" {
		t.Fatalf("ports %+v", c.Ports)
	}
	if len(c.Networks) != 1 || c.Networks[0].Address.String() != "192.168.122.1/24" || c.Networks[0].Mode != ModeIsolated {
		t.Fatalf("networks %+v", c.Networks)
	}
	if c.FDB.Ageing != 300*time.Second || c.Metrics != DefaultMetrics || c.Ports[0].Queue != DefaultQueue {
		t.Fatalf("defaults %+v", c)
	}
	if c.Conntrack != (Conntrack{MaxEntries: 65536, MaxPerSource: 4096}) {
		t.Fatalf("conntrack %+v", c.Conntrack)
	}
}

// TestConntrackKeys: each key alone keeps the other's default.
func TestConntrackKeys(t *testing.T) {
	for y, want := range map[string]Conntrack{
		"conntrack: {max_entries: 1000}\n":                               {MaxEntries: 1000, MaxPerSource: 4096},
		"conntrack: {max_per_source: 64}\n":                              {MaxEntries: 65536, MaxPerSource: 64},
		"conntrack: {max_entries: 16777216, max_per_source: 16777216}\n": {MaxEntries: 1 << 24, MaxPerSource: 1 << 24},
	} {
		c, err := Parse("f.yaml", []byte(y))
		if err != nil || c.Conntrack != want {
			t.Fatalf("%q: %v %+v", y, err, c.Conntrack)
		}
	}
}

func TestArchitectureExample(t *testing.T) {
	c, err := Parse("x.yaml", []byte(archExample))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Ports[1].IsTrunk() || c.Ports[1].Native != 1 || c.Ports[0].MaxMACs != 4 {
		t.Fatalf("%+v", c.Ports)
	}
	n := c.Networks[0]
	if n.DHCP == nil || len(n.DHCP.Hosts) != 1 || n.Forwards[0].To.String() != "192.168.122.10:80" || n.Mode != ModeNAT {
		t.Fatalf("%+v", n)
	}
	if c.Uplinks[0].Gateway.String() != "10.0.0.1" {
		t.Fatalf("%+v", c.Uplinks)
	}
}

func TestEmptyAndExplicitEmptyMetrics(t *testing.T) {
	c, err := Parse("e.yaml", nil)
	if err != nil || len(c.Ports) != 0 || c.Metrics != DefaultMetrics {
		t.Fatalf("%v %+v", err, c)
	}
	c, err = Parse("e.yaml", []byte("metrics: \"\"\n"))
	if err != nil || c.Metrics != "" {
		t.Fatalf("%v %q", err, c.Metrics)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		want       string // the whole message after FILE:LINE:, a line per error
	}{
		{"unknown key", "ports:\n  - name: a\n    type: tap\n    vlna: 10\n", 4, `ports[0].vlna: unknown key "vlna" in a port (known: name, type, vlan, trunk, native, netns, device, socket, listen, max_macs, mtu, mac, queue, socket_owner, socket_mode, isolated, guard, dhcp_relay, max_groups, multicast_router, local, dstport, vnis, remotes, evpn)`},
		{"unknown top key", "portz: []\n", 1, `portz: unknown key "portz" in the config (known: control, metrics, state_dir, fdb, ports, networks, uplinks, conntrack, bgp, multicast_snooping, multicast_querier, cpus)`},
		{"bad vlan", "ports:\n  - {name: a, type: tap, vlan: 5000}\n", 2, "ports[0].vlan: 5000 is not a VLAN ID (1-4094)"},
		{"vlan zero", "ports:\n  - {name: a, type: tap, vlan: 0}\n", 2, "ports[0].vlan: 0 is not a VLAN ID (1-4094)"},
		{"bad trunk vlan", "ports:\n  - name: t\n    type: afpacket\n    device: eth1\n    trunk: [10, 4095]\n", 5, "ports[0].trunk[1]: 4095 is not a VLAN ID (1-4094)"},
		{"duplicate port", "ports:\n  - {name: a, type: tap}\n  - {name: a, type: tap}\n", 3, `ports[1].name: duplicate port name "a" (first on line 2)`},
		{"bad mac", "ports:\n  - {name: a, type: tap, mac: \"52:54:00:zz:00:01\"}\n", 2, `ports[0].mac: bad MAC address "52:54:00:zz:00:01": "zz" is not hex`},
		{"multicast mac", "ports:\n  - {name: a, type: tap, mac: \"01:00:5e:00:00:01\"}\n", 2, "ports[0].mac: 01:00:5e:00:00:01 is not a unicast MAC address"},
		{"no type", "ports:\n  - {name: a}\n", 2, "ports[0]: a port needs a type (tap, afpacket, qemu or vxlan)"},
		{"bad type", "ports:\n  - {name: a, type: bridge}\n", 2, `ports[0].type: unknown port type "bridge" (tap, afpacket, qemu or vxlan)`},
		{"afpacket without device", "ports:\n  - {name: a, type: afpacket}\n", 2, "ports[0]: an afpacket port needs device: the interface to attach"},
		{"key of another type", "ports:\n  - {name: a, type: tap, socket: /x}\n", 2, "ports[0].socket: socket does not apply to a tap port"},
		{"qemu both", "ports:\n  - {name: a, type: qemu, socket: /x, listen: \"127.0.0.1:5\"}\n", 2, "ports[0]: a qemu port needs exactly one of socket (unix path) or listen (127.0.0.1:PORT)"},
		{"qemu non-loopback", "ports:\n  - {name: a, type: qemu, listen: \"0.0.0.0:5\"}\n", 2, `ports[0].listen: "0.0.0.0:5" must be a loopback address with a port, like 127.0.0.1:5555`},
		{"long name", "ports:\n  - {name: abcdefghijklmnop, type: tap}\n", 2, `ports[0].name: "abcdefghijklmnop" is longer than 15 bytes (the Linux interface name limit)`},
		{"native without trunk", "ports:\n  - {name: a, type: tap, native: 3}\n", 2, "ports[0].native: native needs trunk"},
		{"vlan on trunk", "ports:\n  - {name: a, type: afpacket, device: e, trunk: [2], vlan: 3}\n", 2, "ports[0].vlan: a trunk port has no access VLAN: use native for untagged frames"},
		{"queue not pow2", "ports:\n  - {name: a, type: tap, queue: 100}\n", 2, "ports[0].queue: 100 is not a power of two"},
		{"duplicate device", "ports:\n  - {name: a, type: afpacket, device: e}\n  - {name: b, type: afpacket, device: e}\n", 3, "ports[1].device: e is already used by the port on line 2"},
		{"ageing", "fdb: {ageing: soon}\n", 1, `fdb.ageing: "soon" is not a duration (like 300s, 5m, 1h)`},
		{"static unknown port", "fdb:\n  static:\n    - {mac: \"52:54:00:00:00:01\", port: nope}\n", 3, `fdb.static[0].port: no port named "nope"`},
		{"static vlan not carried", "ports:\n  - {name: a, type: tap, vlan: 2}\nfdb:\n  static:\n    - {mac: \"52:54:00:00:00:01\", port: a, vlan: 3}\n", 5, "fdb.static[0].vlan: port a does not carry VLAN 3"},
		{"network address", "networks:\n  - {name: n, address: 10.0.0.0/24}\n", 2, "networks[0].address: 10.0.0.0/24 is the network or broadcast address: give the gateway a host address"},
		{"range outside", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {range: 10.0.1.2-10.0.1.9}\n", 4, "networks[0].dhcp.range: 10.0.1.2-10.0.1.9 is not inside 10.0.0.0/24"},
		{"nat without uplink", "networks:\n  - {name: n, address: 10.0.0.1/24, mode: nat}\n", 2, "networks[0].uplink: mode nat needs an uplink"},
		{"unknown uplink", "networks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: wan}\n", 2, `networks[0].uplink: no uplink named "wan"`},
		{"duplicate network vlan", "networks:\n  - {name: a, address: 10.0.0.1/24}\n  - {name: b, address: 10.0.1.1/24}\n", 3, `networks[1].vlan: VLAN 1 already has network "a"`},
		{"bad mode", "networks:\n  - {name: n, address: 10.0.0.1/24, mode: bridge}\n", 2, `networks[0].mode: unknown mode "bridge" (isolated, nat or routed)`},
		{"uplink gateway outside", "uplinks:\n  - {name: w, device: e, address: 10.0.0.5/24, gateway: 10.9.0.1}\n", 2, "uplinks[0].gateway: 10.9.0.1 is not inside 10.0.0.0/24"},
		{"syntax", "metrics: \"\"\ncontrol: /x\n  y: 3\n", 3, "YAML syntax: mapping values are not allowed in this context"},
		{"not a list", "ports: {name: a}\n", 1, "ports: must be a list"},
		{"vxlan bare", "ports:\n  - name: v\n    type: vxlan\n", 2, "ports[0]: a vxlan port needs vnis: the VLANs it carries and their VNIs, like {10: 1010}\nports[0]: a vxlan port needs remotes: the VTEPs to send to (or evpn: true to learn them)"},
		{"vxlan bad vni", "ports:\n  - {name: v, type: vxlan, remotes: [10.0.0.2], vnis: {10: 16777216}}\n", 2, `ports[0].vnis.10: "16777216" is not a VNI (1-16777215)`},
		{"vxlan vni twice", "ports:\n  - {name: v, type: vxlan, remotes: [10.0.0.2], vnis: {10: 7, 20: 7}}\n", 2, "ports[0].vnis.20: VNI 7 is already VLAN 10's"},
		{"vxlan bad vlan", "ports:\n  - {name: v, type: vxlan, remotes: [10.0.0.2], vnis: {4095: 7}}\n", 2, "ports[0].vnis: 4095 is not a VLAN ID (1-4094)"},
		{"vxlan vnis list", "ports:\n  - {name: v, type: vxlan, remotes: [10.0.0.2], vnis: [7]}\n", 2, "ports[0].vnis: must map VLANs to VNIs, like {10: 1010, 20: 1020}"},
		{"vxlan trunk", "ports:\n  - {name: v, type: vxlan, remotes: [10.0.0.2], vnis: {10: 7}, trunk: [10]}\n", 2, "ports[0].trunk: a vxlan port carries the VLANs of its vnis map: trunk does not apply"},
		{"vxlan remote", "ports:\n  - {name: v, type: vxlan, remotes: [224.0.0.5, 10.0.0.2, 10.0.0.2], vnis: {10: 7}}\n", 2, "ports[0].remotes[0]: 224.0.0.5 is not a unicast address\nports[0].remotes: 10.0.0.2 listed twice"},
		{"vxlan no remotes", "ports:\n  - {name: v, type: vxlan, remotes: [], vnis: {10: 7}}\n", 2, "ports[0]: a vxlan port needs remotes: the VTEPs to send to (or evpn: true to learn them)"},
		{"vxlan dstport", "ports:\n  - {name: v, type: vxlan, remotes: [10.0.0.2], vnis: {10: 7}, dstport: 0}\n", 2, `ports[0].dstport: "0" is not a whole number from 1 to 65535`},
		{"evpn without bgp", "ports:\n  - {name: v, type: vxlan, vnis: {10: 7}, evpn: true}\n", 2, "ports[0].evpn: evpn needs the top-level bgp key (asn, router_id, neighbors)"},
		{"bgp incomplete", "bgp:\n  asn: 65001\n", 1, "bgp: bgp needs asn and router_id"},
		{"bgp neighbor incomplete", "bgp:\n  asn: 65001\n  router_id: 10.0.0.5\n  neighbors:\n    - {address: 10.0.0.1}\n", 5, "bgp.neighbors[0]: a neighbor needs address and asn"},
		{"bgp bad asn", "bgp: {asn: 0, router_id: 10.0.0.5}\n", 1, `bgp.asn: "0" is not a whole number from 1 to 4294967295`},
		{"bgp port zero", "bgp: {asn: 1, router_id: 10.0.0.5, listen_port: 0}\n", 1, "bgp.listen_port: 0 is not a port: -1 turns listening off"},
		{"bgp neighbor twice", "bgp:\n  asn: 1\n  router_id: 10.0.0.5\n  neighbors:\n    - {address: 10.0.0.1, asn: 2}\n    - {address: 10.0.0.1, asn: 3}\n", 6, "bgp.neighbors[1].address: 10.0.0.1 is already a neighbor (line 5)"},
		{"vxlan key on tap", "ports:\n  - {name: a, type: tap, vnis: {10: 7}}\n", 2, "ports[0].vnis: vnis does not apply to a tap port"},
		{"trunk empty", "ports:\n  - {name: t, type: afpacket, device: e, trunk: []}\n", 2, "ports[0].trunk: a trunk needs at least one VLAN"},
		{"trunk not a list", "ports:\n  - {name: t, type: afpacket, device: e, trunk: 5}\n", 2, "ports[0].trunk: must be a list"},
		{"trunk vlan twice", "ports:\n  - {name: t, type: afpacket, device: e, trunk: [5, 5]}\n", 2, "ports[0].trunk: VLAN 5 listed twice"},
		{"queue too small", "ports:\n  - {name: a, type: tap, queue: 8}\n", 2, `ports[0].queue: "8" is not a whole number from 16 to 65536`},
		{"queue too big", "ports:\n  - {name: a, type: tap, queue: 131072}\n", 2, `ports[0].queue: "131072" is not a whole number from 16 to 65536`},
		{"mtu too small", "ports:\n  - {name: a, type: tap, mtu: 67}\n", 2, `ports[0].mtu: "67" is not a whole number from 68 to 65535`},
		{"mtu too big", "ports:\n  - {name: a, type: tap, mtu: 65536}\n", 2, `ports[0].mtu: "65536" is not a whole number from 68 to 65535`},
		{"mtu not a number", "ports:\n  - {name: a, type: tap, mtu: big}\n", 2, `ports[0].mtu: "big" is not a whole number from 68 to 65535`},
		{"isolated not a bool", "ports:\n  - {name: a, type: tap, isolated: yes}\n", 2, `ports[0].isolated: "yes" is not true or false`},
		{"isolated a list", "ports:\n  - {name: a, type: tap, isolated: [true]}\n", 2, "ports[0].isolated: must be a single value"},
		{"dhcp_relay not a bool", "ports:\n  - {name: a, type: tap, dhcp_relay: 1}\n", 2, `ports[0].dhcp_relay: "1" is not true or false`},
		{"dhcp_relay on vxlan", "ports:\n  - name: v\n    type: vxlan\n    local: 10.0.0.5\n    vnis: {1: 100}\n    remotes: [10.0.0.6]\n    dhcp_relay: true\n", 7, "ports[0].dhcp_relay: dhcp_relay does not apply to a vxlan port"},
		{"guard word", "ports:\n  - {name: a, type: tap, guard: strict}\n", 2, `ports[0].guard: "strict" is not dhcp or {macs: [...], ips: [...]}`},
		{"guard empty", "ports:\n  - {name: a, type: tap, guard: {}}\n", 2, "ports[0].guard: a guard needs macs, ips or both (or guard: dhcp)"},
		{"guard empty lists", "ports:\n  - {name: a, type: tap, guard: {macs: [], ips: []}}\n", 2, "ports[0].guard: a guard needs macs, ips or both (or guard: dhcp)"},
		{"guard unknown key", "ports:\n  - {name: a, type: tap, guard: {ip: [10.0.0.2]}}\n", 2, `ports[0].guard.ip: unknown key "ip" in a guard (known: macs, ips)`},
		{"guard bad mac", "ports:\n  - name: a\n    type: tap\n    guard:\n      macs: [\"52:54:00:00:00:01\", \"01:00:5e:00:00:01\"]\n", 5, "ports[0].guard.macs[1]: 01:00:5e:00:00:01 is not a unicast MAC address"},
		{"guard bad ip", "ports:\n  - {name: a, type: tap, guard: {ips: [fd00::/64]}}\n", 2, `ports[0].guard.ips[0]: "fd00::/64" is not an IPv4 or IPv6 address`},
		{"guard mapped ip", "ports:\n  - {name: a, type: tap, guard: {ips: [\"::ffff:10.0.0.2\"]}}\n", 2, `ports[0].guard.ips[0]: "::ffff:10.0.0.2" is not an IPv4 or IPv6 address`},
		{"guard zoned ip", "ports:\n  - {name: a, type: tap, guard: {ips: [\"fe80::1%eth0\"]}}\n", 2, `ports[0].guard.ips[0]: "fe80::1%eth0" is not an IPv4 or IPv6 address`},
		{"guard multicast ip6", "ports:\n  - {name: a, type: tap, guard: {ips: [ff02::1]}}\n", 2, "ports[0].guard.ips[0]: ff02::1 is not a unicast address"},
		{"guard unspecified ip6", "ports:\n  - {name: a, type: tap, guard: {ips: [\"::\"]}}\n", 2, "ports[0].guard.ips[0]: :: is not a unicast address"},
		{"guard zero ip", "ports:\n  - {name: a, type: tap, guard: {ips: [0.0.0.0]}}\n", 2, "ports[0].guard.ips[0]: 0.0.0.0 is not a unicast address"},
		{"guard broadcast ip", "ports:\n  - {name: a, type: tap, guard: {ips: [255.255.255.255]}}\n", 2, "ports[0].guard.ips[0]: 255.255.255.255 is not a unicast address"},
		{"guard ips not a list", "ports:\n  - {name: a, type: tap, guard: {ips: 10.0.0.2}}\n", 2, "ports[0].guard.ips: must be a list"},
		{"max_groups negative", "ports:\n  - {name: a, type: tap, max_groups: -1}\n", 2, `ports[0].max_groups: "-1" is not a whole number from 0 to 65536`},
		{"max_groups too big", "ports:\n  - {name: a, type: tap, max_groups: 65537}\n", 2, `ports[0].max_groups: "65537" is not a whole number from 0 to 65536`},
		{"multicast_router unknown", "ports:\n  - name: a\n    type: tap\n    multicast_router: yes\n", 4, `ports[0].multicast_router: "yes" is not auto, never or always`},
		{"multicast_router a number", "ports:\n  - {name: a, type: tap, multicast_router: 2}\n", 2, `ports[0].multicast_router: "2" is not auto, never or always`},
		{"multicast_snooping not a bool", "multicast_snooping: on\n", 1, `multicast_snooping: "on" is not true or false`},
		{"multicast_querier not a bool", "multicast_querier: on\n", 1, `multicast_querier: "on" is not true or false`},
		{"multicast_querier a mapping", "multicast_querier: {vlan: 2}\n", 1, "multicast_querier: must be true, false or a list of VLAN IDs"},
		{"multicast_querier bad vlan", "multicast_querier: [2, 5000]\n", 1, "multicast_querier[1]: 5000 is not a VLAN ID (1-4094)"},
		{"cpus zero", "cpus: 0\n", 1, `cpus: "0" is not all or a whole number from 1 to 4096`},
		{"cpus too many", "cpus: 4097\n", 1, `cpus: "4097" is not all or a whole number from 1 to 4096`},
		{"cpus a word", "\ncpus: half\n", 2, `cpus: "half" is not all or a whole number from 1 to 4096`},
		{"multicast_querier vlan twice", "multicast_querier: [2, 2]\n", 1, "multicast_querier: VLAN 2 listed twice"},
		{"multicast_querier on a network", "networks:\n  - {name: lab, address: 10.0.0.1/24, vlan: 3}\nmulticast_querier: [3]\n", 3,
			"multicast_querier: VLAN 3 has network lab (line 2), whose gateway is its querier"},
		{"multicast_querier without snooping", "multicast_snooping: false\nmulticast_querier: true\n", 2,
			"multicast_querier: needs multicast_snooping: the querier only keeps the snooping table fresh"},
		{"max_macs negative", "ports:\n  - {name: a, type: tap, max_macs: -1}\n", 2, `ports[0].max_macs: "-1" is not a whole number from 0 to 1048576`},
		{"vlan a list", "ports:\n  - {name: a, type: tap, vlan: [1]}\n", 2, "ports[0].vlan: must be a single value"},
		{"port not a mapping", "ports:\n  - tap0\n", 2, "ports[0]: a port must be a mapping (key: value)\nports[0]: a port needs a name\nports[0]: a port needs a type (tap, afpacket, qemu or vxlan)"},
		{"port without name", "ports:\n  - {type: tap}\n", 2, "ports[0]: a port needs a name"},
		{"duplicate key", "ports:\n  - name: a\n    type: tap\n    name: b\n", 4, "ports[0].name: duplicate key"},
		{"name dot dot", "ports:\n  - {name: \"..\", type: tap}\n", 2, `ports[0].name: ".." is not a usable name`},
		{"qemu neither", "ports:\n  - {name: a, type: qemu}\n", 2, "ports[0]: a qemu port needs exactly one of socket (unix path) or listen (127.0.0.1:PORT)"},
		{"qemu port zero", "ports:\n  - {name: a, type: qemu, listen: \"127.0.0.1:0\"}\n", 2, `ports[0].listen: "127.0.0.1:0" must be a loopback address with a port, like 127.0.0.1:5555`},
		{"duplicate socket", "ports:\n  - {name: a, type: qemu, socket: /s}\n  - {name: b, type: qemu, socket: /s}\n", 3, "ports[1].socket: /s is already used by the port on line 2"},
		{"ageing too short", "fdb: {ageing: 999ms}\n", 1, "fdb.ageing: 999ms is too short (at least 1s)"},
		{"fdb max_entries zero", "fdb: {max_entries: 0}\n", 1, `fdb.max_entries: "0" is not a whole number from 1 to 16777216`},
		{"static without port", "fdb:\n  static:\n    - {mac: \"52:54:00:00:00:01\"}\n", 3, "fdb.static[0]: a static entry needs mac and port"},
		{"static multicast", "ports:\n  - {name: a, type: tap}\nfdb:\n  static:\n    - {mac: \"ff:ff:ff:ff:ff:ff\", port: a}\n", 5, "fdb.static[0].mac: ff:ff:ff:ff:ff:ff is not a unicast MAC address"},
		{"static zero mac", "ports:\n  - {name: a, type: tap}\nfdb:\n  static:\n    - {mac: \"00:00:00:00:00:00\", port: a}\n", 5, "fdb.static[0].mac: 00:00:00:00:00:00 is not a unicast MAC address"},
		{"static vlan not on trunk", "ports:\n  - {name: t, type: afpacket, device: e, trunk: [10, 20], native: 1}\nfdb:\n  static:\n    - {mac: \"52:54:00:00:00:01\", port: t, vlan: 5}\n", 5, "fdb.static[0].vlan: port t does not carry VLAN 5"},
		{"static untagged on trunk without native", "ports:\n  - {name: t, type: afpacket, device: e, trunk: [10, 20]}\nfdb:\n  static:\n    - {mac: \"52:54:00:00:00:01\", port: t}\n", 5, "fdb.static[0].vlan: port t does not carry VLAN 1"},
		{"conntrack too small", "conntrack: {max_entries: 15}\n", 1, `conntrack.max_entries: "15" is not a whole number from 16 to 16777216`},
		{"per source zero", "conntrack:\n  max_per_source: 0\n", 2, `conntrack.max_per_source: "0" is not a whole number from 1 to 16777216`},
		{"per source not a number", "conntrack: {max_per_source: lots}\n", 1, `conntrack.max_per_source: "lots" is not a whole number from 1 to 16777216`},
		{"conntrack unknown key", "conntrack: {max_per_src: 5}\n", 1, `conntrack.max_per_src: unknown key "max_per_src" in conntrack (known: max_entries, max_per_source)`},
		{"control empty", "control: \"\"\n", 1, "control: must not be empty"},
		{"not a mapping", "just words\n", 1, "the config must be a mapping (key: value)"},
		{"broadcast address", "networks:\n  - {name: n, address: 10.0.0.255/24}\n", 2, "networks[0].address: 10.0.0.255/24 is the network or broadcast address: give the gateway a host address"},
		{"broadcast address /30", "networks:\n  - {name: n, address: 10.0.0.7/30}\n", 2, "networks[0].address: 10.0.0.7/30 is the network or broadcast address: give the gateway a host address"},
		{"prefix /31", "networks:\n  - {name: n, address: 10.0.0.1/31}\n", 2, "networks[0].address: 10.0.0.1/31: the prefix must be /30 or shorter to hold guests"},
		{"address IPv6", "networks:\n  - {name: n, address: \"fd00::1/64\"}\n", 2, `networks[0].address: "fd00::1/64" is not an IPv4 address with a prefix length, like 192.168.122.1/24`},
		{"address6 IPv4", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: 10.0.1.1/24}\n", 2, `networks[0].address6: "10.0.1.1/24" is not an IPv6 address with a prefix length, like fd00:122::1/64`},
		{"address6 without prefix", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"fd00::1\"}\n", 2, `networks[0].address6: "fd00::1" is not an IPv6 address with a prefix length, like fd00:122::1/64`},
		{"address6 /48", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"fd00::1/48\"}\n", 2, `networks[0].address6: "fd00::1/48" must be a /64: guests form their addresses by SLAAC from a 64-bit prefix`},
		{"address6 link-local", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"fe80::1/64\"}\n", 2, `networks[0].address6: "fe80::1/64" is link-local: the gateway has its link-local address from its MAC; give a global or unique-local (fd00::/8) address`},
		{"address6 multicast", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"ff02::1/64\"}\n", 2, `networks[0].address6: "ff02::1/64" is a multicast address`},
		{"address6 mapped", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"::ffff:10.0.0.1/64\"}\n", 2, `networks[0].address6: "::ffff:10.0.0.1/64" is not an IPv6 address with a prefix length, like fd00:122::1/64`},
		{"address6 anycast", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"fd00:1::/64\"}\n", 2, `networks[0].address6: "fd00:1::/64" is the subnet-router anycast address (host part zero): give the gateway a host address`},
		{"address6 loopback", "networks:\n  - {name: n, address: 10.0.0.1/24, address6: \"::1/64\"}\n", 2, `networks[0].address6: "::1/64" is not a unicast address`},
		{"address6 list", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    address6: [fd00::1/64]\n", 4, `networks[0].address6: must be a single value`},
		{"address6 shared prefix", "networks:\n  - {name: a, address: 10.0.0.1/24, address6: \"fd00::1/64\"}\n  - {name: b, vlan: 2, address: 10.0.1.1/24, address6: \"fd00::2/64\"}\n", 3, `networks[1].address6: fd00::/64 is already the prefix of network "a"`},
		{"network without address", "networks:\n  - {name: n}\n", 2, "networks[0]: a network needs an address (the gateway's, like 192.168.122.1/24)"},
		{"network without name", "networks:\n  - {address: 10.0.0.1/24}\n", 2, "networks[0]: a network needs a name"},
		{"duplicate network name", "networks:\n  - {name: a, address: 10.0.0.1/24}\n  - {name: a, vlan: 2, address: 10.0.1.1/24}\n", 3, `networks[1].name: duplicate network name "a"`},
		{"routed without uplink", "networks:\n  - {name: n, address: 10.0.0.1/24, mode: routed}\n", 2, "networks[0].uplink: mode routed needs an uplink"},
		{"dhcp bad domain", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {domain: \"a..b\"}\n", 4, `networks[0].dhcp.domain: "a..b" is not a domain name like lab.example`},
		{"dhcp domain too long label", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {domain: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.lab}\n", 4, `networks[0].dhcp.domain: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.lab" is not a domain name like lab.example`},
		{"range starts at the gateway", "networks:\n  - name: n\n    address: 10.0.0.2/24\n    dhcp: {range: 10.0.0.2-10.0.0.9}\n", 4, "networks[0].dhcp.range: 10.0.0.2-10.0.0.9 contains the gateway address 10.0.0.2"},
		{"range ends at the gateway", "networks:\n  - name: n\n    address: 10.0.0.9/24\n    dhcp: {range: 10.0.0.2-10.0.0.9}\n", 4, "networks[0].dhcp.range: 10.0.0.2-10.0.0.9 contains the gateway address 10.0.0.9"},
		{"range around the gateway", "networks:\n  - name: n\n    address: 10.0.0.5/24\n    dhcp: {range: 10.0.0.2-10.0.0.9}\n", 4, "networks[0].dhcp.range: 10.0.0.2-10.0.0.9 contains the gateway address 10.0.0.5"},
		{"range backwards", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {range: 10.0.0.9-10.0.0.2}\n", 4, `networks[0].dhcp.range: "10.0.0.9-10.0.0.2" ends before it starts`},
		{"range not a range", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {range: 10.0.0.9}\n", 4, `networks[0].dhcp.range: "10.0.0.9" is not a range like 192.168.122.2-192.168.122.254`},
		{"lease too short", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {lease: 59s}\n", 4, "networks[0].dhcp.lease: 59s is too short (at least 1m0s)"},
		{"max_leases_per_mac zero", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {max_leases_per_mac: 0}\n", 4, `networks[0].dhcp.max_leases_per_mac: "0" is not a whole number from 1 to 65536`},
		{"max_leases_per_mac not a number", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp:\n      max_leases_per_mac: lots\n", 5, `networks[0].dhcp.max_leases_per_mac: "lots" is not a whole number from 1 to 65536`},
		{"dns not IPv4", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp: {dns: [\"::1\"]}\n", 4, `networks[0].dhcp.dns[0]: "::1" is not an IPv4 address`},
		{"host mac twice", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", ip: 10.0.0.10}\n        - {mac: \"52:54:00:00:00:10\", ip: 10.0.0.11}\n", 7, "networks[0].dhcp.hosts[1].mac: 52:54:00:00:00:10 has two host entries"},
		{"host ip twice", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", ip: 10.0.0.10}\n        - {mac: \"52:54:00:00:00:11\", ip: 10.0.0.10}\n", 7, "networks[0].dhcp.hosts[1].ip: 10.0.0.10 is given to two hosts"},
		{"host without ip", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\"}\n", 6, "networks[0].dhcp.hosts[0]: a DHCP host needs mac and ip"},
		{"host ip is the gateway", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", ip: 10.0.0.1}\n", 5, "networks[0].dhcp.hosts[0].ip: 10.0.0.1 is not a guest address in 10.0.0.0/24"},
		{"host ip outside", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", ip: 10.0.1.1}\n", 5, "networks[0].dhcp.hosts[0].ip: 10.0.1.1 is not a guest address in 10.0.0.0/24"},
		{"forward proto", natNet + "      - {proto: icmp, port: 80, to: \"10.0.0.10:80\"}\n", 9, `networks[0].forwards[0].proto: unknown protocol "icmp" (tcp or udp)`},
		{"forward port zero", natNet + "      - {proto: tcp, port: 0, to: \"10.0.0.10:80\"}\n", 9, "networks[0].forwards[0].port: \"0\" is not a whole number from 1 to 65535\nnetworks[0].forwards[0]: a forward needs proto, port and to"},
		{"forward to outside", natNet + "      - {proto: tcp, port: 80, to: \"10.0.1.10:80\"}\n", 9, "networks[0].forwards[0].to: 10.0.1.10:80 is not inside 10.0.0.0/24"},
		{"forward to without port", natNet + "      - {proto: tcp, port: 80, to: \"10.0.0.10:0\"}\n", 9, "networks[0].forwards[0].to: \"10.0.0.10:0\" is not an address and port like 192.168.122.10:80 or [fd00:122::10]:80\nnetworks[0].forwards[0]: a forward needs proto, port and to"},
		{"forward incomplete", natNet + "      - {proto: tcp, port: 80}\n", 9, "networks[0].forwards[0]: a forward needs proto, port and to"},
		{"forwards without nat", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    forwards:\n      - {proto: tcp, port: 80, to: \"10.0.0.10:80\"}\n", 2, "networks[0].forwards: forwards need mode nat (mode is isolated)"},
		{"uplink incomplete", "uplinks:\n  - {name: w, device: e}\n", 2, "uplinks[0]: an uplink needs name, device and address"},
		{"uplink without gateway", "uplinks:\n  - {name: w, device: e, address: 10.1.0.5/24}\n", 2, "uplinks[0]: an uplink with a static address needs a gateway"},
		{"uplink bad address", "uplinks:\n  - {name: w, device: e, address: 10.1.0.5}\n", 2, `uplinks[0].address: "10.1.0.5" is not "dhcp" or an IPv4 address with prefix length`},
		{"duplicate uplink", "uplinks:\n  - {name: w, device: e, address: dhcp}\n  - {name: w, device: f, address: dhcp}\n", 3, `uplinks[1].name: duplicate uplink name "w"`},
		{"uplink named like a port", "ports:\n  - {name: w, type: tap}\nuplinks:\n  - {name: w, device: e, address: dhcp}\n", 4, `uplinks[0].name: "w" is the name of the port on line 2`},
		{"uplink bad type", "uplinks:\n  - {name: w, type: slirp, device: e, address: dhcp}\n", 2, `uplinks[0].type: "slirp" is not packet or user`},
		{"user uplink with device", "uplinks:\n  - {name: h, type: user, device: eth0}\n", 2, "uplinks[0]: a user uplink has no device, address, gateway or mac: its flows leave as the process's own sockets"},
		{"user uplink without name", "uplinks:\n  - {type: user}\n", 2, "uplinks[0]: an uplink needs a name"},
		{"user uplink routed", "uplinks:\n  - {name: h, type: user}\nnetworks:\n  - {name: n, address: 10.0.0.1/24, mode: routed, uplink: h}\n", 4, "networks[0].uplink: user uplink h serves mode nat only (mode is routed)"},
		{"host_loopback on a packet uplink", "uplinks:\n  - {name: w, device: e, address: dhcp, host_loopback: 10.0.2.2}\n", 2, "uplinks[0].host_loopback: host_loopback is a user uplink's (type: user)"},
		{"host_loopback loopback", "uplinks:\n  - {name: h, type: user, host_loopback: 127.0.0.1}\n", 2, "uplinks[0].host_loopback: 127.0.0.1 is not a unicast IPv4 address a guest can route to (not loopback, link-local, multicast or broadcast)"},
		{"host_loopback broadcast", "uplinks:\n  - {name: h, type: user, host_loopback: 255.255.255.255}\n", 2, "uplinks[0].host_loopback: 255.255.255.255 is not a unicast IPv4 address a guest can route to (not loopback, link-local, multicast or broadcast)"},
		{"host_loopback IPv6", "uplinks:\n  - {name: h, type: user, host_loopback: \"::1\"}\n", 2, `uplinks[0].host_loopback: "::1" is not an IPv4 address`},
		{"host_loopback inside a network", "uplinks:\n  - {name: h, type: user, host_loopback: 10.0.0.2}\nnetworks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: h}\n", 2, "uplinks[0].host_loopback: 10.0.0.2 is inside network n (10.0.0.0/24): guests reach it through the gateway, so it must be outside every network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %v", err, err)
			}
			// Exactly these errors, on their line, with their whole message.
			wants := strings.Split(tt.want, "\n")
			for i := range wants {
				wants[i] = fmt.Sprintf("f.yaml:%d: %s", tt.line, wants[i])
			}
			want := strings.Join(wants, "\n")
			ok := len(es) == len(wants) && err.Error() == want
			for _, e := range es {
				ok = ok && e.Line == tt.line && e.File == "f.yaml"
			}
			if !ok {
				t.Fatalf("got %d errors:\n%v\nwant\n%s", len(es), err, want)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Parse("f.yaml", []byte("ports:\n  - name: a\n    type: tap\n    vlna: 10\n  - {name: b, type: tap, vlan: 5000}\n"))
	want := `f.yaml:4: ports[0].vlna: unknown key "vlna" in a port (known: name, type, vlan, trunk, native, netns, device, socket, listen, max_macs, mtu, mac, queue, socket_owner, socket_mode, isolated, guard, dhcp_relay, max_groups, multicast_router, local, dstport, vnis, remotes, evpn)
f.yaml:5: ports[1].vlan: 5000 is not a VLAN ID (1-4094)`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

// Errors come in line order; those on one line keep the order found.
func TestErrorOrder(t *testing.T) {
	_, err := Parse("f.yaml", []byte("fdb: {ageing: 0s}\nports:\n  - {name: a, type: tap, vlan: 5000, mtu: 1, queue: 3}\nmetrics: [x]\n"))
	want := `f.yaml:1: fdb.ageing: 0s is too short (at least 1s)
f.yaml:3: ports[0].vlan: 5000 is not a VLAN ID (1-4094)
f.yaml:3: ports[0].mtu: "1" is not a whole number from 68 to 65535
f.yaml:3: ports[0].queue: "3" is not a whole number from 16 to 65536
f.yaml:4: metrics: must be a single value`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yaml", Line: 3, Key: "ports[0].vlan", Msg: "bad"}, "f.yaml:3: ports[0].vlan: bad"},
		{Error{File: "f.yaml", Line: 1, Msg: "bad"}, "f.yaml:1: bad"},
		{Error{File: "f.yaml", Key: "k", Msg: "bad"}, "f.yaml: k: bad"}, // line 0: unknown
		{Error{Line: 3, Key: "port.vlan", Msg: "bad"}, "port.vlan: bad"},
		{Error{Msg: "bad"}, "bad"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestAccepts: the edges of every range are accepted, and defaults are
// filled in exactly.
func TestAccepts(t *testing.T) {
	c, err := Parse("f.yaml", []byte(`fdb:
  ageing: 1s
  max_entries: 1
  static:
    - {mac: "52:54:00:00:00:01", port: t, vlan: 1}
    - {mac: "52:54:00:00:00:02", port: t, vlan: 20}
    - {mac: "52:54:00:00:00:03", port: d}
ports:
  - {name: abcdefghijklmno, type: tap, vlan: 1, mtu: 68, queue: 16, max_macs: 0}
  - {name: az-AZ_09.x, type: tap, vlan: 4094, mtu: 65535, queue: 65536, max_macs: 1048576}
  - {name: t, type: afpacket, device: eth1, trunk: [10, 20], native: 1, queue: 512}
  - {name: d, type: tap}
  - {name: q, type: qemu, listen: "127.0.0.1:65535"}
networks:
  - name: a
    address: 10.0.0.1/24
    dhcp: {range: 10.0.0.2-10.0.0.254, lease: 1m, dns: [10.0.0.1], hosts: [{mac: "52:54:00:00:00:10", ip: 10.0.0.254}], max_leases_per_mac: 65536}
  - name: b
    vlan: 2
    address: 10.0.1.254/24
    address6: "2001:db8:0:1:ffff:ffff:ffff:ffff/64"
    dhcp: {range: 10.0.1.1-10.0.1.253}
  - name: c
    vlan: 3
    address: 10.0.2.1/30
    mode: nat
    uplink: w
    forwards: [{proto: udp, port: 65535, to: "10.0.2.2:53"}, {proto: tcp, port: 1, to: "10.0.2.3:1"}]
  - {name: r, vlan: 4, address: 10.0.3.1/24, mode: routed, uplink: v}
uplinks:
  - {name: w, device: eth0, address: 10.1.0.5/24, gateway: 10.1.0.1}
  - {name: v, device: eth2, address: dhcp}
conntrack: {max_entries: 16, max_per_source: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.FDB.Ageing != time.Second || c.FDB.MaxEntries != 1 || c.Conntrack != (Conntrack{MaxEntries: 16, MaxPerSource: 1}) {
		t.Fatalf("fdb %+v conntrack %+v", c.FDB, c.Conntrack)
	}
	type port struct {
		name             string
		vlan, native     uint16
		trunk            string
		mtu, queue, macs int
	}
	var got []port
	for _, p := range c.Ports {
		got = append(got, port{p.Name, p.VLAN, p.Native, fmt.Sprint(p.Trunk), p.MTU, p.Queue, p.MaxMACs})
	}
	want := []port{
		{"abcdefghijklmno", 1, 0, "[]", 68, 16, 0},
		{"az-AZ_09.x", 4094, 0, "[]", 65535, 65536, 1 << 20},
		{"t", 0, 1, "[10 20]", 0, 512, 0},
		{"d", 1, 0, "[]", 0, DefaultQueue, DefaultGuestMACs},
		{"q", 1, 0, "[]", 0, DefaultQueue, DefaultGuestMACs},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ports\n%v\nwant\n%v", got, want)
	}
	if s := fmt.Sprint(c.FDB.Static); s != "[{52:54:00:00:00:01 1 t 5} {52:54:00:00:00:02 20 t 6} {52:54:00:00:00:03 1 d 7}]" {
		t.Fatalf("static %s", s)
	}
	if n := c.Networks[0]; n.VLAN != 1 || n.Mode != ModeIsolated || n.DHCP.Lease != time.Minute || n.DHCP.RangeStart.String() != "10.0.0.2" ||
		n.DHCP.RangeEnd.String() != "10.0.0.254" || fmt.Sprint(n.DHCP.DNS) != "[10.0.0.1]" || n.DHCP.Hosts[0].IP.String() != "10.0.0.254" ||
		n.DHCP.MaxLeasesPerMAC != 1<<16 {
		t.Fatalf("network a %+v %+v", n, n.DHCP)
	}
	if n := c.Networks[1]; n.DHCP.Lease != DefaultLease || n.DHCP.MaxLeasesPerMAC != 4 || n.Address.String() != "10.0.1.254/24" ||
		n.Address6.String() != "2001:db8:0:1:ffff:ffff:ffff:ffff/64" || c.Networks[0].Address6.IsValid() {
		t.Fatalf("network b %+v %+v", n, n.DHCP)
	}
	if f := c.Networks[2].Forwards; fmt.Sprint(f) != "[{udp 65535 10.0.2.2:53 28} {tcp 1 10.0.2.3:1 28}]" {
		t.Fatalf("forwards %v", f)
	}
	if u := c.Uplinks; !u[1].DHCP || u[1].Prefix.IsValid() || u[0].DHCP || u[0].Prefix.String() != "10.1.0.5/24" {
		t.Fatalf("uplinks %+v", u)
	}
}

// A file that is only null is the defaults; any other single value is not
// a config.
func TestNullFile(t *testing.T) {
	for _, y := range []string{"~\n", "null\n", "# nothing\n"} {
		c, err := Parse("f.yaml", []byte(y))
		if err != nil || c.Control != DefaultControl || c.StateDir != DefaultStateDir || len(c.Ports) != 0 || c.Source != "f.yaml" {
			t.Fatalf("%q: %+v %v", y, c, err)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.yaml")
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(path, []byte("ports: [{name: a, type: tap}]\n"), 0o644)
	c, err := Load(path)
	if err != nil || c.Source != path || len(c.Ports) != 1 || c.Ports[0].Line != 1 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestModeNames(t *testing.T) {
	for m, want := range map[Mode]string{ModeIsolated: "isolated", ModeNAT: "nat", ModeRouted: "routed", 3: "unknown", 7: "unknown"} {
		if m.String() != want {
			t.Errorf("Mode(%d) = %q, want %q", m, m.String(), want)
		}
	}
	if ModeIsolated.RoutesOut() || !ModeNAT.RoutesOut() || !ModeRouted.RoutesOut() {
		t.Error("RoutesOut")
	}
	for _, s := range []string{"isolated", "nat", "routed"} {
		c, err := Parse("m.yaml", []byte("networks:\n  - {name: n, address: 10.9.0.1/24, mode: "+s+", uplink: u}\nuplinks:\n  - {name: u, device: eth9, address: 10.8.0.5/24, gateway: 10.8.0.1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Networks[0].Mode.String(); got != s {
			t.Errorf("mode %s parsed as %s", s, got)
		}
	}
}

func TestUserUplink(t *testing.T) {
	c, err := Parse("u.yaml", []byte("uplinks:\n  - {name: host, type: user, host_loopback: 10.0.2.2}\n  - {name: wan, device: eth0, address: dhcp}\n"+
		"networks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: host, forwards: [{proto: tcp, port: 8080, to: \"10.0.0.9:80\"}, {proto: udp, port: 5353, to: \"10.0.0.9:53\"}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Uplinks; u[0].Type != UplinkUser || u[0].Device != "" || u[0].DHCP || u[0].HostLoopback != netip.MustParseAddr("10.0.2.2") ||
		u[1].Type != UplinkPacket || u[1].HostLoopback.IsValid() {
		t.Fatalf("uplinks %+v", u)
	}
	if f := c.Networks[0].Forwards; len(f) != 2 || f[1].Proto != "udp" || f[1].Port != 5353 {
		t.Fatalf("forwards %+v", f)
	}
}

// multicast_snooping is on unless set false; max_groups is unset (0: the
// switch's default), a number, or written 0 for no limit (-1).
func TestMulticastKeys(t *testing.T) {
	c, err := Parse("f.yaml", []byte("ports:\n  - {name: a, type: tap}\n  - {name: b, type: tap, max_groups: 8}\n  - {name: c, type: tap, max_groups: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.MulticastSnooping {
		t.Error("multicast_snooping is off by default")
	}
	if got := []int{c.Ports[0].MaxGroups, c.Ports[1].MaxGroups, c.Ports[2].MaxGroups}; fmt.Sprint(got) != "[0 8 -1]" {
		t.Errorf("max_groups = %v, want [0 8 -1]", got)
	}
	c, err = Parse("f.yaml", []byte(`ports:
  - {name: t, type: tap}
  - {name: q, type: qemu, socket: /run/q.sock}
  - {name: tt, type: tap, trunk: [2, 3]}
  - {name: af, type: afpacket, device: eth0}
  - {name: x, type: vxlan, local: 192.0.2.1, vnis: {100: 1}, remotes: [192.0.2.2]}
  - {name: ta, type: tap, multicast_router: always}
  - {name: afn, type: afpacket, device: eth1, multicast_router: never}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Ports {
		got = append(got, p.MulticastRouter)
	}
	if want := "[never never auto auto auto always never]"; fmt.Sprint(got) != want {
		t.Errorf("multicast_router = %v, want %s", got, want)
	}
	c, err = Parse("f.yaml", []byte("multicast_snooping: false\n"))
	if err != nil || c.MulticastSnooping {
		t.Fatalf("multicast_snooping: false gave %v, %v", c, err)
	}
}

// cpus is all (0) unless given: a count, or all spelled out.
func TestCPUsKey(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want CPUs
		str  string
	}{
		{"", 0, "all"},
		{"cpus: all\n", 0, "all"},
		{"cpus: 1\n", 1, "1"},
		{"cpus: 4096\n", 4096, "4096"},
	} {
		c, err := Parse("f.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if c.CPUs != tt.want || c.CPUs.String() != tt.str {
			t.Errorf("%q: cpus %d (%s), want %d (%s)", tt.yaml, c.CPUs, c.CPUs, tt.want, tt.str)
		}
	}
}
