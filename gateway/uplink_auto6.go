package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/autoconf6"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// An uplink with address6: auto (UplinkConfig.Auto6) is a host on the
// outside link that takes its IPv6 address, prefix and default router
// from that link, by SLAAC or DHCPv6: the uplink owns an
// autoconf6.Client, hands it every IPv6 frame before anything else sees
// it (router advertisements and DHCPv6 replies are the client's alone),
// sends what it gives back, and runs its timers on a goroutine of their
// own. The rest of uplink6 (NDP answers, NAT66, routing, Packet Too Big)
// reads the address from the client's State, lock-free, on each packet,
// so a new lease or an expired prefix takes effect at once. gateway6, if
// given, overrides the advertised router.

// newAuto6 is the IPv6 side of an uplink with address6: auto.
func (u *Uplink) newAuto6() *uplink6 {
	mtu := u.cfg.MTU
	if mtu <= 0 {
		mtu = DefaultMTU
	}
	v := &uplink6{ll: pkt.LinkLocalFromMAC(u.mac), static: u.cfg.Gateway6, neigh: newNeighbours(1024), mtu: mtu}
	if g := u.cfg.Gateway6; g.IsValid() {
		v.gw.Store(&g)
	}
	// The client runs DAD: an address its State holds passed it, so the
	// uplink's own DAD states stay "preferred" (usable reads State).
	for i := range v.state {
		v.state[i].Store(addrPreferred)
	}
	v.auto = autoconf6.New(autoconf6.Config{MAC: u.mac, Send: u.sendAuto6, Now: func() time.Time { return u.clk.Now() }, LinkMTU: uint32(mtu)})
	return v
}

// Autoconf6 is the client of an uplink with address6: auto; nil for any
// other.
func (u *Uplink) Autoconf6() *autoconf6.Client {
	if u.v6 == nil {
		return nil
	}
	return u.v6.auto
}

// sendAuto6 sends a frame of the client's (its buffer: copied). It runs
// under the client's lock; the egress never calls back.
func (u *Uplink) sendAuto6(b []byte) {
	if u.tx == nil {
		return // not started: nothing to send on
	}
	f := vswitch.NewFrameFor(len(b))
	u.enqueue(f, copy(f.RxBuf(), b))
}

// handleAuto6 gives an IPv6 frame from the outside to the client first;
// true means it was a router advertisement or a DHCPv6 reply, the
// client's alone. The router it advertises goes into the neighbour cache
// at once, so the first packet out does not wait for a solicitation.
func (u *Uplink) handleAuto6(f *vswitch.Frame, now time.Time) bool {
	v := u.v6
	if v == nil || v.auto == nil {
		return false
	}
	var took bool
	if f.VNet.Flags&(pkt.VirtioNetHdrFNeedsCsum|pkt.VirtioNetHdrFDataValid) != 0 {
		took = v.auto.HandleOffloaded(f.Bytes())
	} else {
		took = v.auto.Handle(f.Bytes())
	}
	if !took {
		return false
	}
	v.kick.Store(true)
	if st := v.auto.State(); st.Router.IsValid() && !st.RouterMAC.IsZero() {
		if m, ok := v.neigh.lookup(st.Router); !ok || m != st.RouterMAC {
			v.neigh.learn(st.Router, st.RouterMAC, now)
		}
	}
	return true
}

// autoconf6 runs the client's timers until the uplink closes: at the
// time Tick asked for, and sooner (TickInterval) once a frame the client
// took may have brought a timer closer. It logs each change of the
// address or router.
func (u *Uplink) autoconf6() {
	defer u.wg.Done()
	v := u.v6
	var last autoconf6.State
	next := v.auto.Tick(u.clk.Now())
	for {
		if st := v.auto.State(); st.Addr != last.Addr || st.Router != last.Router {
			u.cfg.Log.Info("uplink: IPv6 autoconfiguration", "uplink", u.cfg.Name, "address6", st.Addr, "source", st.Source, "router", st.Router)
			last = st
		}
		select {
		case <-u.done:
			return
		case <-u.clk.After(min(next.Sub(u.clk.Now()), autoconf6.TickInterval)):
		}
		if now := u.clk.Now(); v.kick.Swap(false) || !now.Before(next) {
			next = v.auto.Tick(now)
		}
	}
}

// stop6 ends the client as the uplink closes: a held lease is released,
// unless KeepLease said the link goes on in another process.
func (u *Uplink) stop6() {
	if c := u.Autoconf6(); c == nil {
	} else if u.keepLease.Load() {
		c.Abandon()
	} else {
		c.Stop()
	}
}

// KeepLease makes Close leave the uplink's DHCPv6 lease unreleased: an
// upgrade hands the link to a new process, which asks for the same
// lease with the same DUID; a RELEASE from the old one would end it.
func (u *Uplink) KeepLease() { u.keepLease.Store(true) }

// autoOwn is own for the address State holds: stLL, stGlobal or -1.
func autoOwn(st autoconf6.State, a netip.Addr) int {
	switch {
	case !a.IsValid():
	case a == st.LinkLocal:
		return stLL
	case st.Addr.IsValid() && a == st.Addr.Addr():
		return stGlobal
	}
	return -1
}

// autoUsable is usable: an address is in State only once past DAD.
func autoUsable(st autoconf6.State, i int) bool {
	if i == stLL {
		return st.LinkLocal.IsValid()
	}
	return st.Addr.IsValid()
}

// autoOnLink is onLink: link-local, or in the address's prefix when the
// outside said it is on the link (the L flag).
func autoOnLink(st autoconf6.State, a netip.Addr) bool {
	return (a.IsLinkLocalUnicast() || st.OnLink && st.Addr.Contains(a)) && autoOwn(st, a) < 0
}

// linkMTU is the outside link's MTU: the device's, or lower when the
// router advertised less (an RA's MTU option, RFC 4861 6.3.4; the client
// refuses one above the device's).
func (v *uplink6) linkMTU() int {
	if v.auto != nil {
		if m := int(v.auto.State().MTU); m > 0 && m < v.mtu {
			return m
		}
	}
	return v.mtu
}

// autoNextHop is nextHop: dst on the link, else gateway6, else the
// default router (invalid while none is advertised).
func (v *uplink6) autoNextHop(dst netip.Addr) netip.Addr {
	st := v.auto.State()
	if st.OnLink && st.Addr.Contains(dst) {
		return dst
	}
	if g := v.gw.Load(); g != nil {
		return *g
	}
	return st.Router
}
