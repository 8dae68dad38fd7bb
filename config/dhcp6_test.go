package config

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestDHCP6Errors(t *testing.T) {
	const net6 = "networks:\n  - name: n\n    address: 10.0.0.1/24\n    address6: fd00:122::1/64\n"
	for _, tt := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"without address6", "networks:\n  - name: n\n    address: 10.0.0.1/24\n    dhcp6: {range: fd00::10-fd00::20}\n", 4, "networks[0].dhcp6: dhcp6 needs address6 on the network (the /64 it serves)"},
		{"range outside", net6 + "    dhcp6: {range: fd00:123::10-fd00:123::20}\n", 5, "networks[0].dhcp6.range: fd00:123::10-fd00:123::20 is not inside fd00:122::/64"},
		{"range around the gateway", net6 + "    dhcp6: {range: fd00:122::0:1-fd00:122::ff}\n", 5, "networks[0].dhcp6.range: fd00:122::1-fd00:122::ff contains the gateway address fd00:122::1"},
		{"range IPv4", net6 + "    dhcp6: {range: 10.0.0.2-10.0.0.9}\n", 5, `networks[0].dhcp6.range: "10.0.0.2-10.0.0.9" is not a range like fd00:122::100-fd00:122::1ff`},
		{"range backwards", net6 + "    dhcp6: {range: \"fd00:122::20-fd00:122::10\"}\n", 5, `networks[0].dhcp6.range: "fd00:122::20-fd00:122::10" ends before it starts`},
		{"lease too short", net6 + "    dhcp6: {lease: 30s}\n", 5, "networks[0].dhcp6.lease: 30s is too short (at least 1m0s)"},
		{"dns not IPv6", net6 + "    dhcp6: {dns: [10.0.0.1]}\n", 5, `networks[0].dhcp6.dns[0]: "10.0.0.1" is not an IPv6 unicast address`},
		{"bad domain", net6 + "    dhcp6: {domain: \"a..b\"}\n", 5, `networks[0].dhcp6.domain: "a..b" is not a domain name like lab.example`},
		{"unknown key", net6 + "    dhcp6: {ranges: x}\n", 5, `networks[0].dhcp6.ranges: unknown key "ranges" in dhcp6 (known: range, lease, dns, domain, hosts, max_leases_per_mac)`},
		{"host with mac and duid", net6 + "    dhcp6:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", duid: \"00:03:00:01:52:54:00:00:00:10\", ip: \"fd00:122::10\"}\n", 7, "networks[0].dhcp6.hosts[0]: a DHCPv6 host needs ip and one of mac or duid"},
		{"host without ip", net6 + "    dhcp6:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\"}\n", 7, "networks[0].dhcp6.hosts[0]: a DHCPv6 host needs ip and one of mac or duid"},
		{"host bad duid", net6 + "    dhcp6:\n      hosts:\n        - {duid: \"zz\", ip: \"fd00:122::10\"}\n", 7, `networks[0].dhcp6.hosts[0].duid: "zz" is not a DUID in hex, like 00:03:00:01:52:54:00:12:34:56`},
		{"host duid twice", net6 + "    dhcp6:\n      hosts:\n        - {duid: \"000300015254\", ip: \"fd00:122::10\"}\n        - {duid: \"00:03:00:01:52:54\", ip: \"fd00:122::11\"}\n", 8, `networks[0].dhcp6.hosts[1].duid: 00:03:00:01:52:54 has two host entries`},
		{"host ip twice", net6 + "    dhcp6:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", ip: \"fd00:122::10\"}\n        - {mac: \"52:54:00:00:00:11\", ip: \"fd00:122::10\"}\n", 8, "networks[0].dhcp6.hosts[1].ip: fd00:122::10 is given to two hosts"},
		{"host ip outside", net6 + "    dhcp6:\n      hosts:\n        - {mac: \"52:54:00:00:00:10\", ip: \"fd00:9::10\"}\n", 6, "networks[0].dhcp6.hosts[0].ip: fd00:9::10 is not a guest address in fd00:122::/64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 || es[0].Line != tt.line || es[0].Key+": "+es[0].Msg != tt.want {
				t.Fatalf("got %v, want f.yaml:%d: %s", err, tt.line, tt.want)
			}
		})
	}
}

func TestDHCP6Accepts(t *testing.T) {
	c, err := Parse("f.yaml", []byte(`networks:
  - name: n
    address: 10.0.0.1/24
    address6: fd00:122::1/64
    dhcp: {domain: lab.example}
    dhcp6:
      range: fd00:122::100-fd00:122::1ff
      lease: 2h
      hosts:
        - {mac: "52:54:00:00:00:10", ip: "fd00:122::10", name: db}
        - {duid: "00:03:00:01:52:54:00:00:00:11", ip: "fd00:122::11"}
  - name: s
    vlan: 2
    address: 10.0.1.1/24
    address6: fd00:123::1/64
    dhcp6: {}
    dns: {enable: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Networks[0].DHCP6
	if h.RangeStart != netip.MustParseAddr("fd00:122::100") || h.RangeEnd != netip.MustParseAddr("fd00:122::1ff") || h.Lease != 2*time.Hour ||
		h.MaxLeasesPerMAC != 4 || h.Domain != "lab.example" || len(h.DNS) != 1 || h.DNS[0] != netip.MustParseAddr("fd00:122::1") {
		t.Fatalf("dhcp6 %+v", h)
	}
	if len(h.Hosts) != 2 || h.Hosts[0].Name != "db" || h.Hosts[0].MAC.String() != "52:54:00:00:00:10" ||
		string(h.Hosts[1].DUID) != "\x00\x03\x00\x01\x52\x54\x00\x00\x00\x11" || h.Hosts[1].IP != netip.MustParseAddr("fd00:122::11") {
		t.Fatalf("hosts %+v", h.Hosts)
	}
	if s := c.Networks[1].DHCP6; s == nil || s.RangeStart.IsValid() || len(s.DNS) != 0 {
		t.Fatalf("stateless %+v", s)
	}
	if c.Networks[0].DHCP6 == nil || c.Networks[1].DHCP != nil {
		t.Fatal("dhcp")
	}
}
