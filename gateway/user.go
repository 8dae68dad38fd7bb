package gateway

import (
	"log/slog"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
)

// UserStack is the engine of a user-mode uplink (usernet.Stack): it
// takes the guests' routed IPv4 packets and ends their flows in host
// sockets; what it sends back comes in through Uplink.DeliverUser.
type UserStack interface {
	Inject(ip []byte) // ip is not kept
	Close() error
}

// NewUserUplink returns an uplink whose routed packets go to st instead
// of a device: it has no link, no outside address and no conntrack of
// its own (the stack's sockets are the translation), so it is not a
// switch port and needs no Start.
func NewUserUplink(name string, st UserStack, log *slog.Logger) *Uplink {
	// An empty table keeps NAT() and its stats valid for every uplink.
	return NewUplink(UplinkConfig{Name: name, User: st, NAT: nat.New(nat.Config{MaxEntries: 16}), Log: log})
}

// userOutput hands a guest's packet (in f, after the Ethernet header;
// owned from here on) to the user stack, which copies what it keeps.
func (u *Uplink) userOutput(f *vswitch.Frame) {
	u.cfg.User.Inject(f.Bytes()[pkt.EthernetLen:])
	u.out.Add(1)
	f.Release()
}

// DeliverUser puts a packet the user stack sends onto the nat network
// that holds its destination. It runs on the stack's output goroutine
// and does not keep ip.
func (u *Uplink) DeliverUser(ip []byte) {
	v := pkt.IPv4(ip)
	if !v.Valid() || v.TotalLen() > len(ip) {
		u.drops[UplinkMalformed].Add(1)
		return
	}
	now := u.clk.Now()
	target := u.network(v.Dst(), config.ModeNAT)
	if target == nil {
		u.drops[UplinkNotTracked].Add(1)
		return
	}
	n := pkt.EthernetLen + v.TotalLen()
	f := vswitch.NewFrameFor(n)
	copy(f.RxBuf()[pkt.EthernetLen:], ip[:v.TotalLen()])
	f.SetLen(n)
	u.in.Add(1)
	if !target.deliver(f, now) {
		f.Release()
	}
}

// closeLink closes what an uplink that never became a switch port owns.
func (u *Uplink) closeLink() error {
	if u.cfg.User != nil {
		return u.cfg.User.Close()
	}
	return u.cfg.Link.Close()
}

// User is the uplink's user stack, nil for a device uplink.
func (u *Uplink) User() UserStack { return u.cfg.User }
