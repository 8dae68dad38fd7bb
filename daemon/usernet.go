package daemon

import (
	"fmt"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/usernet"
)

// startUserUplink runs a user-mode uplink: guest flows end in a userspace
// stack and leave as this process's sockets, with no device and no
// privilege.
func (d *Daemon) startUserUplink(uc config.Uplink) (*gateway.Uplink, error) {
	var u *gateway.Uplink
	// Out runs only for packets the stack sends, which come after the
	// first Inject, so u is set by then.
	// Each flow is a socket of this process: one guest gets at most a
	// sixteenth of them (256), or conntrack.max_per_source when lower, so
	// it cannot take every flow from the others (that key's default,
	// 4096, is the user stack's whole table).
	st, err := usernet.New(usernet.Config{MaxPerSource: min(d.cfg.Conntrack.MaxPerSource, usernet.DefaultMaxPerSource), HostLoopback: uc.HostLoopback, Log: d.log,
		Out: func(ip []byte, h pkt.VirtioNetHdr) { u.DeliverUser(ip, h) }})
	if err != nil {
		return nil, err
	}
	u = gateway.NewUserUplink(uc.Name, st, d.log)
	if err := d.addUplink(u, uc, u.Link()); err != nil {
		return nil, err
	}
	d.log.Info("uplink up", "uplink", uc.Name, "type", uc.Type)
	return u, nil
}

// userForwards listens for a nat network's port forwards on every host
// address, as slirp4netns and pasta do, when its uplink is a user one.
func userForwards(u *gateway.Uplink, nc config.Network) error {
	st, ok := u.User().(*usernet.Stack)
	if !ok {
		return nil
	}
	for _, fw := range nc.Forwards {
		listen, forward := fmt.Sprintf("0.0.0.0:%d", fw.Port), st.ForwardTCP
		if fw.Proto == "udp" {
			forward = st.ForwardUDP
		}
		if err := forward(listen, fw.To); err != nil {
			return err
		}
	}
	return nil
}

// userDrops adds a user uplink's stack drops to its uplink's.
func userDrops(u *gateway.Uplink, drops map[string]uint64) {
	st, ok := u.User().(*usernet.Stack)
	if !ok {
		return
	}
	for r, v := range st.Drops() {
		drops[usernet.DropReason(r).String()] = v
	}
}
