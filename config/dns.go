package config

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DNS configures a network's DNS service (libvirt's <dns>). Parsed with
// Enable true: every network has one unless `enable: false`.
type DNS struct {
	Enable     bool
	Forwarders []netip.AddrPort // empty: the host's /etc/resolv.conf nameservers
	Hosts      []DNSHost
}

// DNSHost is a local name (libvirt's <dns><host>).
type DNSHost struct {
	Name string
	IP   netip.Addr
}

func (d *decoder) dns(n *yaml.Node, path string) DNS {
	c := DNS{Enable: true}
	d.fields(n, path, "dns", []string{"enable", "forwarders", "hosts"}, func(key string, _, v *yaml.Node) {
		kp := path + "." + key
		switch key {
		case "enable":
			if s, ok := d.scalar(v, kp); ok {
				switch s {
				case "true":
					c.Enable = true
				case "false":
					c.Enable = false
				default:
					d.errf(v, kp, "%q is not true or false", s)
				}
			}
		case "forwarders":
			d.seq(v, kp, func(i int, item *yaml.Node) {
				p := fmt.Sprintf("%s[%d]", kp, i)
				if s, ok := d.scalar(item, p); ok {
					if ap, ok := parseForwarder(s); ok {
						c.Forwarders = append(c.Forwarders, ap)
					} else {
						d.errf(item, p, "%q is not an address or address:port, like 192.168.1.1 or 127.0.0.1:5353", s)
					}
				}
			})
		case "hosts":
			d.seq(v, kp, func(i int, item *yaml.Node) {
				p := fmt.Sprintf("%s[%d]", kp, i)
				var h DNSHost
				d.fields(item, p, "a DNS host", []string{"name", "ip"}, func(key string, _, v *yaml.Node) {
					switch key {
					case "name":
						d.str(v, p+".name", &h.Name)
						if h.Name != "" && !isLabel(h.Name) {
							d.errf(v, p+".name", "%q is not a host name (letters, digits and inner hyphens, at most 63)", h.Name)
						}
					case "ip":
						d.addr(v, p+".ip", &h.IP)
					}
				})
				if h.Name == "" || !h.IP.IsValid() {
					d.errf(item, p, "a DNS host needs name and ip")
				}
				c.Hosts = append(c.Hosts, h)
			})
		}
	})
	return c
}

// parseForwarder takes an address (port 53) or address:port, IPv4 or IPv6.
func parseForwarder(s string) (netip.AddrPort, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53), true
	}
	ap, err := netip.ParseAddrPort(s)
	return ap, err == nil && ap.Port() != 0
}

// isLabel reports whether s is one DNS label as RFC 1123 host names use
// them; local names are one label under the network's domain.
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	return strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}
