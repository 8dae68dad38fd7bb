package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDefaultParses(t *testing.T) {
	c := Default()
	if len(c.Ports) != 2 || c.Ports[0].Name != "vsw0" || c.Ports[1].Name != "vsw1" {
		t.Fatalf("ports %+v", c.Ports)
	}
	if len(c.Networks) != 1 || c.Networks[0].Address.String() != "192.168.122.1/24" || c.Networks[0].Mode != "isolated" {
		t.Fatalf("networks %+v", c.Networks)
	}
	if c.FDB.Ageing != 300*time.Second || c.Metrics != DefaultMetrics || c.Ports[0].Queue != DefaultQueue {
		t.Fatalf("defaults %+v", c)
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
	if n.DHCP == nil || len(n.DHCP.Hosts) != 1 || n.Forwards[0].To.String() != "192.168.122.10:80" || n.Mode != "nat" {
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
		want       string // the whole message after FILE:LINE:
	}{
		{"unknown key", "ports:\n  - name: a\n    type: tap\n    vlna: 10\n", 4, `ports[0].vlna: unknown key "vlna" in a port (known: name, type, vlan, trunk, native, netns, device, socket, listen, max_macs, mtu, mac, queue)`},
		{"unknown top key", "portz: []\n", 1, `portz: unknown key "portz" in the config (known: control, metrics, state_dir, fdb, ports, networks, uplinks, conntrack)`},
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
		{"vxlan", "ports:\n  - name: v\n    type: vxlan\n", 3, "ports[0].type: the vxlan port type is not implemented yet"},
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
			// Exactly one error, on its line, with its whole message.
			want := fmt.Sprintf("f.yaml:%d: %s", tt.line, tt.want)
			if len(es) != 1 || es[0].Line != tt.line || es[0].File != "f.yaml" || err.Error() != want {
				t.Fatalf("got %d errors:\n%v\nwant\n%s", len(es), err, want)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Parse("f.yaml", []byte("ports:\n  - name: a\n    type: tap\n    vlna: 10\n  - {name: b, type: tap, vlan: 5000}\n"))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "f.yaml:4: ") || !strings.HasPrefix(lines[1], "f.yaml:5: ") {
		t.Fatalf("%q", lines)
	}
}

func TestParsePort(t *testing.T) {
	p, err := ParsePort([]byte(`{"name":"vm3","type":"afpacket","device":"vnet3","trunk":[10,20],"native":1}`))
	if err != nil || !p.IsTrunk() || p.Device != "vnet3" || p.Queue != DefaultQueue {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := ParsePort([]byte(`{"name":"x","type":"tap","vlan":9999}`)); err == nil || err.Error() != "port.vlan: 9999 is not a VLAN ID (1-4094)" {
		t.Fatalf("%v", err)
	}
	// The API refuses what the config refuses: no file, no line.
	if _, err := ParsePort([]byte(`{"name":"x","type":"vxlan"}`)); err == nil || err.Error() != "port.type: the vxlan port type is not implemented yet" {
		t.Fatalf("%v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(defaultYAML))
	f.Add(archExample)
	f.Add("ports: [{name: a, type: tap, vlan: 1}]\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse("f.yaml", []byte(s))
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && c != nil {
			t.Fatal("config and error")
		}
	})
}

const archExample = `control: /run/vswitch/vswitch.sock
metrics: 127.0.0.1:9477
state_dir: /var/lib/vswitch
fdb: {ageing: 300s, max_entries: 8192}
ports:
  - {name: vm1, type: tap, vlan: 10, netns: h1, max_macs: 4}
  - {name: trunk0, type: afpacket, device: eth1, trunk: [10, 20], native: 1}
  - {name: vm3, type: qemu, socket: /run/vswitch/vm3.sock, vlan: 10}
networks:
  - name: default
    vlan: 10
    address: 192.168.122.1/24
    mode: nat
    uplink: wan
    dhcp:
      range: 192.168.122.2-192.168.122.254
      lease: 1h
      dns: [192.168.122.1]
      domain: lab
      hosts: [{mac: "52:54:00:00:00:10", ip: 192.168.122.10, name: web}]
    forwards: [{proto: tcp, port: 8080, to: "192.168.122.10:80"}]
uplinks:
  - {name: wan, device: eth0, address: 10.0.0.5/24, gateway: 10.0.0.1}
conntrack: {max_entries: 65536}
`
