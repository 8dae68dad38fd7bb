package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/evpn"
	"github.com/vswitch/vswitch/internal/pkt"
)

// startEVPN runs the BGP speaker for the config's evpn vxlan port.
func (d *Daemon) startEVPN() error {
	b := d.cfg.BGP
	if b == nil {
		return nil
	}
	var tunName string
	for _, p := range d.cfg.Ports {
		if p.Type == "vxlan" && p.VXLAN.EVPN {
			tunName = p.Name
			break
		}
	}
	if tunName == "" {
		return nil // a speaker with nothing to steer: nothing to start
	}
	d.mu.Lock()
	e := d.ports[tunName]
	d.mu.Unlock()
	tun, ok := e.drv.(evpn.Tunnel)
	if !ok {
		return fmt.Errorf("%s:%d: port %s: this driver cannot run EVPN", d.cfg.Source, e.cfg.Line, tunName)
	}
	cfg := evpn.Config{ASN: b.ASN, RouterID: b.RouterID, Port: int32(b.Port), Log: d.log}
	for _, n := range b.Neighbors {
		cfg.Neighbors = append(cfg.Neighbors, evpn.Neighbor{Address: n.Address, ASN: n.ASN, Port: uint16(n.Port)})
	}
	sp, err := evpn.Start(cfg, tun, func() []evpn.LocalMAC { return d.localMACs(tunName) })
	if err != nil {
		return fmt.Errorf("%s:%d: %w", d.cfg.Source, b.Line, err)
	}
	d.evpn, d.evpnPort = sp, tunName
	d.log.Info("evpn speaker up", "asn", b.ASN, "router_id", b.RouterID, "port", tunName, "neighbors", len(b.Neighbors))
	return nil
}

// localMACs are the FDB's addresses on every port but the tunnel's: the
// guests and gateways this host advertises, each with the addresses it is
// known to hold (a gateway's own, a guest's bound DHCP leases).
func (d *Daemon) localMACs(tunnel string) []evpn.LocalMAC {
	type key struct {
		vlan uint16
		mac  pkt.MAC
	}
	ips := map[key][]netip.Addr{}
	now := time.Now()
	for _, n := range d.nets {
		ips[key{n.cfg.VLAN, n.gw.MAC()}] = []netip.Addr{n.cfg.Address.Addr()}
		if n.dhcp == nil {
			continue
		}
		for _, l := range n.dhcp.Leases() {
			if mac, err := pkt.ParseMAC(l.MAC); err == nil && l.BoundAt(now) {
				k := key{n.cfg.VLAN, mac}
				ips[k] = append(ips[k], l.IP)
			}
		}
	}
	var out []evpn.LocalMAC
	for _, e := range d.sw.FDB() {
		if e.Port == tunnel {
			continue
		}
		if addrs := ips[key{e.VLAN, e.MAC}]; len(addrs) > 0 {
			for _, ip := range addrs {
				out = append(out, evpn.LocalMAC{VLAN: e.VLAN, MAC: e.MAC, IP: ip})
			}
		} else {
			out = append(out, evpn.LocalMAC{VLAN: e.VLAN, MAC: e.MAC})
		}
	}
	return out
}

// EVPN answers GET /v1/evpn.
func (b backend) EVPN(ctx context.Context) (control.EVPN, error) {
	out := control.EVPN{VNIs: []control.EVPNVNI{}, Sessions: []control.EVPNSession{}, Routes: []control.EVPNRoute{}}
	sp := b.d.evpn
	if sp == nil {
		return out, nil
	}
	st, err := sp.Status(ctx)
	if err != nil {
		return out, err
	}
	out.Enabled, out.ASN, out.RouterID, out.VTEP = true, st.ASN, st.RouterID.String(), st.VTEP.String()
	flood := map[uint32][]string{}
	for _, r := range st.Routes {
		if r.Type == "imet" && !r.Local {
			flood[r.VNI] = append(flood[r.VNI], r.VTEP.String())
		}
		er := control.EVPNRoute{Type: r.Type, VNI: r.VNI, VTEP: r.VTEP.String(), RD: r.RD, Local: r.Local}
		if r.Type == "mac" {
			er.MAC = r.MAC.String()
		}
		if r.IP.IsValid() {
			er.IP = r.IP.String()
		}
		out.Routes = append(out.Routes, er)
	}
	for vlan, vni := range st.VNIs {
		out.VNIs = append(out.VNIs, control.EVPNVNI{VNI: vni, VLAN: vlan, Flood: append([]string{}, flood[vni]...)})
	}
	slices.SortFunc(out.VNIs, func(a, b control.EVPNVNI) int { return int(a.VNI) - int(b.VNI) })
	for _, s := range st.Sessions {
		out.Sessions = append(out.Sessions, control.EVPNSession{Neighbor: s.Neighbor.String(), ASN: s.ASN,
			State: s.State, UptimeSeconds: s.Uptime.Seconds()})
	}
	return out, nil
}
