package vswitch

import (
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
	} {
		for port := range uint8(3) {
			f.Add(b, port, uint8(0))
		}
	}
	r := newGuardRig(f, PortConfig{Name: "s", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{MACs: []pkt.MAC{mac(1)}, IPs: []netip.Addr{ip5}}},
		PortConfig{Name: "d", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("gw", 1), access("o", 1))
	if err := r.s.AddLocal("gw", 1, mac(9)); err != nil {
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
		r.ports["d"].guard.set.Store(&guardSet{bound: []binding{{mac: mac(2), ip: ip6.As4(), expiry: t0 + 100}}})
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
		guardDrop := drop == DropSpoofedMAC || drop == DropSpoofedIP || drop == DropSpoofedARP || drop == DropGuardEtherType
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
	}
	return false
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
	if s := r.ports["s"].guard.set.Load(); len(s.bound) != 0 {
		t.Fatal("the static port got a binding")
	}
}
