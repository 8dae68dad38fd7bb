package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// backend answers the control API from snapshots; it never holds anything
// the frame path needs.
type backend struct{ d *Daemon }

func (b backend) Ports() []control.PortStatus {
	d := b.d
	d.mu.Lock()
	entries := make([]*portEntry, 0, len(d.order))
	for _, n := range d.order {
		entries = append(entries, d.ports[n])
	}
	d.mu.Unlock()
	out := make([]control.PortStatus, 0, len(entries))
	for _, e := range entries {
		if ps, ok := b.status(e); ok {
			out = append(out, ps)
		}
	}
	return out
}

func (b backend) status(e *portEntry) (control.PortStatus, bool) {
	st, ok := b.d.sw.Port(e.cfg.Name)
	if !ok {
		return control.PortStatus{}, false
	}
	pc := e.cfg
	ps := control.PortStatus{
		Name:      pc.Name,
		Type:      pc.Type,
		Mode:      "access",
		VLAN:      pc.VLAN,
		Device:    pc.Device,
		Netns:     pc.Netns,
		Socket:    pc.Socket,
		Up:        true,
		MACs:      st.MACs,
		MaxMACs:   st.MaxMACs,
		QueueLen:  st.QueueLen,
		QueueCap:  st.QueueCap,
		RxPackets: st.RxPackets,
		RxBytes:   st.RxBytes,
		TxPackets: st.TxPackets,
		TxBytes:   st.TxBytes,
		Drops:     map[string]uint64{},
	}
	if len(pc.Trunk) > 0 {
		ps.Mode, ps.VLAN, ps.Trunk, ps.Native = "trunk", 0, pc.Trunk, pc.Native
	}
	if pc.Type == "uplink" {
		ps.Mode = "routed" // in no VLAN: the gateway routes to it
	}
	if dc, ok := e.drv.(driverCounters); ok {
		ps.Driver = dc.Counters()
	}
	for r, n := range st.Drops {
		if n != 0 {
			ps.Drops[dropName(r)] = n
		}
	}
	return ps, true
}

// MDB implements control.MDBBackend.
func (b backend) MDB() []control.MDBEntry {
	entries := b.d.sw.MDB()
	out := make([]control.MDBEntry, 0, len(entries))
	for _, e := range entries {
		me := control.MDBEntry{VLAN: e.VLAN, Port: e.Port, Router: e.Router, ExpiresSeconds: e.Expires.Seconds()}
		if e.Group.IsValid() {
			me.Group = e.Group.String()
		}
		out = append(out, me)
	}
	return out
}

func (b backend) FDB() []control.FDBEntry {
	entries := b.d.sw.FDB()
	out := make([]control.FDBEntry, 0, len(entries))
	tunnels := map[string]remoteOf{}
	b.d.mu.Lock()
	for name, e := range b.d.ports {
		if r, ok := e.drv.(remoteOf); ok {
			tunnels[name] = r
		}
	}
	b.d.mu.Unlock()
	for _, e := range entries {
		fe := control.FDBEntry{
			VLAN:       e.VLAN,
			MAC:        e.MAC.String(),
			Port:       e.Port,
			AgeSeconds: e.Age.Seconds(),
			Static:     e.Static,
		}
		if r, ok := tunnels[e.Port]; ok {
			if a, ok := r.RemoteOf(e.VLAN, e.MAC); ok {
				fe.Remote = a.String()
			}
		}
		out = append(out, fe)
	}
	return out
}

func (b backend) AddPort(spec json.RawMessage) (control.PortStatus, error) {
	pc, err := config.ParsePort(spec)
	if err != nil {
		return control.PortStatus{}, &control.BadRequestError{Err: err}
	}
	if err := b.d.addPort(pc); err != nil {
		return control.PortStatus{}, err
	}
	b.d.keepSpec(pc.Name, spec) // an upgrade hands it over
	b.d.mu.Lock()
	e := b.d.ports[pc.Name]
	b.d.mu.Unlock()
	ps, ok := b.status(e)
	if !ok {
		return control.PortStatus{}, fmt.Errorf("port %s vanished", pc.Name)
	}
	return ps, nil
}

func (b backend) DeletePort(name string) error {
	b.d.mu.Lock()
	e, ok := b.d.ports[name]
	b.d.mu.Unlock()
	// Ports the config's networks and uplinks made are not the API's.
	if ok {
		if what := map[string]string{"gateway": "a network's gateway", "uplink": "an uplink"}[e.cfg.Type]; what != "" {
			return &control.BadRequestError{Err: fmt.Errorf("port %s is %s: change the config to remove it", name, what)}
		}
	}
	return b.d.delPort(name)
}

// StartCapture implements control.CaptureBackend.
func (b backend) StartCapture(port string) (control.CaptureStream, error) {
	c, err := b.d.sw.StartCapture(port)
	if errors.Is(err, vswitch.ErrNoSuchPort) {
		return nil, fmt.Errorf("no port named %q: %w", port, control.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// driverCounters is implemented by drivers with counters of their own.
type driverCounters interface{ Counters() map[string]uint64 }

// remoteOf is implemented by tunnel drivers: the remote host behind a MAC.
type remoteOf interface {
	RemoteOf(vid uint16, mac pkt.MAC) (netip.Addr, bool)
}

// driverStats are the drivers' own counters by port, for metrics.
func (d *Daemon) driverStats() map[string]map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]map[string]uint64{}
	for name, e := range d.ports {
		if dc, ok := e.drv.(driverCounters); ok {
			out[name] = dc.Counters()
		}
	}
	return out
}

// Reload implements control.ReloadBackend.
func (b backend) Reload() (control.ReloadResult, error) { return b.d.Reload() }

// Status implements control.StatusBackend.
func (b backend) Status() control.Status {
	d := b.d
	loaded, ok := d.life.LastSuccess()
	d.mu.Lock()
	re := slices.Clone(d.reattached)
	inh, upErr, from := slices.Clone(d.inherited), d.upgradeErr, d.upgradedFrom
	d.mu.Unlock()
	st := control.Status{Version: Version, Started: d.life.Started(), ConfigSource: d.cfg.Source,
		ConfigLoaded: loaded, LastReloadFailed: !ok, Reattached: re,
		PID: os.Getpid(), Inherited: inh, UpgradedFrom: from, LastUpgradeError: upErr}
	for i, u := range d.uplinks {
		us := control.UplinkStatus{Name: d.cfg.Uplinks[i].Name, Type: "packet"}
		if u.IsUser() {
			us.Type = "user"
		} else if a := u.Address(); a.IsValid() {
			us.Address = a.String()
			if gw := u.Gateway(); gw.IsValid() {
				us.Gateway = gw.String()
			}
		}
		uplinkStatus6(u, &us)
		st.Uplinks = append(st.Uplinks, us)
	}
	return st
}
