package vswitch

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzGuard sends arbitrary frames from a statically guarded port, a
// DHCP-guarded port holding one lease, and the gateway's port (whose
// frames are snooped), at an arbitrary time. A guarded frame passes
// exactly when guardSpec, written from the documented rules with its own
// parsing, allows it, and is otherwise dropped with one of the guard's
// reasons; the gateway's frames change the bindings only by a valid ACK's
// (chaddr, yiaddr, lease); nothing panics.
func FuzzGuard(f *testing.F) {
	for _, b := range [][]byte{
		udp4(mac(8), mac(1), ip5, gw1, 1, 2, nil), udp4(mac(8), mac(2), ip6, gw1, 1, 2, nil),
		arp4(mac(1), mac(1), ip5, gw1), arp4(mac(2), mac(2), ip0, ip6), arp4(mac(2), mac(1), ip6, gw1),
		dhcpFromClient(mac(1), pkt.DHCPDiscover), dhcpFromClient(mac(3), pkt.DHCPRequest),
		ack(mac(2), ip5, 60), ack(mac(3), ip6, 0xffffffff), ofType(mac(1), typeRARP), ofType(mac(2), pkt.TypeIPv6),
		solicit6(mac(3)), solicit6(mac(2)),
		echo6(mac(1), a6own), echo6(mac(2), slaac("fd00::", mac(2))), echo6(mac(2), fuzzLease6), echo6(mac(1), pkt.LinkLocalFromMAC(mac(1))),
		ns6(mac(1), unspec6, a6own), ns6(mac(2), unspec6, slaac("fd00::", mac(2))), ns6(mac(1), a6own, gw6, lla(1, mac(1))...),
		na6(mac(2), fuzzLease6, fuzzLease6, lla(2, mac(2))...), na6(mac(1), a6own, a6other),
		frag6(mac(1), a6own, 0, icmp6(pkt.ICMPv6NeighAdvert, a6own)), reply6(mac(2), a6other, 60), reply6(mac(3), fuzzLease6, 0),
	} {
		for port := range uint8(3) {
			f.Add(b, port, uint8(0))
		}
	}
	r := newGuardRig(f, PortConfig{Name: "s", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{MACs: []pkt.MAC{mac(1)}, IPs: []netip.Addr{ip5, a6own}}},
		PortConfig{Name: "d", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("gw", 1), access("o", 1))
	if err := r.s.AddLocal("gw", 1, mac(9)); err != nil {
		f.Fatal(err)
	}
	if err := r.s.AddLocalAddr6(1, gw6); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, port uint8, dt uint8) {
		if len(b) > SmallDataLen {
			return
		}
		// Back to one lease on d and no learned entries.
		r.t = t
		r.s.fdb.removeIf(func(e *fdbEntry) bool { return !e.static })
		t0 := time.Now().Unix()
		r.s.fdb.learn(r.ports["d"], 1, mac(2), t0)
		r.ports["d"].guard.set.Store(&guardSet{bound: []binding{{mac: mac(2), ip: ip6.As4(), expiry: t0 + 100}},
			bound6: []binding6{{mac: mac(2), ip: fuzzLease6.As16(), expiry: t0 + 100}}})
		now := t0 + int64(dt)
		name := []string{"s", "d", "gw"}[port%3]
		drop, _ := r.send(name, b, now)
		if name == "gw" {
			checkSnoop(t, r, b, now)
			return
		}
		if len(b) < pkt.EthernetLen || isTPID(binary.BigEndian.Uint16(b[12:])) || b[6]&1 == 1 || pkt.MAC(b[6:12]).IsZero() {
			return // dropped before the guard: runt, VLAN rules, bad source
		}
		allowed := guardSpec(name == "d", b, now, t0+100)
		guardDrop := drop == DropSpoofedMAC || drop == DropSpoofedIP || drop == DropSpoofedARP || drop == DropGuardEtherType || drop == DropSpoofedND
		if binary.BigEndian.Uint16(b[12:]) == pkt.TypeIPv6 && len(b) >= 54 && pkt.IsIPv6ExtHeader(b[20]) {
			return // extension headers: guardSpec does not walk them (raguard's fuzz does)
		}
		if allowed == guardDrop || !allowed && drop != NumDropReasons && !guardDrop {
			t.Fatalf("port %s at +%d: spec allows %v, switch dropped %v: % x", name, dt, allowed, drop, b)
		}
	})
}

func isTPID(t uint16) bool { return t == 0x8100 || t == 0x88a8 || t == 0x9100 }

// guardSpec is the guard's rules read off docs/config.md, with parsing of
// its own: the static port may use mac(1) and 10.0.0.5; the DHCP port
// holds (mac(2), 10.0.0.6) until expiry. Both may send DHCP from 0.0.0.0
// (UDP 68 to 67) and ARP probes; mac(2) is not bound elsewhere, so the
// DHCP port may do so from any MAC.
func guardSpec(dhcp bool, b []byte, now, expiry int64) bool {
	src := pkt.MAC(b[6:12])
	ownMAC, ownIP := mac(1), [4]byte{10, 0, 0, 5}
	if dhcp {
		ownMAC, ownIP = mac(2), [4]byte{10, 0, 0, 6}
	}
	macOK := src == ownMAC && (!dhcp || now < expiry)
	p := b[14:]
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		if len(p) < 20 || p[0]>>4 != 4 {
			return false
		}
		hl, tl := int(p[0]&15)*4, int(binary.BigEndian.Uint16(p[2:]))
		if hl < 20 || tl < hl || tl > len(p) {
			return false
		}
		sip := [4]byte(p[12:16])
		if sip == [4]byte{} {
			frag := binary.BigEndian.Uint16(p[6:])&0x3fff != 0
			u := p[hl:tl]
			dhcpClient := p[9] == 17 && !frag && len(u) >= 8 && int(binary.BigEndian.Uint16(u[4:])) >= 8 &&
				int(binary.BigEndian.Uint16(u[4:])) <= len(u) && binary.BigEndian.Uint16(u[0:]) == 68 && binary.BigEndian.Uint16(u[2:]) == 67
			return dhcpClient && (macOK || dhcp)
		}
		return macOK && sip == ownIP
	case 0x0806:
		if len(p) < 28 || binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != 0x0800 || p[4] != 6 || p[5] != 4 {
			return false
		}
		sip := [4]byte(p[14:18])
		probe := sip == [4]byte{}
		return (macOK || probe && dhcp) && pkt.MAC(p[8:14]) == src && (probe || sip == ownIP)
	case 0x8035:
		return macOK
	case 0x86dd:
		return guardSpec6(dhcp, p, src, macOK)
	}
	return false
}

// fuzzLease6 is the DHCPv6 lease FuzzGuard's DHCP port holds.
var fuzzLease6 = netip.MustParseAddr("fd00::100")

// guardSpec6 is guardSpec for an IPv6 packet p without extension headers
// (docs/config.md, guard6.go's comment). From ::, the DHCP port may send
// with any MAC (none is bound on another DHCP-guarded port).
func guardSpec6(dhcp bool, p []byte, src pkt.MAC, macOK bool) bool {
	if len(p) < 40 || p[0]>>4 != 6 || 40+int(binary.BigEndian.Uint16(p[4:])) > len(p) {
		return false
	}
	own := func(a [16]byte) bool {
		eui := pkt.LinkLocalFromMAC(src).As16()
		if a == eui {
			return true
		}
		if !dhcp {
			return a == a6own.As16()
		}
		pre := gw6.As16()
		return a == fuzzLease6.As16() && macOK || [8]byte(a[:8]) == [8]byte(pre[:8]) && [8]byte(a[8:]) == [8]byte(eui[8:])
	}
	msg := p[40 : 40+int(binary.BigEndian.Uint16(p[4:]))]
	minLen := map[uint8]int{135: 24, 136: 24, 133: 8, 131: 8, 143: 8}
	var typ uint8
	nd := false
	if p[6] == 58 && len(msg) > 0 {
		typ = msg[0]
		if n, ok := minLen[typ]; ok {
			if len(msg) < n {
				return false
			}
			nd = true
		}
	}
	llaOK := func() bool {
		if typ != 135 && typ != 136 && typ != 133 {
			return true
		}
		o := msg[minLen[typ]:]
		for len(o) > 0 {
			if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
				return false
			}
			if (o[0] == 1 || o[0] == 2) && pkt.MAC(o[2:8]) != src {
				return false
			}
			o = o[int(o[1])*8:]
		}
		return true
	}
	sip := [16]byte(p[8:24])
	if sip == ([16]byte{}) {
		return nd && typ != 136 && (macOK || dhcp) && (typ != 135 || own([16]byte(msg[8:24]))) && llaOK()
	}
	// Before a lease, from its link-local address: NDP, RS, MLD reports
	// and DHCPv6 client messages.
	dhcp6 := p[6] == 17 && len(msg) >= 8 && int(binary.BigEndian.Uint16(msg[4:])) >= 8 && int(binary.BigEndian.Uint16(msg[4:])) <= len(msg) &&
		binary.BigEndian.Uint16(msg[0:]) == 546 && binary.BigEndian.Uint16(msg[2:]) == 547
	bootstrap := dhcp && sip == pkt.LinkLocalFromMAC(src).As16() && (nd || dhcp6)
	return (macOK || bootstrap) && own(sip) && (typ != 136 || !nd || own([16]byte(msg[8:24]))) && (!nd || llaOK())
}

// checkSnoop: after a frame from the gateway, the DHCP port holds its
// lease and at most one more: the frame's (chaddr, yiaddr), bound for the
// frame's lease time.
func checkSnoop(t *testing.T, r *guardRig, b []byte, now int64) {
	for _, x := range r.ports["d"].guard.set.Load().bound {
		if x.mac == mac(2) && x.ip == ip6.As4() {
			continue
		}
		const dhcpOff = 14 + 20 + 8
		d := pkt.DHCP(b[min(dhcpOff, len(b)):])
		if len(b) < dhcpOff+pkt.DHCPMinLen || pkt.MAC(d[28:34]) != x.mac || [4]byte(d[16:20]) != x.ip || x.expiry <= now {
			t.Fatalf("bound %+v from % x", x, b)
		}
	}
	for _, x := range r.ports["d"].guard.set.Load().bound6 {
		if x.mac == mac(2) && x.ip == fuzzLease6.As16() {
			continue
		}
		if x.mac != pkt.MAC(b[0:6]) || !bytes.Contains(b, x.ip[:]) || x.expiry <= now {
			t.Fatalf("bound %+v from % x", x, b)
		}
	}
	if s := r.ports["s"].guard.set.Load(); len(s.bound)+len(s.bound6) != 0 {
		t.Fatal("the static port got a binding")
	}
}
