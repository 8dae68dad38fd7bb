package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/evpn"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/metrics"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Daemon is a running vswitch.
type Daemon struct {
	cfg *config.Config
	log *slog.Logger
	sw  *vswitch.Switch
	ctl *control.Server
	met *metrics.Server

	mu         sync.Mutex // guards ports and reattached; control path only
	ports      map[string]*portEntry
	reattached []string // ports whose device outlived the previous vswitch
	inherited  []string // ports and uplinks an upgrade handed over
	upgradeErr string   // why the last upgrade failed
	order      []string // port names in the order they were added

	nets    []*network
	uplinks []*gateway.Uplink
	store   *dhcp.Store // nil without DHCP

	evpn     *evpn.Speaker // nil without bgp and an evpn port
	evpnPort string

	opts     Options
	life     *metrics.Lifecycle
	reloadMu sync.Mutex       // one reload at a time
	cfgPorts []config.Port    // the ports of the config last applied; reloadMu
	cfgNets  []config.Network // its networks (hosts may differ from cfg's); reloadMu

	// keep: Stop leaves devices for another process (a hand over is
	// under way: the other one, or this one again, carries on with them).
	keep         bool
	gate         chan struct{} // closed when a taking-over StartWith has every port (gated)
	upgradedFrom int           // the PID that handed over to this process
	handedOff    bool          // stopped for an upgrade; reloadMu
}

// portEntry is what the daemon remembers of a port beyond the switch.
type portEntry struct {
	cfg  config.Port
	drv  vswitch.Port
	spec []byte // the API's spec of a port added at run time; nil: the config's
}

// Version is reported by vswitch_build_info; the command sets it.
var Version = "dev"

// Run starts vswitch with cfg and blocks until ctx is done, then stops it
// cleanly: ports closed, devices removed, the control socket removed.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return RunWith(ctx, cfg, log, Options{}, nil)
}

// RunWith is Run with opts; each value on hup (SIGHUP) reloads the
// config, each on opts.Upgrade (SIGUSR2) hands over to a new process
// (upgrade.go). With opts.Handover it takes over from an old process
// instead of opening its own devices. It returns nil once it has handed
// over.
func RunWith(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options, hup <-chan os.Signal) error {
	if log == nil {
		log = slog.Default()
	}
	opts.upgrades = make(chan upgradeReq)
	var d *Daemon
	var err error
	if opts.Handover != nil {
		d, err = takeOver(cfg, log, opts)
	} else {
		d, err = StartWith(cfg, log, opts)
	}
	if err != nil {
		return err
	}
	if err := notifySystemd(); err != nil {
		log.Warn("telling systemd we are ready", "err", err)
	}
	for ctx.Err() == nil {
		var up *upgradeReq
		select {
		case <-hup:
			if res, err := d.Reload(); err != nil {
				log.Error("reload refused", "err", err)
			} else {
				log.Info("config reloaded", "added", res.Added, "removed", res.Removed, "changed", res.Changed, "hosts", res.Hosts, "networks", res.Networks)
			}
		case <-opts.Upgrade:
			up = &upgradeReq{}
		case r := <-opts.upgrades:
			up = &r
		case <-ctx.Done():
		}
		if up == nil {
			continue
		}
		d.reloadMu.Lock() // no reload over the API meanwhile
		nd, done := d.upgrade(*up)
		d.reloadMu.Unlock()
		if done {
			return nil
		}
		if nd == nil {
			return errors.New("upgrade failed and the devices could not be taken back")
		}
		d = nd
		notifySystemd() // the same process again, after a failed upgrade
	}
	log.Info("stopping")
	return d.Stop()
}

// Start brings up everything cfg describes. On error nothing is left
// behind: ports opened so far are closed again.
func Start(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	return StartWith(cfg, log, Options{})
}

// StartWith is Start with opts.
func StartWith(cfg *config.Config, log *slog.Logger, opts Options) (_ *Daemon, err error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{
		cfg: cfg,
		log: log,
		sw: vswitch.New(vswitch.Config{
			Ageing:     cfg.FDB.Ageing,
			MaxEntries: cfg.FDB.MaxEntries,
			Log:        log,

			NoMulticastSnooping: !cfg.MulticastSnooping,
		}),
		ports:    map[string]*portEntry{},
		opts:     opts,
		cfgPorts: cfg.Ports,
		cfgNets:  cfg.Networks,
		life:     opts.life,
		keep:     opts.inherit != nil,
	}
	if d.life == nil {
		d.life = metrics.NewLifecycle(time.Now())
	}
	if opts.SetCPUs != nil {
		opts.SetCPUs(cfg.CPUs)
	}
	if d.keep {
		d.gate = make(chan struct{})
	}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	// The control socket first: a second vswitch on the same config stops
	// here ("another vswitch is running") before it touches any device or
	// socket the first one owns.
	if cfg.Control != "" {
		d.ctl = control.NewServer(backend{d}, log)
		if err := d.listenControl(); err != nil {
			d.ctl = nil
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	// Each network's gateway is its querier: snooping applies from the
	// first frame, so hosts coming up with the ports are snooped too.
	if cfg.MulticastSnooping {
		for _, n := range cfg.Networks {
			d.sw.SetQuerier(n.VLAN)
		}
		for _, vid := range cfg.QuerierVLANs() {
			d.sw.SetQuerier(vid) // multicast_querier's, started below
		}
	}
	for i := range cfg.Ports {
		pc := cfg.Ports[i]
		if err := d.addPort(pc); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", cfg.Source, pc.Line, err)
		}
	}
	if err := d.addHandedPorts(); err != nil {
		return nil, err
	}
	for _, st := range cfg.FDB.Static {
		if err := d.sw.AddStatic(st.Port, st.VLAN, st.MAC); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", cfg.Source, st.Line, err)
		}
	}
	// multicast_querier: the switch queries the VLANs without a network,
	// once their ports are up, so its first queries reach them all.
	for _, vid := range cfg.QuerierVLANs() {
		if err := d.sw.AddQuerier(vid, querierMAC(cfg.Control)); err != nil {
			return nil, fmt.Errorf("%s:%d: multicast_querier: %w", cfg.Source, cfg.MulticastQuerier.Line, err)
		}
	}
	if err := d.startNetworks(); err != nil {
		return nil, err
	}
	if err := d.startEVPN(); err != nil {
		return nil, err
	}
	d.restoreGuards() // before a taking-over start's ports read (the gate)
	d.restoreFDB()
	d.restoreCounters()
	if cfg.Metrics != "" {
		col := metrics.NewCollector(d.sw, d.portType, Version)
		col.Networks = d.networkStats
		col.Uplinks = d.uplinkStats
		col.Driver = d.driverStats
		reg := metrics.Registry(col)
		reg.MustRegister(d.life, metrics.NewMDBCollector(d.sw.MDBStats))
		if d.met, err = d.metricsServer(reg); err != nil {
			return nil, fmt.Errorf("metrics %s: %w", cfg.Metrics, err)
		}
		go func() {
			if err := d.met.Serve(); err != nil {
				log.Error("metrics endpoint stopped", "err", err)
			}
		}()
		log.Info("serving metrics", "addr", "http://"+d.met.Addr()+"/metrics")
	}
	d.keep = false // from here on a failure is this process's to clean up
	if d.gate != nil {
		close(d.gate) // every port is back: forward
		d.gate = nil
	}
	// The API answers only from here on: until now Start wrote the ports,
	// networks and uplinks it reads without a lock. A client that connected
	// earlier waits in the listen backlog.
	if d.ctl != nil {
		go func() {
			if err := d.ctl.Serve(); err != nil {
				log.Error("control API stopped", "err", err)
			}
		}()
	}
	log.Info("vswitch running", "ports", len(cfg.Ports), "control", cfg.Control, "inherited", len(d.inherited))
	return d, nil
}

// Stop closes the control socket, every port and the switch.
func (d *Daemon) Stop() error {
	var errs []error
	if d.met != nil {
		errs = append(errs, d.met.Close())
	}
	if d.ctl != nil {
		if d.keep {
			d.ctl.KeepSocket() // the other process serves on it
		}
		errs = append(errs, d.ctl.Close())
	}
	if d.evpn != nil {
		errs = append(errs, d.evpn.Close()) // peers hear a NOTIFICATION before the tunnel goes
	}
	d.mu.Lock()
	if d.keep {
		for _, e := range d.ports {
			if h, ok := e.drv.(interface{ KeepDevice() }); ok {
				h.KeepDevice()
			}
		}
	}
	d.ports = map[string]*portEntry{}
	d.order = nil
	d.mu.Unlock()
	errs = append(errs, d.sw.Close())
	for _, u := range d.uplinks {
		errs = append(errs, u.Close())
	}
	for _, n := range d.nets {
		if n.dns != nil {
			n.dns.Close() // after the gateways: no query comes in any more
		}
	}
	if d.store != nil {
		d.store.Close() // after the gateways: writes what is queued
	}
	return errors.Join(errs...)
}

// portType names a port's type for metrics.
func (d *Daemon) portType(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.ports[name]; ok {
		return e.cfg.Type
	}
	return ""
}

// Switch is the forwarding plane, for in-process tests.
func (d *Daemon) Switch() *vswitch.Switch { return d.sw }

// addPort opens the driver for pc and attaches it.
func (d *Daemon) addPort(pc config.Port) error { return d.openPort(pc, false) }

// openPort is addPort; reopen says the device was kept on purpose (a
// reload changing the port), so taking it back is no news.
func (d *Daemon) openPort(pc config.Port, reopen bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ports[pc.Name]; ok {
		return fmt.Errorf("port %s: %w", pc.Name, control.ErrExists)
	}
	drv, err := d.adopt(pc)
	if drv == nil && err == nil {
		drv, err = openDriver(pc, d.log)
	}
	if err != nil {
		return fmt.Errorf("port %s: %w", pc.Name, err)
	}
	if err := d.sw.AddPort(switchPortConfig(pc), d.gatedPort(drv)); err != nil {
		drv.Close()
		return err
	}
	d.ports[pc.Name] = &portEntry{cfg: pc, drv: drv}
	d.order = append(d.order, pc.Name)
	if r, ok := drv.(reattacher); ok && r.Reattached() && !reopen {
		d.life.Reattached()
		d.reattached = append(d.reattached, pc.Name)
		d.log.Warn("port reattached: its device outlived a vswitch that did not stop cleanly", "port", pc.Name)
	}
	d.log.Info("port added", "port", pc.Name, "type", pc.Type, "vlans", vlanString(pc))
	return nil
}

// delPort detaches and closes a port.
func (d *Daemon) delPort(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ports[name]; !ok {
		return fmt.Errorf("port %s: %w", name, control.ErrNotFound)
	}
	if err := d.sw.RemovePort(name); err != nil {
		return err
	}
	delete(d.ports, name)
	for i, n := range d.order {
		if n == name {
			d.order = append(d.order[:i], d.order[i+1:]...)
			break
		}
	}
	d.log.Info("port removed", "port", name)
	return nil
}

// reattacher is implemented by drivers whose device can outlive vswitch.
type reattacher interface{ Reattached() bool }

// multicastRouters maps multicast_router to the switch's setting ("":
// a port added without config, auto).
var multicastRouters = map[string]vswitch.MulticastRouter{"auto": vswitch.MulticastRouterAuto,
	"never": vswitch.MulticastRouterNever, "always": vswitch.MulticastRouterAlways}

func switchPortConfig(pc config.Port) vswitch.PortConfig {
	v := vswitch.VLANConfig{PVID: pc.VLAN}
	if len(pc.Trunk) > 0 {
		v = vswitch.VLANConfig{Trunk: true, Allowed: pc.Trunk, Native: pc.Native}
	}
	spc := vswitch.PortConfig{Name: pc.Name, VLAN: v, MaxMACs: pc.MaxMACs, Queue: pc.Queue, Isolated: pc.Isolated,
		MaxGroups: pc.MaxGroups, MulticastRouter: multicastRouters[pc.MulticastRouter],
		RAGuard: pc.Type == "tap" || pc.Type == "qemu"} // a guest is nobody's router
	if pc.DHCPRelay {
		spc.Mark |= gateway.MarkDHCPRelay // the gateway trusts the relay by its frames' ingress
	}
	if g := pc.Guard; g != nil {
		spc.Guard = &vswitch.GuardConfig{DHCP: g.DHCP, MACs: g.MACs, IPs: g.IPs}
	}
	return spc
}

func vlanString(pc config.Port) string {
	if len(pc.Trunk) == 0 {
		return fmt.Sprintf("access %d", pc.VLAN)
	}
	s := fmt.Sprintf("trunk %v", pc.Trunk)
	if pc.Native != 0 {
		s += fmt.Sprintf(" native %d", pc.Native)
	}
	return s
}
