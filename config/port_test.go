package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Port names: letters, digits, '-', '_' and '.'; each character just
// outside a range is refused.
func TestPortNameCharacters(t *testing.T) {
	for _, n := range []string{"a/b", "a:b", "a@b", "a[b", "a`b", "a{b", "a b", "a+b", "é"} {
		_, err := ParsePort([]byte(fmt.Sprintf(`{"name": %q, "type": "tap"}`, n)))
		want := fmt.Sprintf("port.name: %q may use only letters, digits, '-', '_' and '.'", n)
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", n, err, want)
		}
	}
	for _, n := range []string{".", ".."} {
		_, err := ParsePort([]byte(fmt.Sprintf(`{"name": %q, "type": "tap"}`, n)))
		if want := fmt.Sprintf("port.name: %q is not a usable name", n); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", n, err, want)
		}
	}
	if _, err := ParsePort([]byte(`{"name": "a...b", "type": "tap"}`)); err != nil {
		t.Errorf("a...b: %v", err)
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
	if _, err := ParsePort([]byte(`{"name":"x","type":"vxlan","vnis":{"10":1010}}`)); err == nil || err.Error() != "port: a vxlan port needs remotes: the VTEPs to send to (or evpn: true to learn them)" {
		t.Fatalf("%v", err)
	}
	if p, err := ParsePort([]byte(`{name: vx1, type: vxlan, vnis: {10: 7}, evpn: true}`)); err != nil || !p.VXLAN.EVPN || p.VXLAN.Remotes != nil {
		t.Fatalf("evpn without remotes: %+v %v", p, err)
	}
	p, err = ParsePort([]byte(`{name: vx0, type: vxlan, local: 10.0.0.5, vnis: {20: 1020, 10: 1010}, remotes: [10.0.0.6, 10.0.0.7]}`))
	want := VXLAN{Local: netip.MustParseAddr("10.0.0.5"), DstPort: 4789, VNIs: map[uint16]uint32{10: 1010, 20: 1020},
		Remotes: []netip.Addr{netip.MustParseAddr("10.0.0.6"), netip.MustParseAddr("10.0.0.7")}}
	if err != nil || !reflect.DeepEqual(p.VXLAN, want) || !slices.Equal(p.Trunk, []uint16{10, 20}) || p.VLAN != 0 || p.Native != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

// The port flags isolated and dhcp_relay: true and false as given on tap,
// qemu and afpacket ports, false when absent; also through the API's JSON.
func TestPortFlags(t *testing.T) {
	for key, get := range map[string]func(Port) bool{
		"isolated":   func(p Port) bool { return p.Isolated },
		"dhcp_relay": func(p Port) bool { return p.DHCPRelay },
	} {
		c, err := Parse("f.yaml", []byte(strings.ReplaceAll(`ports:
  - {name: a, type: tap, KEY: true}
  - {name: b, type: qemu, socket: /s, KEY: false}
  - {name: c, type: afpacket, device: e, trunk: [2], KEY: true}
  - {name: d, type: tap}
`, "KEY", key)))
		if err != nil {
			t.Fatal(err)
		}
		var got []bool
		for _, p := range c.Ports {
			got = append(got, get(p))
		}
		if fmt.Sprint(got) != "[true false true false]" {
			t.Fatalf("%s %v", key, got)
		}
		if p, err := ParsePort([]byte(`{"name": "x", "type": "tap", "` + key + `": true}`)); err != nil || !get(p) {
			t.Fatalf("%s JSON: %+v %v", key, p, err)
		}
	}
}

// guard: dhcp, and the static lists, as given; absent: no guard.
func TestPortGuard(t *testing.T) {
	c, err := Parse("f.yaml", []byte(`ports:
  - {name: a, type: tap, guard: dhcp}
  - {name: b, type: qemu, socket: /s, guard: {macs: ["52:54:00:00:00:01"], ips: [10.0.0.2, 10.0.0.3]}}
  - {name: c, type: tap, guard: {macs: ["52:54:00:00:00:02"]}}
  - {name: d, type: tap, guard: {ips: [10.0.0.4, "fd00::4", "fe80::4"]}}
  - {name: e, type: tap}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Ports {
		got = append(got, fmt.Sprintf("%+v", p.Guard))
	}
	want := "[&{DHCP:true MACs:[] IPs:[]} &{DHCP:false MACs:[52:54:00:00:00:01] IPs:[10.0.0.2 10.0.0.3]} &{DHCP:false MACs:[52:54:00:00:00:02] IPs:[]} &{DHCP:false MACs:[] IPs:[10.0.0.4 fd00::4 fe80::4]} <nil>]"
	if fmt.Sprint(got) != want {
		t.Fatalf("guards\n%v\nwant\n%s", got, want)
	}
	if p, err := ParsePort([]byte(`{"name": "x", "type": "tap", "guard": {"ips": ["10.0.0.9"]}}`)); err != nil || p.Guard == nil || p.Guard.IPs[0].String() != "10.0.0.9" {
		t.Fatalf("JSON: %+v %v", p, err)
	}
}
