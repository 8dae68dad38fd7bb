package daemon

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/metrics"
)

// Options are what a daemon needs beyond its config.
type Options struct {
	// Load reads the config again, from where it first came, for Reload;
	// nil: Reload is refused.
	Load func() (*config.Config, error)

	// Exec is the command line (binary first) an upgrade starts; nil:
	// this process's own binary and arguments. An upgrade may name
	// another binary.
	Exec []string
	// Handover is the hand-over socket (HandoverFDEnv) of a process an
	// upgrade started: RunWith takes the old process's devices and state
	// from it instead of opening its own. Nil otherwise.
	Handover *os.File
	// Upgrade delivers SIGUSR2: each value starts an upgrade.
	Upgrade <-chan os.Signal
	// SetCPUs applies the config's cpus at start and at each reload (the
	// command sets runtime.GOMAXPROCS); nil: cpus is not applied, so that
	// a daemon inside a test leaves its process alone.
	SetCPUs func(config.CPUs)

	upgrades chan upgradeReq    // API requests for the runner (RunWith)
	inherit  *inherited         // what StartWith takes over
	life     *metrics.Lifecycle // kept across a failed upgrade
}

// Reload re-reads the config and applies the difference in ports: new
// ones are opened, removed ones closed, changed ones (VLANs, limits,
// guards, anything) reopened; a changed TAP port keeps its device, so the
// host keeps its addresses. Networks' dhcp.hosts and dns.hosts are
// swapped in. Everything else must be as running: a change there (a
// network's address, say) is refused with the reason, as is a file with
// errors, and nothing is applied. If opening a port fails, what
// this reload did is undone. Ports added with the API are left alone.
func (d *Daemon) Reload() (res control.ReloadResult, err error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.handedOff { // this one waited out an upgrade that stopped d
		return res, errors.New("an upgrade replaced this vswitch while the reload waited: reload again")
	}
	defer func() { d.life.Reloaded(err == nil, time.Now()) }()
	return d.reload()
}

func (d *Daemon) reload() (control.ReloadResult, error) {
	var res control.ReloadResult
	if d.opts.Load == nil {
		return res, &control.BadRequestError{Err: errors.New("this vswitch was started without a config file to reload")}
	}
	nc, err := d.opts.Load()
	if err != nil {
		return res, &control.BadRequestError{Err: err}
	}
	if err := fixedParts(d.cfg, nc); err != nil {
		return res, &control.BadRequestError{Err: err}
	}
	if err := d.liveRefused(nc); err != nil {
		return res, &control.BadRequestError{Err: err}
	}
	added, removed, changed := diffPorts(d.cfgPorts, nc.Ports)
	if err := d.reloadable(nc, added, removed, changed); err != nil {
		return res, &control.BadRequestError{Err: err}
	}

	var undo []func()
	rollback := func(err error) (control.ReloadResult, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return control.ReloadResult{}, fmt.Errorf("%w; nothing was changed", err)
	}
	for _, p := range added {
		if err := d.addPort(p); err != nil {
			return rollback(fmt.Errorf("%s:%d: %w", nc.Source, p.Line, err))
		}
		undo = append(undo, func() { d.delPort(p.Name) })
		d.restoreGuard(p, nil) // a TAP port's host may hold a lease already
		res.Added = append(res.Added, p.Name)
	}
	for _, c := range changed {
		if err := d.replacePort(c[0], c[1]); err != nil {
			d.replacePort(c[1], c[0]) // the old one back, device and all
			return rollback(fmt.Errorf("%s:%d: %w", nc.Source, c[1].Line, err))
		}
		undo = append(undo, func() { d.replacePort(c[1], c[0]) })
		res.Changed = append(res.Changed, c[1].Name)
	}

	// Closing cannot fail in a way that leaves the port half there, so
	// removals come last and are not undone.
	for _, p := range removed {
		if err := d.delPort(p.Name); err != nil && !errors.Is(err, control.ErrNotFound) {
			d.log.Warn("reload: removing a port", "port", p.Name, "err", err)
		}
		res.Removed = append(res.Removed, p.Name)
	}
	d.cfgPorts = nc.Ports
	if d.opts.SetCPUs != nil {
		d.opts.SetCPUs(nc.CPUs)
	}
	// Networks last: each swap cannot fail, so none is half applied.
	res.Hosts, res.Networks = d.applyNetworks(nc)
	d.cfgNets = nc.Networks
	return res, nil
}

// replacePort closes the port old describes and opens it as nu says. A
// TAP keeps its device across (KeepDevice), so its host notices nothing
// but a short gap; other drivers are reopened (a QEMU guest reconnects).
func (d *Daemon) replacePort(old, nu config.Port) error {
	d.mu.Lock()
	e, ok := d.ports[old.Name]
	d.mu.Unlock()
	held := d.sw.GuardBindings(old.Name) // the reopened port keeps them
	kept := false
	if ok {
		if k, isTAP := e.drv.(interface{ KeepDevice() }); isTAP && old.Type == "tap" && nu.Type == "tap" && old.Netns == nu.Netns {
			k.KeepDevice()
			kept = true
		}
		if err := d.delPort(old.Name); err != nil {
			return err
		}
	}
	if err := d.openPort(nu, kept); err != nil {
		return err
	}
	d.restoreGuard(nu, held)
	// Its static FDB entries went with its old self (fdb is the same in
	// every config a reload accepts).
	for _, st := range d.cfg.FDB.Static {
		if st.Port == nu.Name {
			if err := d.sw.AddStatic(st.Port, st.VLAN, st.MAC); err != nil {
				d.log.Warn("reload: static FDB entry", "port", st.Port, "mac", st.MAC, "err", err)
			}
		}
	}
	return nil
}

// reloadable refuses port changes a reload cannot make: a name the API
// already uses, and the EVPN port (the BGP speaker holds its tunnel).
func (d *Daemon) reloadable(nc *config.Config, added, removed []config.Port, changed [][2]config.Port) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range added {
		if _, ok := d.ports[p.Name]; ok {
			return fmt.Errorf("%s:%d: port %s: a port of that name exists (added with 'port add'?): delete it first; nothing was changed", nc.Source, p.Line, p.Name)
		}
	}
	evpn := func(p config.Port, line int) error {
		if p.VXLAN.EVPN {
			return fmt.Errorf("%s:%d: port %s: the EVPN port cannot be added, removed or changed live: restart vswitch; nothing was changed", nc.Source, line, p.Name)
		}
		return nil
	}
	for _, p := range added {
		if err := evpn(p, p.Line); err != nil {
			return err
		}
	}
	for _, p := range removed {
		if err := evpn(p, 0); err != nil {
			return err
		}
	}
	for _, c := range changed {
		if err := errors.Join(evpn(c[0], c[1].Line), evpn(c[1], c[1].Line)); err != nil {
			return err
		}
	}
	return nil
}

// diffPorts compares two configs' ports by name, in the new file's order.
func diffPorts(old, nu []config.Port) (added, removed []config.Port, changed [][2]config.Port) {
	byName := map[string]config.Port{}
	for _, p := range old {
		byName[p.Name] = p
	}
	seen := map[string]bool{}
	for _, p := range nu {
		seen[p.Name] = true
		o, ok := byName[p.Name]
		switch {
		case !ok:
			added = append(added, p)
		case differs(o, p):
			changed = append(changed, [2]config.Port{o, p})
		}
	}
	for _, p := range old {
		if !seen[p.Name] {
			removed = append(removed, p)
		}
	}
	return added, removed, changed
}

// differs says whether two ports differ in anything but their line.
func differs(a, b config.Port) bool {
	_, _, _, ok := firstDiff(reflect.ValueOf(a), reflect.ValueOf(b), "")
	return ok
}

// fixedParts refuses a new config that differs from the running one
// anywhere but in its ports, naming the first difference and its line.
func fixedParts(run, nc *config.Config) error {
	a, b := *run, *nc
	a.Ports, b.Ports, a.Source, b.Source = nil, nil, "", ""
	a.CPUs, b.CPUs = 0, 0 // applied live
	a.Networks, b.Networks = withoutLive(a.Networks), withoutLive(b.Networks)
	path, x, y, ok := firstDiff(reflect.ValueOf(a), reflect.ValueOf(b), "")
	if !ok {
		return nil
	}
	loc := nc.Source
	if l := lineOf(nc, path); l > 0 {
		loc = fmt.Sprintf("%s:%d", loc, l)
	}
	return fmt.Errorf("%s: %s: cannot change while running (%s -> %s): restart vswitch to apply it; nothing was changed",
		loc, path, x, y)
}

// lineOf finds the config line of a network or uplink named by path.
func lineOf(c *config.Config, path string) int {
	var i int
	if _, err := fmt.Sscanf(path, "networks[%d]", &i); err == nil && i < len(c.Networks) {
		return c.Networks[i].Line
	}
	if _, err := fmt.Sscanf(path, "uplinks[%d]", &i); err == nil && i < len(c.Uplinks) {
		return c.Uplinks[i].Line
	}
	return 0
}

// firstDiff walks two values of one config type field by field, skipping
// Line fields (where a thing is in the file), and returns the config-key
// path of the first difference ("networks[0].address") and the two values
// there; ok is false if they are equal.
func firstDiff(a, b reflect.Value, path string) (at, x, y string, ok bool) {
	leaf := func() (string, string, string, bool) {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return "", "", "", false
		}
		return path, showValue(a), showValue(b), true
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return leaf()
		}
		return firstDiff(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() != b.Len() {
			return leaf()
		}
		for i := range a.Len() {
			if at, x, y, ok := firstDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return at, x, y, true
			}
		}
		return "", "", "", false
	case reflect.Struct:
		t := a.Type()
		if _, stringer := a.Interface().(fmt.Stringer); stringer {
			return leaf() // netip.Prefix, netip.Addr, time.Time: values
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return leaf()
			}
			if f.Name == "Line" {
				continue
			}
			p := snake(f.Name)
			switch {
			case f.Anonymous:
				p = path // an embedded struct's fields are keys of the outer one (config.LeaseConfig)
			case path != "":
				p = path + "." + p
			}
			if at, x, y, ok := firstDiff(a.Field(i), b.Field(i), p); ok {
				return at, x, y, true
			}
		}
		return "", "", "", false
	}
	return leaf()
}

// showValue prints a config value as the file would spell it, near enough.
func showValue(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "none"
		}
		if v.Elem().Kind() == reflect.Struct {
			return "set" // a section there or not: its fields say nothing here
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice && v.Len() == 0 || v.IsZero() && v.Kind() == reflect.String {
		return "none"
	}
	return fmt.Sprint(v.Interface())
}

// snake turns a Go field name into the config's key: StateDir, state_dir.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		// A word starts at an upper-case letter after a lower-case one,
		// or before one (HTTPServer), but "MACs" is one word.
		plural := i+1 < len(r) && r[i+1] == 's' && (i+2 == len(r) || unicode.IsUpper(r[i+2]))
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && !plural) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
