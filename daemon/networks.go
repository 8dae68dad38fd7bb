package daemon

import (
	"fmt"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/metrics"
	vswitch "github.com/vswitch/vswitch/switch"
)

// network is a config network brought up: its gateway port and DHCP server.
type network struct {
	cfg  config.Network
	port string
	gw   *gateway.Port
	dhcp *dhcp.Server
}

// startNetworks attaches a gateway port per network, each with its DHCP
// server on a shared lease store under state_dir.
func (d *Daemon) startNetworks() error {
	if len(d.cfg.Networks) == 0 {
		return nil
	}
	var store *dhcp.Store
	for _, n := range d.cfg.Networks {
		if n.DHCP != nil && store == nil {
			var err error
			if store, err = dhcp.OpenStore(d.cfg.StateDir); err != nil {
				return err
			}
		}
	}
	for _, nc := range d.cfg.Networks {
		n := &network{cfg: nc, port: "gw-" + nc.Name}
		if nc.Mode == "nat" || nc.Mode == "routed" {
			d.log.Warn("network mode not routed yet: served as isolated until NAT lands", "network", nc.Name, "mode", nc.Mode)
		}
		if h := nc.DHCP; h != nil {
			dc := dhcp.Config{
				Network: nc.Name, Gateway: nc.Address, RangeStart: h.RangeStart, RangeEnd: h.RangeEnd,
				Lease: h.Lease, DNS: h.DNS, Domain: h.Domain, Router: nc.Mode != "isolated", MTU: 1500,
			}
			for _, hs := range h.Hosts {
				dc.Hosts = append(dc.Hosts, dhcp.Host{MAC: hs.MAC, IP: hs.IP, Name: hs.Name})
			}
			n.dhcp = dhcp.NewServer(dc, store)
		}
		n.gw = gateway.New(gateway.Config{Network: nc.Name, VLAN: nc.VLAN, Address: nc.Address, DHCP: n.dhcp, Known: d.sw.Known})
		pc := vswitch.PortConfig{Name: n.port, VLAN: vswitch.VLANConfig{PVID: nc.VLAN}}
		if err := d.sw.AddPort(pc, n.gw); err != nil {
			return fmt.Errorf("%s:%d: network %s: %w", d.cfg.Source, nc.Line, nc.Name, err)
		}
		d.mu.Lock()
		d.ports[n.port] = &portEntry{cfg: config.Port{Name: n.port, Type: "gateway", VLAN: nc.VLAN}, drv: n.gw}
		d.order = append(d.order, n.port)
		d.mu.Unlock()
		d.nets = append(d.nets, n)
		d.log.Info("network up", "network", nc.Name, "vlan", nc.VLAN, "address", nc.Address, "mac", n.gw.MAC(), "dhcp", n.dhcp != nil)
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
				Hostname: l.Hostname, Expiry: l.Expiry, Static: l.Static, State: l.State})
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
			st.GatewayDrops[gateway.DropNames[i]] = v
		}
		if n.dhcp != nil {
			st.DHCP = true
			st.Leases = n.dhcp.Active()
			st.Messages = n.dhcp.Messages()
			st.DHCPDrops = map[string]uint64{}
			for i, v := range n.dhcp.Drops() {
				st.DHCPDrops[dhcp.DropNames[i]] = v
			}
		}
		out = append(out, st)
	}
	return out
}
