package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/dhcp6"
	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/metrics"
	vswitch "github.com/vswitch/vswitch/switch"
)

// network is a config network brought up: its gateway port and DHCP server.
type network struct {
	cfg  config.Network
	port string
	gw   *gateway.Port
	dhcp *dhcp.Server
	d6   *dhcp6.Server // nil: no dhcp6
	dns  *dns.Server   // nil: dns.enable is false
}

// startNetworks attaches a gateway port per network, each with its DHCP
// server on a shared lease store under state_dir.
func (d *Daemon) startNetworks() error {
	if len(d.cfg.Networks) == 0 {
		return nil
	}
	var store *dhcp.Store
	for _, n := range d.cfg.Networks {
		if (n.DHCP != nil || n.DHCP6 != nil) && store == nil {
			var err error
			if store, err = dhcp.OpenStore(d.cfg.StateDir); err != nil {
				return err
			}
			if err := store.SyncErr(); err != nil {
				// With one thread (cpus: 1) each lease write then pauses
				// forwarding until the runtime hands the thread on.
				d.log.Warn("lease store: fsync holds a thread", "err", err)
			}
			d.store = store
		}
	}
	uplinks := map[string]*gateway.Uplink{}
	for _, uc := range d.cfg.Uplinks {
		start := d.startUplink
		if uc.Type == config.UplinkUser {
			start = d.startUserUplink
		}
		u, err := start(uc)
		if err != nil {
			return fmt.Errorf("%s:%d: uplink %s: %w", d.cfg.Source, uc.Line, uc.Name, err)
		}
		uplinks[uc.Name] = u
	}
	r6 := gateway.NewRouter6() // IPv6 routes between every network with address6
	for _, nc := range d.cfg.Networks {
		n := &network{cfg: nc, port: "gw-" + nc.Name}
		if h := nc.DHCP; h != nil {
			dc := dhcp.Config{
				Network: nc.Name, Gateway: nc.Address, RangeStart: h.RangeStart, RangeEnd: h.RangeEnd,
				Lease: h.Lease, DNS: h.DNS, Domain: h.Domain, Router: nc.Mode.RoutesOut(), MTU: 1500,
				MaxLeasesPerMAC: h.MaxLeasesPerMAC,
			}
			dc.Hosts = dhcpHosts(h)
			// ACKs leave from the store's goroutine once their lease is on
			// disk: the gateway's writer never waits for an fsync. n.gw is
			// set below, before the port (and so any DHCP) starts.
			dc.Deliver = func(r dhcp.Reply) { n.gw.DeliverDHCP(r) }
			n.dhcp = dhcp.NewServer(dc, store)
		}
		if h := nc.DHCP6; h != nil {
			n.d6 = newDHCP6(nc, h, gateway.StableMAC(nc.Name), store, func(r dhcp6.Reply) { n.gw.DeliverDHCP6(r) })
		}
		if nc.DNS.Enable { // answers go out once n.gw is set, as DHCP's
			n.dns = newDNS(nc, n.dhcp, func(a dns.Answer) { n.gw.DeliverDNS(a) }, func(s dns.TCPSegment) { n.gw.DeliverDNSTCP(s) })
		}
		n.gw = gateway.New(gateway.Config{Network: nc.Name, VLAN: nc.VLAN, Address: nc.Address, DHCP: n.dhcp, Known: d.sw.Known,
			Mode: nc.Mode, Uplink: uplinks[nc.Uplink], DNS: n.dns, Address6: nc.Address6, Router6: r6, DHCP6: n.d6,
			Querier: d.cfg.MulticastSnooping})
		n.gw.ImportNeighbours(d.opts.inherit.neighbours("network:" + nc.Name)) // an upgrade's
		if u := uplinks[nc.Uplink]; u != nil {
			u.Attach(n.gw)
			for _, fw := range natForwards(nc) {
				u.NAT().AddForward(fw.Proto, fw.Port, fw.To)
			}
			if err := userForwards(u, nc); err != nil {
				return fmt.Errorf("%s:%d: network %s: %w", d.cfg.Source, nc.Line, nc.Name, err)
			}
		}
		pc := vswitch.PortConfig{Name: n.port, VLAN: vswitch.VLANConfig{PVID: nc.VLAN}}
		if err := d.sw.AddPort(pc, n.gw); err != nil {
			return fmt.Errorf("%s:%d: network %s: %w", d.cfg.Source, nc.Line, nc.Name, err)
		}
		// The gateway's MAC is the switch's own: a guest sending with it is
		// dropped (local_mac) instead of taking the gateway's traffic.
		if err := d.sw.AddLocal(n.port, nc.VLAN, n.gw.MAC()); err != nil {
			return fmt.Errorf("%s:%d: network %s: %w", d.cfg.Source, nc.Line, nc.Name, err)
		}
		// Likewise its IPv6 addresses: no other port may advertise them.
		if nc.Address6.IsValid() {
			for _, a := range []netip.Addr{nc.Address6.Addr(), pkt.LinkLocalFromMAC(n.gw.MAC())} {
				if err := d.sw.AddLocalAddr6(nc.VLAN, a); err != nil {
					return fmt.Errorf("%s:%d: network %s: %w", d.cfg.Source, nc.Line, nc.Name, err)
				}
			}
		}
		d.mu.Lock()
		d.ports[n.port] = &portEntry{cfg: config.Port{Name: n.port, Type: "gateway", VLAN: nc.VLAN}, drv: n.gw}
		d.order = append(d.order, n.port)
		d.mu.Unlock()
		d.nets = append(d.nets, n)
		d.log.Info("network up", "network", nc.Name, "vlan", nc.VLAN, "address", nc.Address, "address6", nc.Address6, "mac", n.gw.MAC(), "dhcp", n.dhcp != nil, "dns", n.dns != nil)
	}
	return nil
}

// Leases implements control.LeaseBackend.
func (b backend) Leases() []control.Lease {
	var out []control.Lease
	for _, n := range b.d.nets {
		if n.dhcp == nil {
			continue
		}
		for _, l := range n.dhcp.Leases() {
			out = append(out, control.Lease{Network: l.Network, MAC: l.MAC, IP: l.IP.String(),
				Hostname: l.Hostname, Expiry: l.Expiry, Static: l.Static, State: l.State, Family: "ipv4"})
		}
	}
	for _, n := range b.d.nets {
		if n.d6 != nil {
			out = append(out, leases6(n.d6)...)
		}
	}
	return out
}

// networkStats feeds the metrics collector.
func (d *Daemon) networkStats() []metrics.NetworkStats {
	out := make([]metrics.NetworkStats, 0, len(d.nets))
	for _, n := range d.nets {
		st := metrics.NetworkStats{Name: n.cfg.Name, GatewayDrops: map[string]uint64{}}
		for i, v := range n.gw.Drops() {
			st.GatewayDrops[gateway.DropReason(i).String()] = v
		}
		if n.dns != nil {
			st.DNS = dnsStats(n.dns)
		}
		if n.dhcp != nil {
			st.DHCP = true
			st.Leases = n.dhcp.Active()
			st.Messages = n.dhcp.Messages()
			st.DHCPDrops = map[string]uint64{}
			for i, v := range n.dhcp.Drops() {
				st.DHCPDrops[dhcp.DropReason(i).String()] = v
			}
		}
		if n.d6 != nil {
			dhcp6Stats(&st, n.d6)
		}
		out = append(out, st)
	}
	return out
}

// startUplink opens the outside device and runs the uplink on it.
func (d *Daemon) startUplink(uc config.Uplink) (*gateway.Uplink, error) {
	link, err := d.uplinkLink(uc)
	if err != nil {
		return nil, err
	}
	u := gateway.NewUplink(gateway.UplinkConfig{Name: uc.Name, Link: d.gatedPort(link), MAC: uc.MAC, Address: uc.Prefix,
		Gateway: uc.Gateway, NAT: d.natTable(uc.Name), Log: d.log, Address6: uc.Prefix6, Gateway6: uc.Gateway6, Auto6: uc.Auto6, MTU: deviceMTU(uc.Device)})
	u.ImportNeighbours(d.opts.inherit.neighbours("uplink:" + uc.Name)) // an upgrade's
	if err := d.addUplink(u, uc, link); err != nil {
		return nil, err
	}
	d.log.Info("uplink up", "uplink", uc.Name, "device", uc.Device, "address", uc.Address, "gateway", uc.Gateway, "mac", u.MAC(),
		"address6", uc.Prefix6, "auto6", uc.Auto6, "gateway6", uc.Gateway6)
	return u, nil
}

// deviceMTU is a device's MTU, 0 (the default) when it cannot be read.
func deviceMTU(name string) int {
	if ifi, err := net.InterfaceByName(name); err == nil {
		return ifi.MTU
	}
	return 0
}

// addUplink starts u: its link becomes a switch port under the uplink's
// name, so show ports, metrics and capture see it like any port.
func (d *Daemon) addUplink(u *gateway.Uplink, uc config.Uplink, link vswitch.Port) error {
	if err := u.Start(d.sw); err != nil {
		u.Close()
		return err
	}
	d.uplinks = append(d.uplinks, u)
	d.mu.Lock()
	d.ports[uc.Name] = &portEntry{cfg: config.Port{Name: uc.Name, Type: "uplink", Device: uc.Device}, drv: link}
	d.order = append(d.order, uc.Name)
	d.mu.Unlock()
	return nil
}

// Conntrack implements control.ConntrackBackend.
func (b backend) Conntrack() []control.ConnEntry {
	now := time.Now()
	var out []control.ConnEntry
	for _, u := range b.d.uplinks {
		for _, e := range u.NAT().Entries() {
			po, pi, bo, bi := e.Counters()
			proto := map[uint8]string{1: "icmp", 6: "tcp", 17: "udp"}[e.Inside.Proto]
			if proto == "" {
				proto = fmt.Sprint(e.Inside.Proto)
			}
			out = append(out, control.ConnEntry{Proto: proto, Inside: e.Inside.Src.String() + " -> " + e.Inside.Dst.String(),
				Outside: e.Outside.Src.String() + " -> " + e.Outside.Dst.String(), State: e.State(),
				TranslatedPort: e.Outside.Src.Port(), AgeSeconds: now.Sub(e.Created).Seconds(),
				PacketsOut: po, PacketsIn: pi, BytesOut: bo, BytesIn: bi})
		}
	}
	return out
}

// uplinkStats feeds the metrics collector.
func (d *Daemon) uplinkStats() []metrics.UplinkStats {
	out := make([]metrics.UplinkStats, 0, len(d.uplinks))
	for i, u := range d.uplinks {
		o, in := u.Translations()
		ct := u.NAT().Stats()
		st := metrics.UplinkStats{Name: d.cfg.Uplinks[i].Name, Conntrack: u.NAT().Len(), EarlyDrops: ct.EarlyDrops, FragEvicted: ct.FragEvicted,
			TranslationsOut: o, TranslationsIn: in, Drops: map[string]uint64{}}
		for r, v := range u.Drops() {
			st.Drops[gateway.UplinkDropReason(r).String()] = v
		}
		st.GSOOut, st.GSOIn = u.GSOTranslations()
		st.Conntrack6 = u.NAT().Len6()
		st.TranslationsOut6, st.TranslationsIn6 = u.Translations6()
		userDrops(u, st.Drops)
		autoconf6Stats(u, &st)
		out = append(out, st)
	}
	return out
}

// dhcpHosts are a network's DHCP reservations.
func dhcpHosts(h *config.DHCP) []dhcp.Host {
	var out []dhcp.Host
	for _, hs := range h.Hosts {
		out = append(out, dhcp.Host{MAC: hs.MAC, IP: hs.IP, Name: hs.Name})
	}
	return out
}
