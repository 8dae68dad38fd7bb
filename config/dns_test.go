package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestDNSParse(t *testing.T) {
	c, err := Parse("d.yaml", []byte(`networks:
  - name: a
    address: 10.0.0.1/24
    dhcp: {range: 10.0.0.2-10.0.0.9, domain: lab}
    dns:
      forwarders: [192.0.2.53, "127.0.0.1:5353", "::1", "[fd00::1]:54"]
      hosts: [{name: db, ip: 10.0.0.20}, {name: DB-2, ip: 192.0.2.1}]
  - name: b
    vlan: 2
    address: 10.0.1.1/24
    dhcp: {range: 10.0.1.2-10.0.1.9, dns: [9.9.9.9]}
  - name: c
    vlan: 3
    address: 10.0.2.1/24
    dhcp: {range: 10.0.2.2-10.0.2.9}
    dns: {enable: false}
  - name: d
    vlan: 4
    address: 10.0.3.1/24
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc, d := c.Networks[0], c.Networks[1], c.Networks[2], c.Networks[3]
	wantFw := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("127.0.0.1:5353"),
		netip.MustParseAddrPort("[::1]:53"), netip.MustParseAddrPort("[fd00::1]:54")}
	if !a.DNS.Enable || !slices.Equal(a.DNS.Forwarders, wantFw) ||
		!slices.Equal(a.DNS.Hosts, []DNSHost{{"db", netip.MustParseAddr("10.0.0.20")}, {"DB-2", netip.MustParseAddr("192.0.2.1")}}) {
		t.Fatalf("a: %+v", a.DNS)
	}
	// Option 6: the gateway while DNS is on and nothing else is given.
	for _, tc := range []struct {
		n    Network
		want string
	}{{a, "[10.0.0.1]"}, {b, "[9.9.9.9]"}, {cc, "[]"}} {
		if got := fmtAddrs(tc.n.DHCP.DNS); got != tc.want {
			t.Errorf("%s: dhcp.dns %s, want %s", tc.n.Name, got, tc.want)
		}
	}
	if !d.DNS.Enable || cc.DNS.Enable {
		t.Fatalf("enable: d %v c %v", d.DNS.Enable, cc.DNS.Enable)
	}
}

func fmtAddrs(a []netip.Addr) string {
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = x.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestDNSErrors(t *testing.T) {
	pre := "networks:\n  - name: a\n    address: 10.0.0.1/24\n    dns:\n"
	tests := []struct {
		name, yaml string
		want       string
	}{
		{"unknown key", "      enabled: true\n", `d.yaml:5: networks[0].dns.enabled: unknown key "enabled" in dns (known: enable, forwarders, hosts)`},
		{"enable not bool", "      enable: yes\n", `d.yaml:5: networks[0].dns.enable: "yes" is not true or false`},
		{"bad forwarder", "      forwarders: [dns.google]\n", `d.yaml:5: networks[0].dns.forwarders[0]: "dns.google" is not an address or address:port, like 192.168.1.1 or 127.0.0.1:5353`},
		{"port 0", "      forwarders: [\"1.1.1.1:0\"]\n", `d.yaml:5: networks[0].dns.forwarders[0]: "1.1.1.1:0" is not an address or address:port, like 192.168.1.1 or 127.0.0.1:5353`},
		{"bad name", "      hosts: [{name: a.b, ip: 10.0.0.5}]\n", `d.yaml:5: networks[0].dns.hosts[0].name: "a.b" is not a host name (letters, digits and inner hyphens, at most 63)`},
		{"hyphen name", "      hosts: [{name: -x, ip: 10.0.0.5}]\n", `d.yaml:5: networks[0].dns.hosts[0].name: "-x" is not a host name (letters, digits and inner hyphens, at most 63)`},
		{"no ip", "      hosts: [{name: x}]\n", `d.yaml:5: networks[0].dns.hosts[0]: a DNS host needs name and ip`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("d.yaml", []byte(pre+tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
