package daemon

import (
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
	"github.com/vswitch/vswitch/tap"
)

// A guard: dhcp port's bindings live in the switch, learned by watching
// the gateway's ACKs; a new process, or a port a reload reopens, starts
// without them, and its hosts would be dropped as spoofed until they
// renew. So they are put back: those an upgrade handed over or the
// reopened port held, and, for a TAP port, the unexpired leases of its
// host's MAC (the stable one from its name, or mac:) on the networks of
// its VLANs, from the durable lease store. Only a TAP port's host MAC is
// known from the config: a lease is never bound to a port on the word of
// the frames that a guest sends.

// restoreGuards rebuilds the bindings of every guard: dhcp port after a
// start.
func (d *Daemon) restoreGuards() {
	d.mu.Lock()
	var pcs []config.Port
	for _, name := range d.order {
		pcs = append(pcs, d.ports[name].cfg)
	}
	d.mu.Unlock()
	for _, pc := range pcs {
		d.restoreGuard(pc, d.opts.inherit.guards(pc.Name))
	}
}

// restoreGuard binds held (bindings the port had) and pc's host's leases
// on pc, if it has guard: dhcp.
func (d *Daemon) restoreGuard(pc config.Port, held []vswitch.GuardBinding) {
	if pc.Guard == nil || !pc.Guard.DHCP {
		return
	}
	now := time.Now()
	n := 0
	bind := func(b vswitch.GuardBinding) {
		if err := d.sw.RestoreGuardBinding(pc.Name, b.MAC, b.IP, b.Expiry, now.Unix()); err != nil {
			d.log.Warn("guard binding not restored", "port", pc.Name, "err", err)
			return
		}
		n++
	}
	for _, b := range held {
		bind(b)
	}
	if pc.Type == "tap" {
		host := pc.MAC
		if host.IsZero() {
			host = tap.StableMAC(pc.Name)
		}
		for _, nw := range d.nets {
			if !pc.Carries(nw.cfg.VLAN) {
				continue
			}
			var leases []dhcp.Lease
			if nw.dhcp != nil {
				leases = nw.dhcp.Leases()
			}
			if nw.d6 != nil { // DHCPv6 leases: the MAC is the frame's that asked
				leases = append(leases, nw.d6.Leases()...)
			}
			for _, l := range leases {
				if m, err := pkt.ParseMAC(l.MAC); err == nil && m == host && l.BoundAt(now) {
					bind(vswitch.GuardBinding{MAC: m, IP: l.IP, Expiry: l.Expiry.Unix()})
				}
			}
		}
	}
	if n > 0 {
		d.log.Info("guard bindings restored", "port", pc.Name, "bindings", n)
	}
}
