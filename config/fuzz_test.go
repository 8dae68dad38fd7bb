package config

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// FuzzParse: Parse returns a config or errors, never both; every error
// names the file, a line of the input (0: none) and a message, in line
// order; every accepted config holds the invariants the daemon relies on.
func FuzzParse(f *testing.F) {
	f.Add(string(defaultYAML))
	f.Add(archExample)
	f.Add("ports: [{name: a, type: tap, vlan: 1}]\n")
	f.Add("cpus: 1\nports: [{name: a, type: tap}]\n")
	f.Add("cpus: all\n")
	f.Add("ports:\n  - {name: vx, type: vxlan, local: 10.0.0.5, dstport: 4789, vnis: {10: 1010, 20: 1020}, remotes: [10.0.0.6, 10.0.0.7]}\n")
	f.Add("bgp: {asn: 65001, router_id: 10.0.0.5, listen_port: -1, neighbors: [{address: 10.0.0.6, asn: 65002, port: 1179}]}\nports:\n  - {name: vx, type: vxlan, vnis: {10: 7}, evpn: true}\n")
	f.Add("ports:\n  - {name: t, type: afpacket, device: e, trunk: [10, 20], native: 1}\nfdb:\n  static:\n    - {mac: \"52:54:00:00:00:01\", port: t, vlan: 20}\n")
	f.Add(natNet + "      - {proto: udp, port: 53, to: \"10.0.0.2:53\"}\n")
	f.Add("uplinks:\n  - {name: h, type: user}\nnetworks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: h}\n")
	f.Add("uplinks:\n  - {name: h, type: user, host_loopback: 10.0.2.2}\nnetworks:\n  - {name: n, address: 10.0.0.1/24, mode: nat, uplink: h, forwards: [{proto: udp, port: 53, to: \"10.0.0.9:53\"}]}\n")
	f.Add("ports:\n  - {name: a, type: tap, vlan: 5000, mtu: 1}\n  - {name: a, type: vxlan}\n")
	f.Add("ports:\n  - {name: q, type: qemu, socket: /s, socket_owner: \"qemu:107\", socket_mode: 0660}\n")
	f.Add("networks:\n  - {name: a, address: 10.0.0.1/24, address6: \"fd00:122::1/64\"}\n  - {name: b, vlan: 2, address: 10.0.1.1/24, address6: \"fd00:122::2/64\"}\n")
	f.Add("ports:\n  - {name: a, type: tap, isolated: true, guard: dhcp}\n  - {name: b, type: qemu, socket: /s, max_macs: 0, guard: {macs: [\"52:54:00:00:00:01\"], ips: [10.0.0.2]}}\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse("f.yaml", []byte(s))
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c != nil, err)
		}
		if err != nil {
			checkErrors(t, s, err)
			return
		}
		checkConfig(t, c)
	})
}

// checkPortSecurity: a guard is dhcp or non-empty lists of unicast
// addresses; max_macs is never negative; max_groups is -1 (none), 0
// (default) or a limit.
func checkPortSecurity(t *testing.T, p *Port) {
	if p.MaxMACs < 0 || p.MaxMACs > 1<<20 {
		t.Fatalf("port %s: max_macs %d", p.Name, p.MaxMACs)
	}
	if p.MaxGroups < -1 || p.MaxGroups > 1<<16 {
		t.Fatalf("port %s: max_groups %d", p.Name, p.MaxGroups)
	}
	if p.MulticastRouter != "auto" && p.MulticastRouter != "never" && p.MulticastRouter != "always" {
		t.Fatalf("port %s: multicast_router %q", p.Name, p.MulticastRouter)
	}
	g := p.Guard
	if g == nil {
		return
	}
	if g.DHCP == (len(g.MACs)+len(g.IPs) > 0) {
		t.Fatalf("port %s: guard %+v", p.Name, g)
	}
	for _, m := range g.MACs {
		if m.IsZero() || m.IsMulticast() {
			t.Fatalf("port %s: guard MAC %s", p.Name, m)
		}
	}
	for _, a := range g.IPs {
		if !a.Is4() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			t.Fatalf("port %s: guard address %s", p.Name, a)
		}
	}
}

func checkErrors(t *testing.T, in string, err error) {
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %v", err, err)
	}
	// YAML breaks lines at CR, LF, CRLF and (go-yaml, as libyaml) NEL, LS, PS,
	// counted in the text go-yaml reads: UTF-16 after a byte order mark.
	lines := 1 + strings.Count(strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(yamlText(in)), "\n")
	var msgs []string
	for i, e := range es {
		if e.File != "f.yaml" || e.Line < 0 || e.Line > lines || e.Msg == "" {
			t.Fatalf("error %d of %d: %+v (input has %d lines)", i, len(es), e, lines)
		}
		if i > 0 && e.Line < es[i-1].Line {
			t.Fatalf("errors out of line order:\n%v", err)
		}
		msgs = append(msgs, e.Error())
	}
	if err.Error() != strings.Join(msgs, "\n") {
		t.Fatalf("Errors.Error is not its errors a line each:\n%v", err)
	}
}

func checkConfig(t *testing.T, c *Config) {
	if c.Control == "" || c.Source != "f.yaml" || c.FDB.Ageing < time.Second || c.FDB.MaxEntries < 1 || c.Conntrack.MaxEntries < 16 {
		t.Fatalf("config %+v", c)
	}
	names := map[string]*Port{}
	for i := range c.Ports {
		p := &c.Ports[i]
		if names[p.Name] != nil || checkIfName(p.Name) != nil || p.Name == "" {
			t.Fatalf("port name %q", p.Name)
		}
		names[p.Name] = p
		if p.Type != "tap" && p.Type != "afpacket" && p.Type != "qemu" && p.Type != "vxlan" {
			t.Fatalf("port %s: type %q accepted", p.Name, p.Type)
		}
		checkVXLAN(t, c, p)
		if p.Queue < 16 || p.Queue > 65536 || p.Queue&(p.Queue-1) != 0 {
			t.Fatalf("port %s: queue %d", p.Name, p.Queue)
		}
		if p.IsTrunk() == (p.VLAN != 0) || (!p.IsTrunk() && p.VLAN > 4094) || (!p.IsTrunk() && p.Native != 0) {
			t.Fatalf("port %s: vlan %d trunk %v native %d", p.Name, p.VLAN, p.Trunk, p.Native)
		}
		if p.Type == "qemu" && (p.Socket == "") == (p.Listen == "") || p.Type == "afpacket" && p.Device == "" {
			t.Fatalf("port %+v", p)
		}
		checkSocketKeys(t, p)
		checkPortSecurity(t, p)
	}
	for _, e := range c.FDB.Static {
		if p := names[e.Port]; p == nil || !p.Carries(e.VLAN) || e.MAC.IsZero() || e.MAC.IsMulticast() {
			t.Fatalf("static %+v", e)
		}
	}
	users := map[string]bool{}
	for _, u := range c.Uplinks {
		switch u.Type {
		case UplinkUser: // its flows are the process's sockets: nothing device-like may slip through
			if u.Device != "" || u.Address != "" || u.Gateway.IsValid() || !u.MAC.IsZero() {
				t.Fatalf("user uplink %+v", u)
			}
			users[u.Name] = true
			for _, n := range c.Networks {
				if u.HostLoopback.IsValid() && (n.Address.Contains(u.HostLoopback) || u.HostLoopback.IsLoopback()) {
					t.Fatalf("host_loopback %s of %s accepted beside %+v", u.HostLoopback, u.Name, n)
				}
			}
		case UplinkPacket:
			if u.Device == "" || u.Address == "" || u.HostLoopback.IsValid() {
				t.Fatalf("uplink %+v", u)
			}
		default:
			t.Fatalf("uplink %s: type %q accepted", u.Name, u.Type)
		}
	}
	vlans := map[uint16]bool{}
	for _, n := range c.Networks {
		if users[n.Uplink] && n.Mode != ModeNAT {
			t.Fatalf("network %+v on user uplink %s", n, n.Uplink)
		}
		a := n.Address
		if !a.IsValid() || !a.Addr().Is4() || a.Bits() > 30 || vlans[n.VLAN] || n.Name == "" {
			t.Fatalf("network %+v", n)
		}
		vlans[n.VLAN] = true
		if h := n.DHCP; h != nil && h.RangeStart.IsValid() {
			if !a.Contains(h.RangeStart) || !a.Contains(h.RangeEnd) || h.RangeEnd.Less(h.RangeStart) ||
				(h.RangeStart.Compare(a.Addr()) <= 0 && a.Addr().Compare(h.RangeEnd) <= 0) {
				t.Fatalf("network %s: range %v-%v", n.Name, h.RangeStart, h.RangeEnd)
			}
		}
		for _, fw := range n.Forwards {
			if n.Mode != ModeNAT || !a.Contains(fw.To.Addr()) || fw.Port == 0 || (fw.Proto != "tcp" && fw.Proto != "udp") {
				t.Fatalf("network %s: forward %+v", n.Name, fw)
			}
		}
	}
}

// natNet is a NAT network on an uplink; a test appends one forward.
const natNet = "uplinks:\n  - {name: w, device: e, address: 10.1.0.5/24, gateway: 10.1.0.1}\n" +
	"networks:\n  - name: n\n    address: 10.0.0.1/24\n    mode: nat\n    uplink: w\n    forwards:\n"

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

// checkVXLAN: a vxlan port is a trunk of exactly its VNIs' VLANs, with
// VNIs in range and unique, a port, and remotes unless EVPN finds them;
// evpn needs bgp, and bgp is whole. Other ports have no tunnel.
func checkVXLAN(t *testing.T, c *Config, p *Port) {
	x := p.VXLAN
	if p.Type != "vxlan" {
		if x.VNIs != nil || x.Remotes != nil || x.EVPN || x.DstPort != 0 || x.Local.IsValid() {
			t.Fatalf("port %s (%s) has a tunnel: %+v", p.Name, p.Type, x)
		}
		return
	}
	if len(x.VNIs) == 0 || len(p.Trunk) != len(x.VNIs) || x.DstPort == 0 || len(x.Remotes) == 0 && !x.EVPN {
		t.Fatalf("vxlan port %+v", p)
	}
	seen := map[uint32]bool{}
	for i, vid := range p.Trunk {
		vni, ok := x.VNIs[vid]
		if !ok || vni == 0 || vni > 1<<24-1 || seen[vni] || i > 0 && p.Trunk[i-1] >= vid {
			t.Fatalf("vxlan port %s: trunk %v vnis %v", p.Name, p.Trunk, x.VNIs)
		}
		seen[vni] = true
	}
	for _, r := range x.Remotes {
		if !r.Is4() || r.IsUnspecified() || r.IsMulticast() {
			t.Fatalf("vxlan port %s: remote %s", p.Name, r)
		}
	}
	if x.EVPN && c.BGP == nil {
		t.Fatalf("vxlan port %s: evpn without bgp", p.Name)
	}
	if b := c.BGP; b != nil {
		if b.ASN == 0 || !b.RouterID.Is4() || b.Port == 0 || b.Port < -1 || b.Port > 65535 {
			t.Fatalf("bgp %+v", b)
		}
		for _, n := range b.Neighbors {
			if !n.Address.Is4() || n.ASN == 0 || n.Port < 0 || n.Port > 65535 {
				t.Fatalf("bgp neighbor %+v", n)
			}
		}
	}
}

// yamlText is in as go-yaml decodes it: UTF-16 (big or little endian)
// when it starts with that byte order mark, else as it is.
func yamlText(in string) string {
	var order binary.ByteOrder
	switch {
	case strings.HasPrefix(in, "\xfe\xff"):
		order = binary.BigEndian
	case strings.HasPrefix(in, "\xff\xfe"):
		order = binary.LittleEndian
	default:
		return in
	}
	u := make([]uint16, 0, len(in)/2)
	for i := 2; i+1 < len(in); i += 2 {
		u = append(u, order.Uint16([]byte(in[i:i+2])))
	}
	return string(utf16.Decode(u))
}
