package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	vswitch "github.com/vswitch/vswitch/switch"
	"github.com/vswitch/vswitch/tap"
)

// What each kind of port hands over. A TAP device, an AF_PACKET socket
// (ports and uplinks) and a VXLAN tunnel's UDP socket are one descriptor
// each (handable); a QEMU port is its listening socket, the connection of
// the VM on it if one is, and what its reader had read of that VM's
// stream (tap.QEMU.HandOver), so the VM stays connected. A port added
// with 'port add' also hands over its spec: the new process's config does
// not have it.

// Kinds of handed-over descriptors beyond a port type's own.
const (
	handQEMUVM = "qemu-vm" // the VM's connection on a qemu port
)

// Bounds on the specs a hand over carries.
const maxHandSpec = 64 << 10

// qemuHandable is a QEMU port, which hands over more than one descriptor.
type qemuHandable interface {
	HandOver() (tap.QEMUHandover, error)
	KeepDevice()
}

// handKey is how a port's descriptor is known in a hand over: by type,
// name and what it is open on, so a port whose config changed meanwhile
// opens afresh instead of taking a descriptor of something else.
func handKey(pc config.Port) handFile {
	f := handFile{Kind: pc.Type, Name: pc.Name, Device: pc.Device}
	switch pc.Type {
	case "qemu":
		f.Device = pc.Socket + pc.Listen // one of them is set
	case "vxlan":
		f.Device = fmt.Sprintf("%s/%s:%d", pc.Netns, pc.VXLAN.Local, pc.VXLAN.DstPort)
	}
	return f
}

// handPort adds what port e hands over to st and fds; under d.mu.
func (d *Daemon) handPort(e *portEntry, st *handState, fds []int) []int {
	name, key := e.cfg.Name, handKey(e.cfg)
	if e.spec != nil {
		st.Added = append(st.Added, e.spec)
	}
	if q, ok := e.drv.(qemuHandable); ok {
		h, err := q.HandOver()
		if err != nil {
			d.log.Warn("upgrade: cannot hand over this port; the new vswitch opens it afresh and its VM must reconnect", "port", name, "err", err)
			return fds
		}
		q.KeepDevice()
		fds = append(fds, h.Listener)
		st.Files = append(st.Files, key)
		if h.Conn >= 0 {
			fds = append(fds, h.Conn)
			key.Kind = handQEMUVM
			st.Files = append(st.Files, key)
			if len(h.Pending) > 0 {
				st.Pending[name] = h.Pending
			}
		}
		return fds
	}
	h, ok := e.drv.(handable)
	if !ok {
		return fds
	}
	fd, err := h.Dup()
	if err != nil {
		d.log.Warn("upgrade: cannot hand over this port; the new vswitch opens it afresh", "port", name, "err", err)
		return fds
	}
	h.KeepDevice()
	st.Files = append(st.Files, key)
	return append(fds, fd)
}

// adopt opens pc on a handed-over descriptor if there is one for it;
// nil, nil if there is none. Under d.mu (openPort).
func (d *Daemon) adopt(pc config.Port) (vswitch.Port, error) {
	key := handKey(pc)
	fd, ok := d.opts.inherit.take(key)
	if !ok {
		return nil, nil
	}
	var drv vswitch.Port
	var err error
	switch pc.Type {
	case "tap":
		drv, err = tap.AdoptTAP(pc.Name, fd)
	case "afpacket":
		drv, err = tap.AdoptAFPacket(pc.Device, fd)
	case "vxlan":
		drv, err = tap.AdoptVXLAN(vxlanConfig(pc), fd)
	case "qemu":
		h := tap.QEMUHandover{Listener: fd, Conn: -1}
		key.Kind = handQEMUVM
		if vm, ok := d.opts.inherit.take(key); ok {
			h.Conn, h.Pending = vm, d.opts.inherit.pending[pc.Name]
		}
		var perm tap.QEMUConfig
		if perm, err = qemuConfig(pc, d.log); err != nil {
			closeFDs([]int{h.Listener, h.Conn})
			return nil, err
		}
		drv, err = tap.AdoptQEMU(perm, h)
	default:
		syscall.Close(fd)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.inherited = append(d.inherited, pc.Name)
	return drv, nil
}

// addHandedPorts adds the ports an upgrade handed over that 'port add'
// had added, on their descriptors. One the config has now is the
// config's.
func (d *Daemon) addHandedPorts() error {
	if d.opts.inherit == nil {
		return nil
	}
	for _, spec := range d.opts.inherit.added {
		pc, err := config.ParsePort(spec)
		if err != nil {
			return fmt.Errorf("%w: a port added at run time: %w", errHandover, err)
		}
		err = d.addPort(pc)
		if errors.Is(err, control.ErrExists) {
			d.log.Warn("upgrade: a port added at run time is in the config now; the config's is kept", "port", pc.Name)
			continue
		}
		if err != nil {
			return fmt.Errorf("port %s (added at run time): %w", pc.Name, err)
		}
		d.mu.Lock()
		d.ports[pc.Name].spec = spec
		d.mu.Unlock()
	}
	return nil
}

// checkState refuses a state message no old vswitch sends: more
// descriptors or specs than the bounds, pending bytes past a QEMU port's
// buffer or for a port without a VM, and a spec that does not parse.
func checkState(st *handState) error {
	if len(st.Files) > maxHandFiles || len(st.Added) > maxHandFiles {
		return fmt.Errorf("%w: %d descriptors and %d added ports, past %d", errHandover, len(st.Files), len(st.Added), maxHandFiles)
	}
	vms := map[string]bool{}
	for _, f := range st.Files {
		if f.Kind == handQEMUVM {
			vms[f.Name] = true
		}
	}
	for name, b := range st.Pending {
		if len(b) > tap.QEMUMaxPending || !vms[name] {
			return fmt.Errorf("%w: %d bytes pending for port %q", errHandover, len(b), name)
		}
	}
	for _, spec := range st.Added {
		if len(spec) > maxHandSpec {
			return fmt.Errorf("%w: a port spec of %d bytes", errHandover, len(spec))
		}
		if _, err := config.ParsePort(spec); err != nil {
			return fmt.Errorf("%w: a port added at run time: %w", errHandover, err)
		}
	}
	return nil
}

// keepSpec records the spec of a port the API added, for a hand over.
func (d *Daemon) keepSpec(name string, spec json.RawMessage) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.ports[name]; ok {
		e.spec = append(json.RawMessage(nil), spec...)
	}
}

// handCounters are a port's counters in a hand over; drops by reason
// label, which stays the same from one version to the next where the
// reasons' numbers may not.
type handCounters struct {
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	Drops     map[string]uint64 `json:"drops,omitempty"`
}

// portCounters are the counters of every port the stopped switch had,
// for a hand over.
func (d *Daemon) portCounters() map[string]handCounters {
	out := map[string]handCounters{}
	for _, p := range d.sw.FinalPorts() {
		c := handCounters{RxPackets: p.RxPackets, RxBytes: p.RxBytes, TxPackets: p.TxPackets, TxBytes: p.TxBytes}
		for r, n := range p.Drops {
			if n > 0 {
				if c.Drops == nil {
					c.Drops = map[string]uint64{}
				}
				c.Drops[vswitch.DropReason(r).String()] = n
			}
		}
		out[p.Name] = c
	}
	return out
}

// restoreCounters adds the counters an upgrade handed over to the ports
// of the same names, before they forward: show ports and /metrics go on
// from where the old process left off. A drop reason this version does
// not know is left out.
func (d *Daemon) restoreCounters() {
	if d.opts.inherit == nil {
		return
	}
	label := map[string]vswitch.DropReason{}
	for r := range vswitch.NumDropReasons {
		label[r.String()] = r
	}
	for name, c := range d.opts.inherit.counters {
		st := vswitch.PortStatus{RxPackets: c.RxPackets, RxBytes: c.RxBytes, TxPackets: c.TxPackets, TxBytes: c.TxBytes}
		for l, n := range c.Drops {
			if r, ok := label[l]; ok {
				st.Drops[r] = n
			}
		}
		d.sw.AddCounters(name, st)
	}
}
