package daemon

import (
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/internal/autoconf6"
	"github.com/vswitch/vswitch/metrics"
)

// autoconf6Stats adds an address6: auto uplink's client counters to its
// metrics: every reason and event, zeros included, so the series exist
// from the start.
func autoconf6Stats(u *gateway.Uplink, st *metrics.UplinkStats) {
	c := u.Autoconf6()
	if c == nil {
		return
	}
	st.Autoconf6Drops, st.Autoconf6Events = map[string]uint64{}, map[string]uint64{}
	for r, v := range c.Drops() {
		st.Autoconf6Drops[autoconf6.DropReason(r).String()] = v
	}
	for e, v := range c.Events() {
		st.Autoconf6Events[autoconf6.Event(e).String()] = v
	}
}

// uplinkStatus6 fills the IPv6 side of an uplink's status.
func uplinkStatus6(u *gateway.Uplink, us *control.UplinkStatus) {
	if a := u.Address6(); a.IsValid() {
		us.Address6 = a.String()
	}
	if g := u.Gateway6(); g.IsValid() {
		us.Gateway6 = g.String()
	}
	if c := u.Autoconf6(); c != nil {
		us.Auto6 = c.State().Source.String()
	}
}
