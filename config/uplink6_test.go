package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// TestUplink6: an uplink's address6 and gateway6 (global or link-local)
// parse, gateway6 may be left out, and an IPv6 forward to a guest in the
// network's /64 is taken beside an IPv4 one on the same port.
func TestUplink6(t *testing.T) {
	c, err := Parse("u.yaml", []byte(`uplinks:
  - {name: wan, device: eth0, address: 10.0.0.5/24, gateway: 10.0.0.1, address6: "2001:db8:1::2/64", gateway6: "2001:db8:1::1"}
  - {name: wan2, device: eth1, address: dhcp, address6: "2001:db8:2::2/64", gateway6: "fe80::1"}
  - {name: wan3, device: eth2, address: dhcp, address6: "2001:db8:3::2/64"}
networks:
  - name: n
    address: 10.9.0.1/24
    address6: "fd00:122::1/64"
    mode: nat
    uplink: wan
    forwards:
      - {proto: tcp, port: 8080, to: "[fd00:122::10]:80"}
      - {proto: tcp, port: 8080, to: "10.9.0.10:80"}
`))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uplinks
	if u[0].Prefix6 != netip.MustParsePrefix("2001:db8:1::2/64") || u[0].Gateway6 != netip.MustParseAddr("2001:db8:1::1") ||
		u[1].Gateway6 != netip.MustParseAddr("fe80::1") || !u[2].Prefix6.IsValid() || u[2].Gateway6.IsValid() {
		t.Fatalf("uplinks %+v", u)
	}
	if f := c.Networks[0].Forwards; len(f) != 2 || f[0].To != netip.MustParseAddrPort("[fd00:122::10]:80") {
		t.Fatalf("forwards %+v", f)
	}
}

// TestUplink6Auto: address6: auto takes the address from the outside
// link, with or without gateway6 (which then overrides the advertised
// router, global or link-local: the prefix is not known yet), and lets
// an IPv6 forward through the uplink.
func TestUplink6Auto(t *testing.T) {
	c, err := Parse("u.yaml", []byte(`uplinks:
  - {name: wan, device: eth0, address: dhcp, address6: auto}
  - {name: wan2, device: eth1, address: dhcp, address6: auto, gateway6: "2001:db8:9::1"}
  - {name: wan3, device: eth2, address: dhcp, address6: auto, gateway6: "fe80::1"}
networks:
  - {name: n, address: 10.9.0.1/24, address6: "fd00:122::1/64", mode: nat, uplink: wan, forwards: [{proto: tcp, port: 80, to: "[fd00:122::10]:80"}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		gw string
	}{{""}, {"2001:db8:9::1"}, {"fe80::1"}}
	for i, u := range c.Uplinks {
		var gw netip.Addr
		if want[i].gw != "" {
			gw = netip.MustParseAddr(want[i].gw)
		}
		if !u.Auto6 || u.Prefix6.IsValid() || u.Gateway6 != gw {
			t.Fatalf("uplink %d: %+v, want auto with gateway6 %v", i, u, gw)
		}
	}
	if c2, err := Parse("u.yaml", []byte("uplinks:\n  - {name: wan, device: eth0, address: dhcp, address6: \"2001:db8::2/64\"}\n")); err != nil || c2.Uplinks[0].Auto6 {
		t.Fatalf("static address6 taken as auto: %v %+v", err, c2)
	}
}

func TestUplink6Errors(t *testing.T) {
	const up = "uplinks:\n  - {name: w, device: e, address: dhcp, "
	const net6 = "uplinks:\n  - {name: w, device: e, address: dhcp, address6: \"2001:db8::2/64\"}\nnetworks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: w, "
	for _, tt := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"user uplink auto", "uplinks:\n  - {name: h, type: user}\n  - {name: h2, type: user, address6: auto}\n", 3, `uplinks[1]: a user uplink has no address6 or gateway6: its flows leave as the process's own sockets`},
		{"auto gateway6 multicast", up + "address6: auto, gateway6: \"ff02::2\"}\n", 2, `uplinks[0].gateway6: ff02::2 is not a unicast address`},
		{"address6 IPv4", up + "address6: 10.0.0.5/24}\n", 2, `uplinks[0].address6: "10.0.0.5/24" is not an IPv6 address with a prefix length, like 2001:db8:1::2/64`},
		{"address6 no length", up + "address6: \"2001:db8::2\"}\n", 2, `uplinks[0].address6: "2001:db8::2" is not an IPv6 address with a prefix length, like 2001:db8:1::2/64`},
		{"address6 link-local", up + "address6: \"fe80::2/64\"}\n", 2, `uplinks[0].address6: "fe80::2/64" is link-local: the uplink has its link-local address from its MAC; give a global or unique-local address`},
		{"address6 multicast", up + "address6: \"ff02::2/64\"}\n", 2, `uplinks[0].address6: "ff02::2/64" is not a unicast address`},
		{"address6 anycast", up + "address6: \"2001:db8::/64\"}\n", 2, `uplinks[0].address6: "2001:db8::/64" is the subnet-router anycast address (host part zero): give the uplink a host address`},
		{"gateway6 IPv4", up + "address6: \"2001:db8::2/64\", gateway6: 10.0.0.1}\n", 2, `uplinks[0].gateway6: "10.0.0.1" is not an IPv6 address`},
		{"gateway6 multicast", up + "address6: \"2001:db8::2/64\", gateway6: \"ff02::2\"}\n", 2, `uplinks[0].gateway6: ff02::2 is not a unicast address`},
		{"gateway6 alone", up + "gateway6: \"fe80::1\"}\n", 2, `uplinks[0].gateway6: gateway6 needs address6`},
		{"gateway6 outside", up + "address6: \"2001:db8::2/64\", gateway6: \"2001:db9::1\"}\n", 2, `uplinks[0].gateway6: 2001:db9::1 is neither link-local nor inside 2001:db8::/64`},
		{"gateway6 itself", up + "address6: \"2001:db8::2/64\", gateway6: \"2001:db8::2\"}\n", 2, `uplinks[0].gateway6: 2001:db8::2 is the uplink's own address6`},
		{"user uplink address6", "uplinks:\n  - {name: h, type: user, address6: \"2001:db8::2/64\"}\n", 2, `uplinks[0]: a user uplink has no address6 or gateway6: its flows leave as the process's own sockets`},
		{"forward6 without address6", net6 + "forwards: [{proto: tcp, port: 80, to: \"[fd00:122::10]:80\"}]}\n", 4, `networks[0].forwards[0].to: [fd00:122::10]:80 is IPv6, but the network has no address6`},
		{"forward6 outside", net6 + "address6: \"fd00:122::1/64\", forwards: [{proto: tcp, port: 80, to: \"[fd00:123::10]:80\"}]}\n", 4, `networks[0].forwards[0].to: [fd00:123::10]:80 is not a guest address in the network's address6 fd00:122::/64`},
		{"forward6 gateway", net6 + "address6: \"fd00:122::1/64\", forwards: [{proto: tcp, port: 80, to: \"[fd00:122::1]:80\"}]}\n", 4, `networks[0].forwards[0].to: [fd00:122::1]:80 is not a guest address in the network's address6 fd00:122::/64`},
		{"forward6 through an uplink without address6", "uplinks:\n  - {name: w, device: e, address: dhcp}\nnetworks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: w, address6: \"fd00:122::1/64\", forwards: [{proto: tcp, port: 80, to: \"[fd00:122::10]:80\"}]}\n", 4, `networks[0].forwards: [fd00:122::10]:80 is an IPv6 forward: uplink w needs address6`},
		{"forward mapped", net6 + "forwards: [{proto: tcp, port: 80, to: \"[::ffff:10.0.0.9]:80\"}]}\n", 4, `networks[0].forwards[0].to: "[::ffff:10.0.0.9]:80" is not an address and port like 192.168.122.10:80 or [fd00:122::10]:80` + "\n" + `networks[0].forwards[0]: a forward needs proto, port and to`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %v", err, err)
			}
			if got := err.Error(); got != joinAt(tt.line, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", got, joinAt(tt.line, tt.want))
			}
		})
	}
}

// joinAt puts "f.yaml:LINE: " before each line of want.
func joinAt(line int, want string) string {
	ws := strings.Split(want, "\n")
	for i := range ws {
		ws[i] = fmt.Sprintf("f.yaml:%d: %s", line, ws[i])
	}
	return strings.Join(ws, "\n")
}
