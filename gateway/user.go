package gateway

import (
	"log/slog"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
)

// UserStack is the engine of a user-mode uplink (usernet.Stack): it
// takes the guests' routed IPv4 packets and ends their flows in host
// sockets; what it sends back comes in through Uplink.DeliverUser.
type UserStack interface {
	// Inject takes a packet and its virtio-net header, whose offsets
	// count from the IP header (as a TUN device's do): TCP super-frames
	// and partial checksums go in as the guest sent them. ip is not kept.
	Inject(ip []byte, h pkt.VirtioNetHdr)
	Close() error
}

// NewUserUplink returns an uplink whose routed packets go to st instead
// of a device. It has no outside address and no conntrack of its own
// (the stack's sockets are the translation); its link is the stack
// (user_link.go), a switch port like a device's once Start puts it on
// the switch.
func NewUserUplink(name string, st UserStack, log *slog.Logger) *Uplink {
	l := newUserLink(st)
	// An empty table keeps NAT() and its stats valid for every uplink.
	u := NewUplink(UplinkConfig{Name: name, Link: l, User: st, NAT: nat.New(nat.Config{MaxEntries: 16}), Log: log})
	l.mac = u.mac
	l.peer = u.mac
	l.peer[5] ^= 1 // a neighbour of the uplink's own, as a device's would be
	return u
}

// userOutput sends a guest's packet (in f, after the Ethernet header;
// owned from here on) to the stack through the uplink's port.
func (u *Uplink) userOutput(f *vswitch.Frame) {
	l := u.cfg.Link.(*userLink)
	pkt.Ethernet(f.Bytes()).Encode(&pkt.EthernetFields{Dst: l.peer, Src: u.mac, Type: pkt.TypeIPv4})
	u.out.Add(1)
	u.tx.Send(f)
}

// DeliverUser queues a packet the stack sends to a guest, with its
// virtio-net header (offsets from the IP header; a super-frame the switch
// cuts for a guest port that takes no header), for the uplink's port (a
// full queue drops it, counted as the link's queue_full). It runs on the
// stack's goroutines and does not keep ip.
func (u *Uplink) DeliverUser(ip []byte, h pkt.VirtioNetHdr) {
	v := pkt.IPv4(ip)
	if !v.Valid() || v.TotalLen() > len(ip) {
		u.drops[UplinkMalformed].Add(1)
		return
	}
	u.cfg.Link.(*userLink).push(v, h)
}

// userInput routes a frame the port read from the stack to the nat
// network that holds its destination; true means f was handed on.
func (u *Uplink) userInput(f *vswitch.Frame, now time.Time) bool {
	target := u.network(pkt.IPv4(f.Bytes()[pkt.EthernetLen:]).Dst(), config.ModeNAT)
	if target == nil {
		u.drops[UplinkNotTracked].Add(1)
		return false
	}
	u.in.Add(1)
	return target.deliver(f, now)
}

// closeLink closes the link of an uplink that never became a switch
// port (a user link closes its stack).
func (u *Uplink) closeLink() error { return u.cfg.Link.Close() }

// Link is the uplink's switch port driver (a device's, or a user link).
func (u *Uplink) Link() vswitch.Port { return u.cfg.Link }

// User is the uplink's user stack, nil for a device uplink.
func (u *Uplink) User() UserStack { return u.cfg.User }
