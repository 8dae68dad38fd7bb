package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vswitch/vswitch/internal/pkt"
)

// decoder walks a yaml.Node tree, so that every error carries the line of
// the key it is about, and collects all of them instead of stopping.
type decoder struct {
	file string
	errs Errors
}

func (d *decoder) errf(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// fields calls fn for every key of the mapping n, reporting keys not in
// known (with the list of known ones) and duplicate keys.
func (d *decoder) fields(n *yaml.Node, path, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "%s must be a mapping (key: value)", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		kp := join(path, key)
		if seen[key] {
			d.errf(k, kp, "duplicate key")
			continue
		}
		seen[key] = true
		ok := false
		for _, kn := range known {
			if kn == key {
				ok = true
				break
			}
		}
		if !ok {
			d.errf(k, kp, "unknown key %q in %s (known: %s)", key, what, strings.Join(known, ", "))
			continue
		}
		fn(key, k, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) scalar(v *yaml.Node, key string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		d.errf(v, key, "must be a single value")
		return "", false
	}
	return v.Value, true
}

func (d *decoder) str(v *yaml.Node, key string, dst *string) {
	if s, ok := d.scalar(v, key); ok {
		*dst = s
	}
}

// value stores in dst what parse makes of v's scalar, or reports parse's
// complaint at v's line and leaves dst as it was: every typed key below is
// this with its own parse.
func value[T any](d *decoder, v *yaml.Node, key string, dst *T, parse func(s string) (T, string)) {
	s, ok := d.scalar(v, key)
	if !ok {
		return
	}
	x, bad := parse(s)
	if bad != "" {
		d.errf(v, key, "%s", bad)
		return
	}
	*dst = x
}

func (d *decoder) int(v *yaml.Node, key string, lo, hi int, dst *int) {
	value(d, v, key, dst, func(s string) (int, string) {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Sprintf("%q is not a whole number from %d to %d", s, lo, hi)
		}
		return n, ""
	})
}

func (d *decoder) bool(v *yaml.Node, key string, dst *bool) {
	value(d, v, key, dst, func(s string) (bool, string) {
		switch s {
		case "true":
			return true, ""
		case "false":
			return false, ""
		}
		return false, fmt.Sprintf("%q is not true or false", s)
	})
}

func (d *decoder) vlan(v *yaml.Node, key string, dst *uint16) {
	value(d, v, key, dst, func(s string) (uint16, string) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > pkt.MaxVID {
			return 0, s + " is not a VLAN ID (1-4094)"
		}
		return uint16(n), ""
	})
}

func (d *decoder) duration(v *yaml.Node, key string, min time.Duration, dst *time.Duration) {
	value(d, v, key, dst, func(s string) (time.Duration, string) {
		t, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Sprintf("%q is not a duration (like 300s, 5m, 1h)", s)
		}
		if t < min {
			return 0, fmt.Sprintf("%s is too short (at least %s)", s, min)
		}
		return t, ""
	})
}

func (d *decoder) mac(v *yaml.Node, key string, dst *pkt.MAC) {
	value(d, v, key, dst, func(s string) (pkt.MAC, string) {
		m, err := pkt.ParseMAC(s)
		if err != nil {
			return m, err.Error()
		}
		if m.IsMulticast() || m.IsZero() {
			return m, s + " is not a unicast MAC address"
		}
		return m, ""
	})
}

func (d *decoder) addr(v *yaml.Node, key string, dst *netip.Addr) {
	value(d, v, key, dst, func(s string) (netip.Addr, string) {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return a, fmt.Sprintf("%q is not an IPv4 address", s)
		}
		return a, ""
	})
}

func (d *decoder) seq(v *yaml.Node, key string, fn func(i int, item *yaml.Node)) {
	if v.Kind != yaml.SequenceNode {
		d.errf(v, key, "must be a list")
		return
	}
	for i, item := range v.Content {
		fn(i, item)
	}
}

// Parse parses a config; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	d := &decoder{file: name}
	c := &Config{
		Control:   DefaultControl,
		Metrics:   DefaultMetrics,
		StateDir:  DefaultStateDir,
		FDB:       FDB{Ageing: DefaultAgeing, MaxEntries: DefaultFDBEntries},
		Conntrack: Conntrack{MaxEntries: DefaultConntrack, MaxPerSource: DefaultConntrackPerSource},
		Source:    name,

		MulticastSnooping: true,
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(name, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return c, nil // empty file: all defaults, no ports
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return c, nil
	}
	d.fields(root, "", "the config", []string{"control", "metrics", "state_dir", "fdb", "ports", "networks", "uplinks", "conntrack", "bgp", "multicast_snooping", "multicast_querier", "cpus"},
		func(key string, k, v *yaml.Node) {
			switch key {
			case "control":
				d.str(v, key, &c.Control)
				if c.Control == "" {
					d.errf(v, key, "must not be empty")
				}
			case "metrics":
				d.str(v, key, &c.Metrics)
			case "state_dir":
				d.str(v, key, &c.StateDir)
			case "fdb":
				d.fdb(v, &c.FDB)
			case "ports":
				d.seq(v, key, func(i int, item *yaml.Node) {
					p := d.port(item, fmt.Sprintf("ports[%d]", i))
					c.Ports = append(c.Ports, p)
				})
			case "networks":
				d.seq(v, key, func(i int, item *yaml.Node) {
					c.Networks = append(c.Networks, d.network(item, fmt.Sprintf("networks[%d]", i)))
				})
			case "uplinks":
				d.seq(v, key, func(i int, item *yaml.Node) {
					c.Uplinks = append(c.Uplinks, d.uplink(item, fmt.Sprintf("uplinks[%d]", i)))
				})
			case "bgp":
				c.BGP = d.bgp(k, v)
			case "multicast_snooping":
				d.bool(v, key, &c.MulticastSnooping)
			case "multicast_querier":
				c.MulticastQuerier = d.querier(v, key)
			case "cpus":
				value(d, v, key, &c.CPUs, func(s string) (CPUs, string) {
					if s == "all" {
						return 0, ""
					}
					n, err := strconv.Atoi(s)
					if err != nil || n < 1 || n > maxCPUs {
						return 0, fmt.Sprintf("%q is not all or a whole number from 1 to %d", s, maxCPUs)
					}
					return CPUs(n), ""
				})
			case "conntrack":
				d.fields(v, key, "conntrack", []string{"max_entries", "max_per_source"}, func(k string, _, v *yaml.Node) {
					if k == "max_entries" {
						d.int(v, "conntrack.max_entries", 16, 1<<24, &c.Conntrack.MaxEntries)
					} else {
						d.int(v, "conntrack.max_per_source", 1, 1<<24, &c.Conntrack.MaxPerSource)
					}
				})
			}
		})
	d.check(c)
	d.checkEVPN(c)
	d.checkQuerier(c)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return c, nil
}

// syntaxError turns a YAML syntax error ("yaml: line 3: ...") into ours.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[5:]
		if i := strings.Index(rest, ":"); i > 0 {
			if n, e := strconv.Atoi(rest[:i]); e == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &Error{File: file, Line: line, Msg: "YAML syntax: " + msg}
}

func (d *decoder) fdb(v *yaml.Node, f *FDB) {
	d.fields(v, "fdb", "fdb", []string{"ageing", "max_entries", "static"}, func(key string, _, v *yaml.Node) {
		kp := "fdb." + key
		switch key {
		case "ageing":
			d.duration(v, kp, time.Second, &f.Ageing)
		case "max_entries":
			d.int(v, kp, 1, 1<<24, &f.MaxEntries)
		case "static":
			d.seq(v, kp, func(i int, item *yaml.Node) {
				p := fmt.Sprintf("fdb.static[%d]", i)
				e := StaticEntry{VLAN: 1, Line: item.Line}
				var hasMAC, hasPort bool
				d.fields(item, p, "a static entry", []string{"mac", "vlan", "port"}, func(key string, _, v *yaml.Node) {
					switch key {
					case "mac":
						d.mac(v, p+".mac", &e.MAC)
						hasMAC = true
					case "vlan":
						d.vlan(v, p+".vlan", &e.VLAN)
					case "port":
						d.str(v, p+".port", &e.Port)
						hasPort = true
					}
				})
				if !hasMAC || !hasPort {
					d.errf(item, p, "a static entry needs mac and port")
				}
				f.Static = append(f.Static, e)
			})
		}
	})
}

var portKeys = append([]string{"name", "type", "vlan", "trunk", "native", "netns", "device", "socket", "listen", "max_macs", "mtu", "mac", "queue", "socket_owner", "socket_mode", "isolated", "guard", "dhcp_relay", "max_groups", "multicast_router"}, vxlanKeys...)

func (d *decoder) port(n *yaml.Node, path string) Port {
	p := Port{Line: n.Line}
	set := map[string]*yaml.Node{}
	d.fields(n, path, "a port", portKeys, func(key string, k, v *yaml.Node) {
		set[key] = k
		kp := path + "." + key
		switch key {
		case "name":
			d.str(v, kp, &p.Name)
		case "type":
			d.str(v, kp, &p.Type)
		case "vlan":
			d.vlan(v, kp, &p.VLAN)
		case "trunk":
			d.seq(v, kp, func(i int, item *yaml.Node) {
				var vid uint16
				d.vlan(item, fmt.Sprintf("%s[%d]", kp, i), &vid)
				if vid != 0 {
					for _, old := range p.Trunk {
						if old == vid {
							d.errf(item, kp, "VLAN %d listed twice", vid)
						}
					}
					p.Trunk = append(p.Trunk, vid)
				}
			})
			if len(v.Content) == 0 && v.Kind == yaml.SequenceNode {
				d.errf(v, kp, "a trunk needs at least one VLAN")
			}
		case "native":
			d.vlan(v, kp, &p.Native)
		case "netns":
			d.str(v, kp, &p.Netns)
		case "device":
			d.str(v, kp, &p.Device)
		case "socket":
			d.str(v, kp, &p.Socket)
		case "listen":
			d.str(v, kp, &p.Listen)
		case "socket_owner":
			d.socketOwner(v, kp, &p.SocketOwner)
		case "socket_mode":
			d.socketMode(v, kp, &p.SocketMode)
		case "max_macs":
			d.int(v, kp, 0, 1<<20, &p.MaxMACs)
		case "max_groups":
			d.int(v, kp, 0, 1<<16, &p.MaxGroups)
			if p.MaxGroups == 0 {
				p.MaxGroups = -1 // written 0: no limit, as max_macs
			}
		case "multicast_router":
			d.str(v, kp, &p.MulticastRouter)
			if !contains([]string{"auto", "never", "always"}, p.MulticastRouter) {
				d.errf(v, kp, "%q is not auto, never or always", p.MulticastRouter)
			}
		case "mtu":
			d.int(v, kp, 68, 65535, &p.MTU)
		case "mac":
			d.mac(v, kp, &p.MAC)
		case "isolated":
			d.bool(v, kp, &p.Isolated)
		case "guard":
			p.Guard = d.guard(v, kp)
		case "dhcp_relay":
			d.bool(v, kp, &p.DHCPRelay)
		case "queue":
			d.int(v, kp, 16, 65536, &p.Queue)
			if p.Queue&(p.Queue-1) != 0 {
				d.errf(v, kp, "%d is not a power of two", p.Queue)
			}
		case "local", "dstport", "vnis", "remotes", "evpn":
			d.vxlanKey(key, v, kp, &p.VXLAN)
		}
	})
	d.checkPort(&p, n, path, set)
	return p
}

// guard parses `guard: dhcp` or `guard: {macs: [...], ips: [...]}`.
func (d *decoder) guard(v *yaml.Node, kp string) *Guard {
	if v.Kind == yaml.ScalarNode {
		if v.Value != "dhcp" {
			d.errf(v, kp, "%q is not dhcp or {macs: [...], ips: [...]}", v.Value)
			return nil
		}
		return &Guard{DHCP: true}
	}
	g := &Guard{}
	errs := len(d.errs)
	d.fields(v, kp, "a guard", []string{"macs", "ips"}, func(key string, _, v *yaml.Node) {
		lp := kp + "." + key
		d.seq(v, lp, func(i int, item *yaml.Node) {
			ik := fmt.Sprintf("%s[%d]", lp, i)
			if key == "macs" {
				var m pkt.MAC
				d.mac(item, ik, &m)
				g.MACs = append(g.MACs, m)
				return
			}
			// IPv4 or IPv6 (switch/guard6.go): what the guest may send from.
			var a netip.Addr
			value(d, item, ik, &a, func(s string) (netip.Addr, string) {
				a, err := netip.ParseAddr(s)
				if err != nil || a.Is4In6() || a.Zone() != "" {
					return a, fmt.Sprintf("%q is not an IPv4 or IPv6 address", s)
				}
				return a, ""
			})
			if a.IsValid() && (a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
				d.errf(item, ik, "%s is not a unicast address", a)
			}
			if a.IsValid() {
				g.IPs = append(g.IPs, a)
			}
		})
	})
	if len(d.errs) == errs && len(g.MACs)+len(g.IPs) == 0 {
		d.errf(v, kp, "a guard needs macs, ips or both (or guard: dhcp)")
	}
	return g
}

// checkPort validates one port and applies its defaults.
func (d *decoder) checkPort(p *Port, n *yaml.Node, path string, set map[string]*yaml.Node) {
	if p.Name == "" {
		d.errf(n, path, "a port needs a name")
	} else if err := checkIfName(p.Name); err != nil {
		d.errf(n, path+".name", "%v", err)
	}
	if p.Queue == 0 {
		p.Queue = DefaultQueue
	}
	// A guest port (a TAP or QEMU NIC: one VM, one or a few MACs) is held
	// to a few addresses unless the config says otherwise, so one guest
	// cannot fill the FDB; a bridged afpacket port has a whole LAN behind
	// it and stays unlimited.
	if set["max_macs"] == nil && (p.Type == "tap" || p.Type == "qemu") {
		p.MaxMACs = DefaultGuestMACs
	}
	// A guest is nobody's multicast router: its queries would make its
	// port hear every group. A trunk or a bridged LAN may have one.
	if set["multicast_router"] == nil {
		p.MulticastRouter = "auto"
		if (p.Type == "tap" || p.Type == "qemu") && !p.IsTrunk() {
			p.MulticastRouter = "never"
		}
	}
	if p.IsTrunk() {
		if k := set["vlan"]; k != nil {
			d.errf(k, path+".vlan", "a trunk port has no access VLAN: use native for untagged frames")
		}
	} else {
		if k := set["native"]; k != nil {
			d.errf(k, path+".native", "native needs trunk")
		}
		if p.VLAN == 0 {
			p.VLAN = 1
		}
	}
	allowed := map[string][]string{
		"tap":      {"netns", "mtu", "mac"},
		"afpacket": {"device", "netns"},
		"qemu":     {"socket", "listen", "socket_owner", "socket_mode"},
		"vxlan":    append([]string{"netns"}, vxlanKeys...),
	}
	extra, ok := allowed[p.Type]
	if !ok {
		at := set["type"]
		if at == nil {
			d.errf(n, path, "a port needs a type (tap, afpacket, qemu or vxlan)")
		} else {
			d.errf(at, path+".type", "unknown port type %q (tap, afpacket, qemu or vxlan)", p.Type)
		}
		return
	}
	for _, key := range append([]string{"netns", "device", "socket", "listen", "mtu", "mac", "socket_owner", "socket_mode"}, vxlanKeys...) {
		if k := set[key]; k != nil && !contains(extra, key) {
			d.errf(k, path+"."+key, "%s does not apply to a %s port", key, p.Type)
		}
	}
	if k := set["dhcp_relay"]; k != nil && p.Type == "vxlan" {
		// A relay agent is a host on a guest segment; a tunnel to other
		// switches is not one.
		d.errf(k, path+".dhcp_relay", "dhcp_relay does not apply to a vxlan port")
	}
	switch p.Type {
	case "vxlan":
		d.checkVXLAN(p, n, path, set)
	case "afpacket":
		if p.Device == "" {
			d.errf(n, path, "an afpacket port needs device: the interface to attach")
		}
	case "qemu":
		if (p.Socket == "") == (p.Listen == "") {
			d.errf(n, path, "a qemu port needs exactly one of socket (unix path) or listen (127.0.0.1:PORT)")
		}
		if p.Listen != "" {
			ap, err := netip.ParseAddrPort(p.Listen)
			if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
				d.errf(set["listen"], path+".listen", "%q must be a loopback address with a port, like 127.0.0.1:5555", p.Listen)
			}
			for _, key := range []string{"socket_owner", "socket_mode"} {
				if k := set[key]; k != nil {
					d.errf(k, path+"."+key, "%s applies to a unix socket (socket:); a listen: port is open to every local user", key)
				}
			}
		}
		if p.Socket != "" && p.SocketMode == 0 {
			p.SocketMode = DefaultSocketMode
		}
	}
}

// checkIfName enforces Linux interface-name rules, so a TAP can carry the
// port's name and the name is safe as a metric label.
func checkIfName(s string) error {
	if len(s) > 15 {
		return fmt.Errorf("%q is longer than 15 bytes (the Linux interface name limit)", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q may use only letters, digits, '-', '_' and '.'", s)
		}
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not a usable name", s)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParsePort parses one port given as YAML or JSON (the control API's
// POST /v1/ports body) and validates it on its own.
func ParsePort(data []byte) (Port, error) {
	d := &decoder{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Port{}, syntaxError("", err)
	}
	if len(doc.Content) == 0 {
		return Port{}, fmt.Errorf("empty port")
	}
	p := d.port(doc.Content[0], "port")
	if len(d.errs) > 0 {
		for _, e := range d.errs {
			e.Line = 0
		}
		return Port{}, d.errs
	}
	return p, nil
}
