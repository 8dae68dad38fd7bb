package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/metrics"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
	"github.com/vswitch/vswitch/tap"
)

// A binary upgrade (vswitch upgrade, SIGUSR2) in the manner of nginx's
// and haproxy's: the running process starts the new binary with a
// socketpair, waits for it to load its config, then stops forwarding
// without closing anything, hands over its TAP devices, AF_PACKET and
// VXLAN sockets, QEMU ports' listeners and connected VMs (SCM_RIGHTS;
// handover_ports.go) and its NAT tables, and exits once the new process
// forwards. Frames that arrive meanwhile wait in the devices' queues; a
// guest sees no link change, a QEMU guest no disconnect, and a NAT'd
// connection keeps its outside port. If the new process does not come
// up, the old one takes its own copies of the descriptors back and
// carries on. Leases need nothing: they are on disk.

// Hand-over timeouts: a new binary loads its config, and then starts.
const (
	helloTimeout = 30 * time.Second
	readyTimeout = 60 * time.Second
)

// upgradeReq is an upgrade asked for over the API (reply set) or by
// SIGUSR2.
type upgradeReq struct {
	binary string
	reply  chan upgradeReply
}

type upgradeReply struct {
	pid int
	err error
}

// handable is a driver whose open device can go to another process.
type handable interface {
	Dup() (int, error)
	KeepDevice()
}

// Upgrade implements control.UpgradeBackend: the runner (RunWith) does it.
func (b backend) Upgrade(binary string) (control.UpgradeResult, error) {
	res := control.UpgradeResult{OldPID: os.Getpid()}
	if b.d.opts.upgrades == nil {
		return res, &control.BadRequestError{Err: errors.New("this vswitch was not started by 'vswitch run': it cannot hand over")}
	}
	req := upgradeReq{binary: binary, reply: make(chan upgradeReply, 1)}
	select {
	case b.d.opts.upgrades <- req:
	case <-time.After(helloTimeout):
		return res, errors.New("another reload or upgrade is under way: try again")
	}
	r := <-req.reply
	res.NewPID = r.pid
	return res, r.err
}

// upgrade hands d over to a new process. It returns true once that one
// runs; else the daemon to carry on with: d itself if the new binary did
// not come up, or d restarted on its own descriptors if it failed after
// d had stopped.
func (d *Daemon) upgrade(req upgradeReq) (*Daemon, bool) {
	answer := func(pid int, err error) {
		if req.reply != nil {
			req.reply <- upgradeReply{pid, err}
		}
		if err != nil {
			d.log.Error("upgrade failed; still running", "err", err)
			d.setUpgradeErr(err)
		}
	}
	d.setUpgradeErr(nil) // what status says is this attempt's outcome
	argv, err := d.upgradeArgv(req.binary)
	if err != nil {
		answer(0, err)
		return d, false
	}
	c, cmd, err := spawn(argv)
	if err != nil {
		answer(0, fmt.Errorf("starting %s: %w", argv[0], err))
		return d, false
	}
	defer c.Close()
	failed := func(err error) error {
		cmd.Process.Kill()
		if werr := cmd.Wait(); werr != nil {
			err = fmt.Errorf("%w (the new process: %v)", err, werr)
		}
		return err
	}
	if _, err := readMsg(c, time.Now().Add(helloTimeout), "hello"); err != nil {
		answer(0, failed(fmt.Errorf("new vswitch %s did not come up: %w", argv[0], err)))
		return d, false
	}
	pid := cmd.Process.Pid
	answer(pid, nil)
	d.log.Info("handing over", "to_pid", pid, "binary", argv[0])

	st, fds := d.handoff()
	err = writeMsg(c, handMsg{Kind: "state", PID: os.Getpid(), State: &st})
	if err == nil {
		err = sendFDs(c, fds)
	}
	var m handMsg
	if err == nil {
		m, err = readMsg(c, time.Now().Add(readyTimeout), "ready", "failed")
	}
	if err == nil && m.Kind == "failed" {
		err = fmt.Errorf("%w: %s", errHandover, m.Error)
	}
	if err == nil {
		closeFDs(fds)
		d.log.Info("handed over: the new vswitch forwards; exiting", "pid", pid)
		return nil, true
	}
	err = failed(fmt.Errorf("new vswitch pid %d failed to take over: %w", pid, err))
	d.log.Error("upgrade failed; taking the devices back", "err", err)
	nd, serr := d.resume(st, fds)
	if serr != nil {
		d.log.Error("taking the devices back failed: stopping", "err", serr)
		return nil, false
	}
	nd.setUpgradeErr(err)
	return nd, false
}

// upgradeArgv is the new process's command line.
func (d *Daemon) upgradeArgv(binary string) ([]string, error) {
	argv := d.opts.Exec
	if argv == nil {
		exe, err := os.Executable() // the path, even if the file was replaced
		if err != nil {
			return nil, fmt.Errorf("finding this binary: %w", err)
		}
		argv = append([]string{exe}, os.Args[1:]...)
	}
	argv = append([]string(nil), argv...)
	if binary != "" {
		argv[0] = binary
	}
	return argv, nil
}

// spawn starts argv with one end of a socketpair as HandoverFDEnv; its
// output goes where ours does.
func spawn(argv []string) (*net.UnixConn, *exec.Cmd, error) {
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "handover"), os.NewFile(uintptr(pair[1]), "handover")
	defer theirs.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	cmd.Env = append(os.Environ(), HandoverFDEnv+"=3")
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, nil, err
	}
	c, err := handoverConn(ours)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, err
	}
	return c, cmd, nil
}

// handoff stops d without letting go of anything: each TAP device and
// AF_PACKET socket is duplicated and kept, then d stops; the NAT tables
// are read once nothing translates any more. The caller owns the
// descriptors.
func (d *Daemon) handoff() (handState, []int) {
	d.handedOff = true // the runner holds reloadMu
	st := handState{NAT: map[string]nat.Snapshot{}, Neigh: map[string][]gateway.Neighbour{},
		Guard: map[string][]vswitch.GuardBinding{}, Pending: map[string][]byte{}}
	var fds []int
	d.mu.Lock()
	for _, name := range d.order {
		if b := d.sw.GuardBindings(name); len(b) > 0 {
			st.Guard[name] = b
		}
		fds = d.handPort(d.ports[name], &st, fds)
	}
	d.mu.Unlock()
	for _, e := range d.sw.FDB() {
		if !e.Static {
			st.FDB = append(st.FDB, e)
		}
	}
	if d.ctl != nil { // API clients wait in its backlog meanwhile
		if fd, err := dupListener(d.ctl.Listener()); err != nil {
			d.log.Warn("upgrade: the control socket is made afresh", "err", err)
		} else {
			d.ctl.KeepSocket()
			fds = append(fds, fd)
			st.Files = append(st.Files, handFile{Kind: "control", Name: d.cfg.Control})
		}
	}
	if d.met != nil { // scrapes wait in its backlog meanwhile
		if fd, err := dupListener(d.met.Listener()); err != nil {
			d.log.Warn("upgrade: the metrics listener is opened afresh", "err", err)
		} else {
			fds = append(fds, fd)
			st.Files = append(st.Files, handFile{Kind: "metrics", Name: d.cfg.Metrics})
		}
	}
	for _, u := range d.uplinks {
		u.KeepLease() // the new process goes on with the lease
	}
	d.Stop()
	st.Counters = d.portCounters()
	for i, u := range d.uplinks {
		if !u.IsUser() {
			st.NAT[d.cfg.Uplinks[i].Name] = u.NAT().Export()
			st.Neigh["uplink:"+d.cfg.Uplinks[i].Name] = u.ExportNeighbours()
		}
	}
	for _, n := range d.nets {
		st.Neigh["network:"+n.cfg.Name] = n.gw.ExportNeighbours()
	}
	return st, fds
}

// resume starts d's config again on the descriptors and state d handed
// over, after the new process failed.
func (d *Daemon) resume(st handState, fds []int) (*Daemon, error) {
	cfg := *d.cfg
	cfg.Ports, cfg.Networks = d.cfgPorts, d.cfgNets // as reloaded
	o := d.opts
	o.inherit, o.life = newInherited(&st, fds), d.life
	nd, err := StartWith(&cfg, d.log, o)
	if err != nil {
		return nil, err
	}
	nd.dropRest(o.inherit)
	return nd, nil
}

// takeOver is the new process's side: hello, the state and descriptors,
// start on them, ready (or failed, and exit).
func takeOver(cfg *config.Config, log *slog.Logger, opts Options) (*Daemon, error) {
	c, err := handoverConn(opts.Handover)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := writeMsg(c, handMsg{Kind: "hello", PID: os.Getpid(), Version: Version}); err != nil {
		return nil, err
	}
	m, err := readMsg(c, time.Now().Add(readyTimeout), "state")
	if err == nil && m.State == nil {
		err = fmt.Errorf("%w: a state message without state", errHandover)
	} else if err == nil {
		err = checkState(m.State)
	}
	if err != nil {
		return nil, err
	}
	fds, err := recvFDs(c, len(m.State.Files), time.Now().Add(readyTimeout))
	if err != nil {
		return nil, err
	}
	opts.inherit = newInherited(m.State, fds)
	d, err := StartWith(cfg, log, opts)
	if err != nil {
		closeFDs(mapValues(opts.inherit.rest())) // the old process has its own copies
		writeMsg(c, handMsg{Kind: "failed", Error: err.Error()})
		return nil, err
	}
	d.dropRest(opts.inherit)
	d.mu.Lock()
	d.upgradedFrom = m.PID
	d.mu.Unlock()
	if err := writeMsg(c, handMsg{Kind: "ready", PID: os.Getpid()}); err != nil {
		d.log.Warn("the old vswitch went away before it heard we are ready; running anyway", "err", err)
	}
	return d, nil
}

func mapValues(m map[handFile]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// dropRest removes the devices of handed-over ports the config no longer
// has (added with 'port add', or gone from the file): as a clean stop
// would have.
func (d *Daemon) dropRest(h *inherited) {
	for f, fd := range h.rest() {
		if f.Kind == "tap" {
			if t, err := tap.AdoptTAP(f.Name, fd); err == nil {
				t.Close() // not kept: the device goes
			}
		} else {
			syscall.Close(fd)
		}
		d.log.Warn("upgrade: handed over but not in the config; closed", "name", f.Name, "kind", f.Kind)
	}
}

// setUpgradeErr records why the last upgrade failed; nil clears it.
func (d *Daemon) setUpgradeErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.upgradeErr = ""; err != nil {
		d.upgradeErr = err.Error()
	}
}

// uplinkLink is the AF_PACKET socket of a packet uplink: handed over, or
// opened.
func (d *Daemon) uplinkLink(uc config.Uplink) (vswitch.Port, error) {
	fd, ok := d.opts.inherit.take(handFile{Kind: "uplink", Name: uc.Name, Device: uc.Device})
	if !ok {
		return tap.OpenAFPacket(tap.AFPacketConfig{Device: uc.Device})
	}
	link, err := tap.AdoptAFPacket(uc.Device, fd)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.inherited = append(d.inherited, uc.Name)
	d.mu.Unlock()
	return link, nil
}

// natTable is an uplink's conntrack table, with the flows a hand over
// brought. A snapshot it cannot take whole is logged and taken in part:
// the flows it lost start again as new ones.
func (d *Daemon) natTable(uplink string) *nat.Table {
	t := nat.New(nat.Config{MaxEntries: d.cfg.Conntrack.MaxEntries, MaxPerSource: d.cfg.Conntrack.MaxPerSource})
	if d.opts.inherit == nil {
		return t
	}
	snap, ok := d.opts.inherit.nat[uplink]
	if !ok {
		return t
	}
	n, err := t.Import(snap, time.Now().Unix())
	if err != nil {
		d.log.Warn("upgrade: conntrack table taken in part", "uplink", uplink, "flows", n, "of", len(snap.Flows), "err", err)
	} else {
		d.log.Info("upgrade: conntrack table taken over", "uplink", uplink, "flows", n)
	}
	return t
}

// gated holds a port's reader until the daemon has every port back
// (Daemon.gate): a backlog that waited in a device during the hand over,
// read before the port it is for exists again, would be flooded to
// nobody. The check is per batch, a bool after the first.
type gated struct {
	vswitch.Port
	open   <-chan struct{}
	closed chan struct{}
	once   sync.Once
	opened bool // the reader's own
}

func (g *gated) ReadBatch(frames []*vswitch.Frame) (int, error) {
	if !g.opened {
		select {
		case <-g.open:
		case <-g.closed:
			// Not a byte read: a take-over that failed leaves a QEMU
			// VM's stream to the old process where it stopped.
			return 0, vswitch.ErrClosed
		}
		g.opened = true
	}
	return g.Port.ReadBatch(frames)
}

// Close lets a reader still held go.
func (g *gated) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.Port.Close()
}

// gatedPort is drv, held until the gate opens while StartWith takes over.
func (d *Daemon) gatedPort(drv vswitch.Port) vswitch.Port {
	if d.gate == nil {
		return drv
	}
	return &gated{Port: drv, open: d.gate, closed: make(chan struct{})}
}

// metricsServer serves reg on the handed-over metrics listener, or on a
// new one.
func (d *Daemon) metricsServer(reg *prometheus.Registry) (*metrics.Server, error) {
	if fd, ok := d.opts.inherit.take(handFile{Kind: "metrics", Name: d.cfg.Metrics}); ok {
		ln, err := listenerOf(fd, "metrics")
		if err == nil {
			d.mu.Lock()
			d.inherited = append(d.inherited, "metrics")
			d.mu.Unlock()
			return metrics.Serving(ln, reg), nil
		}
		d.log.Warn("upgrade: the metrics listener is opened afresh", "err", err)
	}
	return metrics.Listen(d.cfg.Metrics, reg)
}

// listenControl serves the API on the handed-over control socket, or on
// a new one.
func (d *Daemon) listenControl() error {
	if fd, ok := d.opts.inherit.take(handFile{Kind: "control", Name: d.cfg.Control}); ok {
		ln, err := listenerOf(fd, "control")
		if err == nil {
			ul, isUnix := ln.(*net.UnixListener)
			if !isUnix {
				ln.Close()
				err = fmt.Errorf("%w: the control socket is a %T", errHandover, ln)
			} else if err = d.ctl.Adopt(ul, d.cfg.Control); err == nil {
				d.mu.Lock()
				d.inherited = append(d.inherited, "control")
				d.mu.Unlock()
				return nil
			} else {
				ul.Close()
			}
		}
		d.log.Warn("upgrade: the control socket is made afresh", "err", err)
	}
	return d.ctl.Listen(d.cfg.Control)
}

// restoreFDB learns the entries an upgrade handed over, before any port
// reads: the new process forwards to known hosts at once instead of
// flooding until it hears from each. The table's bounds hold.
func (d *Daemon) restoreFDB() {
	if d.opts.inherit == nil || len(d.opts.inherit.fdb) == 0 {
		return
	}
	now, n := time.Now().Unix(), 0
	for _, e := range d.opts.inherit.fdb {
		if d.sw.RestoreLearned(e.Port, e.VLAN, e.MAC, now-int64(e.Age/time.Second)) {
			n++
		}
	}
	d.log.Info("upgrade: FDB taken over", "entries", n, "of", len(d.opts.inherit.fdb))
}
