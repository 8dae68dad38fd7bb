package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Tests of what the uplink's DHCP client takes from an outside server.

func addrOpt(code uint8, a string) []byte {
	b := netip.MustParseAddr(a).As4()
	return append([]byte{code, 4}, b[:]...)
}

func TestReadLease(t *testing.T) {
	yi := netip.MustParseAddr("192.0.2.50")
	ack := func(yiaddr string, opts ...byte) []byte {
		return dhcpMsg(pkt.BOOTReply, upMAC, pkt.DHCPAck, netip.MustParseAddr(yiaddr), opts...)
	}
	full := cat(optMask22, optRouter, optServer, optLease1h)
	badCookie := ack("192.0.2.50", full...)
	badCookie[239]++
	truncMask := ack("192.0.2.50", cat(optRouter, []byte{1, 4, 255, 255})...)
	truncMask = truncMask[:len(truncMask)-1] // the end option, and the mask's last bytes
	tests := []struct {
		name   string
		msg    []byte
		typ    uint8
		reply  dhcpReply
		prefix string // the lease's, when reply is replyLease
		gw     string // "" for none
		time   time.Duration
	}{
		{"full", ack("192.0.2.50", full...), pkt.DHCPAck, replyLease, "192.0.2.50/22", "192.0.2.254", time.Hour},
		{"offer", dhcpMsg(pkt.BOOTReply, upMAC, pkt.DHCPOffer, yi, full...), pkt.DHCPOffer, replyLease, "192.0.2.50/22", "192.0.2.254", time.Hour},
		{"no router", ack("192.0.2.50", optLease1h...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Hour},
		{"router 0.0.0.0", ack("192.0.2.50", addrOpt(3, "0.0.0.0")...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"router 255.255.255.255", ack("192.0.2.50", addrOpt(3, "255.255.255.255")...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"router is the lease", ack("192.0.2.50", addrOpt(3, "192.0.2.50")...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"router is the subnet's broadcast", ack("192.0.2.50", cat(optMask22, addrOpt(3, "192.0.3.255"))...), pkt.DHCPAck, replyLease, "192.0.2.50/22", "", time.Minute},
		{"router is the subnet's address", ack("192.0.2.50", cat(optMask22, addrOpt(3, "192.0.0.0"))...), pkt.DHCPAck, replyLease, "192.0.2.50/22", "", time.Minute},
		{"router multicast", ack("192.0.2.50", addrOpt(3, "224.0.0.1")...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"router loopback", ack("192.0.2.50", addrOpt(3, "127.0.0.1")...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"router link-local", ack("192.0.2.50", addrOpt(3, "169.254.0.1")...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"router option too short", ack("192.0.2.50", 3, 3, 192, 0, 2), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"/32 with a router off the subnet", ack("192.0.2.50", cat([]byte{1, 4, 255, 255, 255, 255}, addrOpt(3, "192.0.2.1"))...), pkt.DHCPAck, replyLease, "192.0.2.50/32", "192.0.2.1", time.Minute},
		{"/31", ack("192.0.2.50", 1, 4, 255, 255, 255, 254), pkt.DHCPAck, replyLease, "192.0.2.50/31", "", time.Minute},
		{"mask not contiguous", ack("192.0.2.50", 1, 4, 255, 0, 255, 0), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"mask 0.0.0.0", ack("192.0.2.50", 1, 4, 0, 0, 0, 0), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"mask of 3 bytes", ack("192.0.2.50", 1, 3, 255, 255, 252), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"two masks, the last odd", ack("192.0.2.50", cat(optMask22, []byte{1, 4, 255, 0, 255, 0})...), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"two masks, the last good", ack("192.0.2.50", cat([]byte{1, 4, 255, 0, 255, 0}, optMask22)...), pkt.DHCPAck, replyLease, "192.0.2.50/22", "", time.Minute},
		{"mask cut short by the end of the message", truncMask, pkt.DHCPAck, replyLease, "192.0.2.50/24", "192.0.2.254", time.Minute},
		{"the subnet's broadcast in a /23", ack("192.0.2.255", 1, 4, 255, 255, 254, 0), pkt.DHCPAck, replyLease, "192.0.2.255/23", "", time.Minute},
		{"infinite lease", ack("192.0.2.50", 51, 4, 255, 255, 255, 255), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", 4294967295 * time.Second},
		{"lease 0", ack("192.0.2.50", 51, 4, 0, 0, 0, 0), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"lease 30 s", ack("192.0.2.50", 51, 4, 0, 0, 0, 30), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", time.Minute},
		{"lease 61 s", ack("192.0.2.50", 51, 4, 0, 0, 0, 61), pkt.DHCPAck, replyLease, "192.0.2.50/24", "", 61 * time.Second},
		{"yiaddr 0.0.0.0", ack("0.0.0.0", full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr 0.1.2.3", ack("0.1.2.3", full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr 255.255.255.255", ack("255.255.255.255", full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr class E", ack("240.0.0.1", full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr multicast", ack("224.1.1.1", full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr loopback", ack("127.0.0.2", full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr the subnet's broadcast", ack("192.0.2.255"), pkt.DHCPAck, replyOther, "", "", 0},
		{"yiaddr the subnet's address", ack("192.0.2.0"), pkt.DHCPAck, replyOther, "", "", 0},
		{"NAK", dhcpMsg(pkt.BOOTReply, upMAC, pkt.DHCPNak, netip.Addr{}), pkt.DHCPAck, replyNak, "", "", 0},
		{"an OFFER while waiting for the ACK", dhcpMsg(pkt.BOOTReply, upMAC, pkt.DHCPOffer, yi, full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"no message type", dhcpMsg(pkt.BOOTReply, upMAC, pkt.DHCPAck, yi, full...)[:240], pkt.DHCPAck, replyOther, "", "", 0},
		{"another client", dhcpMsg(pkt.BOOTReply, otherMAC, pkt.DHCPAck, yi, full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"a request", dhcpMsg(pkt.BOOTRequest, upMAC, pkt.DHCPAck, yi, full...), pkt.DHCPAck, replyOther, "", "", 0},
		{"bad cookie", badCookie, pkt.DHCPAck, replyOther, "", "", 0},
		{"shorter than the header", ack("192.0.2.50")[:239], pkt.DHCPAck, replyOther, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, r := readLease(tt.msg, 1, upMAC, tt.typ)
			want := dhcpLease{nak: tt.reply == replyNak, time: tt.time}
			if tt.prefix != "" {
				want.prefix = netip.MustParsePrefix(tt.prefix)
				want.server, _ = refOption(tt.msg, pkt.OptServerID, 4)
			}
			if tt.gw != "" {
				want.gw = netip.MustParseAddr(tt.gw)
			}
			if r != tt.reply || l != want {
				t.Fatalf("%v %+v, want %v %+v", r, l, tt.reply, want)
			}
		})
	}
	if _, r := readLease(ack("192.0.2.50"), 2, upMAC, pkt.DHCPAck); r != replyOther {
		t.Fatal("another exchange's reply taken")
	}
}

// refOption is the slow reference for the options the client reads: the
// last option code whose length is n (or, with n < 0, at least -n),
// walking the bytes by hand up to the end option, the end of the message
// or an option that runs past it.
func refOption(msg []byte, code uint8, n int) (netip.Addr, []byte) {
	var found []byte
	for i := 240; i < len(msg); {
		c := msg[i]
		if c == 0 {
			i++
			continue
		}
		if c == 255 || i+1 >= len(msg) || i+2+int(msg[i+1]) > len(msg) {
			break
		}
		l := int(msg[i+1])
		if c == code && (l == n || n < 0 && l >= -n) {
			found = msg[i+2 : i+2+l]
		}
		i += 2 + l
	}
	if len(found) >= 4 {
		return netip.AddrFrom4([4]byte(found[:4])), found
	}
	return netip.Addr{}, found
}

// refHost is the slow reference for hostIn, octet by octet.
func refHost(a netip.Addr, pfx netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	b := a.As4()
	switch {
	case b[0] == 0, b[0] == 127, b[0] >= 224, b[0] == 169 && b[1] == 254:
		return false
	}
	if pfx.Bits() >= 31 || !pfx.Contains(a) {
		return true
	}
	host := binary.BigEndian.Uint32(b[:]) & (1<<(32-pfx.Bits()) - 1)
	return host != 0 && host != 1<<(32-pfx.Bits())-1
}

// refLease is the slow reference for readLease.
func refLease(msg []byte, xid uint32, typ uint8) (dhcpLease, dhcpReply) {
	if len(msg) < 240 || msg[0] != pkt.BOOTReply || binary.BigEndian.Uint32(msg[4:]) != xid ||
		pkt.MAC(msg[28:34]) != upMAC || binary.BigEndian.Uint32(msg[236:]) != 0x63825363 {
		return dhcpLease{}, replyOther
	}
	_, t := refOption(msg, pkt.OptMessageType, 1)
	if t != nil && t[0] == pkt.DHCPNak {
		return dhcpLease{nak: true}, replyNak
	}
	if t == nil || t[0] != typ {
		return dhcpLease{}, replyOther
	}
	bits := 24
	if _, m := refOption(msg, pkt.OptSubnetMask, 4); m != nil {
		v := binary.BigEndian.Uint32(m)
		for k := 1; k <= 32; k++ {
			if v == ^uint32(0)<<(32-k) {
				bits = k
			}
		}
	}
	yi := netip.AddrFrom4([4]byte(msg[16:20]))
	pfx := netip.PrefixFrom(yi, bits)
	if !refHost(yi, pfx) {
		return dhcpLease{}, replyOther
	}
	l := dhcpLease{prefix: pfx, time: time.Minute}
	l.server, _ = refOption(msg, pkt.OptServerID, 4)
	if _, s := refOption(msg, pkt.OptLeaseTime, 4); s != nil && binary.BigEndian.Uint32(s) > 60 {
		l.time = time.Duration(binary.BigEndian.Uint32(s)) * time.Second
	}
	if r, _ := refOption(msg, pkt.OptRouter, -4); r != yi && refHost(r, pfx) {
		l.gw = r
	}
	return l, replyLease
}

// FuzzUplinkDHCP feeds the uplink's DHCP client two arbitrary server
// messages, read as an OFFER and as an ACK, then drives the uplink with
// what it bound. readLease must agree exactly with the slow reference
// (so no address, mask, router or lease time the message does not state
// is taken), nothing may panic (a zero next hop would in ARP), every
// frame the uplink emits must be well formed, and no ARP asks for an
// address that is not the uplink's own, its next hop or on its subnet.
func FuzzUplinkDHCP(f *testing.F) {
	full := cat(optMask22, optRouter, optServer, optLease1h)
	yi := netip.MustParseAddr("192.0.2.50")
	msg := func(typ uint8, yiaddr string, opts ...byte) []byte {
		return dhcpMsg(pkt.BOOTReply, upMAC, typ, netip.MustParseAddr(yiaddr), opts...)
	}
	f.Add(msg(pkt.DHCPOffer, "192.0.2.50", full...), msg(pkt.DHCPAck, "192.0.2.50", full...))
	f.Add(msg(pkt.DHCPOffer, "192.0.2.50", optServer...), msg(pkt.DHCPAck, "192.0.2.50", optServer...))
	f.Add(msg(pkt.DHCPAck, "192.0.2.50", addrOpt(3, "0.0.0.0")...), msg(pkt.DHCPAck, "192.0.2.51", addrOpt(3, "255.255.255.255")...))
	f.Add(msg(pkt.DHCPAck, "0.0.0.0", full...), msg(pkt.DHCPAck, "255.255.255.255", full...))
	f.Add(msg(pkt.DHCPAck, "192.0.2.50", 1, 4, 255, 0, 255, 0), msg(pkt.DHCPAck, "192.0.2.50", 1, 4, 0, 0, 0, 0, 51, 4, 255, 255, 255, 255))
	f.Add(msg(pkt.DHCPAck, "192.0.2.50", cat([]byte{1, 4, 255, 255, 255, 255}, addrOpt(3, "192.0.2.1"))...), msg(pkt.DHCPAck, "198.51.100.7", full...))
	f.Add(msg(pkt.DHCPAck, "192.0.2.50", full...)[:250], msg(pkt.DHCPNak, "0.0.0.0"))
	f.Add(msg(pkt.DHCPAck, "10.30.0.7", full...), dhcpMsg(pkt.BOOTReply, upMAC, pkt.DHCPAck, yi, 3, 255))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		u, _ := newUplink(false)
		p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
		r := New(Config{Network: "r2", Address: netip.MustParsePrefix("10.60.0.1/24"), Mode: config.ModeRouted, Uplink: u})
		for _, n := range []*Port{p, r} {
			n.garp.Store(true)
			u.Attach(n)
			n.neigh.learn(n.cfg.Address.Addr().Next(), guestMAC, t0)
		}
		for _, m := range [][]byte{first, second} {
			for _, typ := range []uint8{pkt.DHCPOffer, pkt.DHCPAck} {
				l, rep := readLease(m, 1, upMAC, typ)
				wl, wrep := refLease(m, 1, typ)
				if rep != wrep || l != wl {
					t.Fatalf("type %d: %v %+v, reference %v %+v\n% x", typ, rep, l, wrep, wl, m)
				}
			}
			l, rep := readLease(m, 1, upMAC, pkt.DHCPAck)
			if rep != replyLease {
				continue
			}
			prev := u.addr.Load()
			u.bind(l)
			a := u.addr.Load()
			if u.Address() != l.prefix || a.ip != l.prefix.Addr() || a.gw != l.gw {
				t.Fatalf("bound %+v from %+v", a, l)
			}
			sent := sent(u)
			want := 0
			if prev == nil || prev.ip != a.ip { // a new address is announced
				want++ // gratuitous ARP
				if a.gw.IsValid() {
					want++ // asking for the router
				}
			}
			if len(sent) != want {
				t.Fatalf("%d frames on binding %+v, want %d", len(sent), a, want)
			}
			checkUplinkFrames(t, sent, a)
			driveUplink(t, u, p, r, a)
		}
	})
}

// driveUplink sends traffic both ways through an uplink bound to a: a
// guest's packet out (the next hop unknown, then known), the outside
// asking for the uplink's address, and answers coming in.
func driveUplink(t *testing.T, u *Uplink, p, r *Port, a *uplinkAddr) {
	now := t0
	out := func() (routed int) {
		p.handle(udpFrame(p.MAC(), guestMAC, p.cfg.Address.Addr().Next(), remoteIP, 64, 5353, 53, []byte("q")), now)
		r.handle(udpFrame(r.MAC(), guestMAC, r.cfg.Address.Addr().Next(), remoteIP, 64, 5353, 53, []byte("q")), now)
		sent := sent(u)
		checkUplinkFrames(t, sent, a)
		for _, b := range sent {
			if pkt.Ethernet(b).Type() == pkt.TypeIPv4 {
				routed++
			}
		}
		return routed
	}
	// Nothing leaves before the next hop is known (from an earlier lease,
	// it may be).
	hop := a.gw
	if a.prefix.Contains(remoteIP) {
		hop = remoteIP
	}
	_, known := u.neigh.lookup(hop)
	clear := !a.prefix.Contains(remoteIP) && !a.prefix.Overlaps(p.cfg.Address) && !a.prefix.Overlaps(r.cfg.Address)
	if n := out(); n != 0 && !known {
		t.Fatalf("%d packets routed before the next hop %v was known", n, hop)
	}
	for _, peer := range []netip.Addr{a.gw, remoteIP, a.ip.Next()} {
		if !peer.IsValid() || peer == a.ip {
			continue
		}
		feed(u, arpFrame(pkt.Broadcast, routerMAC, pkt.ARPRequest, routerMAC, peer, pkt.MAC{}, a.ip), now)
		feed(u, arpFrame(upMAC, routerMAC, pkt.ARPReply, routerMAC, peer, upMAC, a.ip), now)
	}
	checkUplinkFrames(t, sent(u), a)
	// Once the router answered, both guests' packets leave through it
	// (when the lease leaves them a path: the outside host off the
	// uplink's subnet, the guests' networks apart from it).
	if n := out(); clear && a.gw.IsValid() && n != 2 {
		t.Fatalf("%d packets routed through the resolved router %v", n, a.gw)
	}
	for _, dst := range []netip.Addr{a.ip, r.cfg.Address.Addr().Next()} {
		feed(u, udpFrame(upMAC, routerMAC, remoteIP, dst, 50, 53, 5353, []byte("a")), now)
	}
	checkUplinkFrames(t, sent(u), a)
	for _, n := range []*Port{p, r} {
		for _, f := range takeAll(n.q) {
			checkEmitted(t, f, n.MAC(), func(pkt.IPv4) {})
		}
	}
}

// checkUplinkFrames checks what an uplink bound to a sent: well formed,
// from its MAC; ARP from its address, asking only for itself (gratuitous),
// its next hop or an address on its subnet, never 0.0.0.0 (replies go
// to whoever asked).
func checkUplinkFrames(t *testing.T, frames [][]byte, a *uplinkAddr) {
	t.Helper()
	for _, b := range frames {
		checkEmitted(t, b, upMAC, func(ip pkt.IPv4) {
			if pkt.Ethernet(b).Dst() != routerMAC {
				t.Fatalf("IPv4 to %v: % x", pkt.Ethernet(b).Dst(), b)
			}
		})
		if pkt.Ethernet(b).Type() != pkt.TypeARP {
			continue
		}
		arp := pkt.ARP(b[14:])
		tip := arp.TargetIP()
		if arp.SenderIP() != a.ip || arp.Op() == pkt.ARPRequest && (tip.IsUnspecified() || tip != a.ip && tip != a.gw && !a.prefix.Contains(tip)) {
			t.Fatalf("ARP from %v for %v, bound to %+v", arp.SenderIP(), tip, a)
		}
	}
}
