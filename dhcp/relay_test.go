package dhcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	relayMAC = pkt.MAC{0x52, 0x54, 0, 0, 0xee, 1}
	giaddr   = netip.MustParseAddr("10.9.0.5")
	// Option 82 as a relay writes it: circuit id "eth0/1", remote id aa bb.
	agentOpt = []byte{pkt.OptRelayAgent, 12, 1, 6, 'e', 't', 'h', '0', '/', '1', 2, 2, 0xaa, 0xbb}
)

// relayed is a message from mac's client as the relay at giaddr forwards it.
func relayed(typ uint8, m pkt.MAC) msg {
	return msg{typ: typ, mac: m, giaddr: giaddr, extra: agentOpt}
}

// handleFrom runs m through HandleFrom; ok false gives a zero Reply.
func handleFrom(s *Server, m msg, from From) (Reply, bool) {
	return s.HandleFrom(m.bytes(), from, make([]byte, 1500))
}

// wantReply is a reply of the default test server, byte for byte: the
// header with yiaddr and giaddr, then opts, the end option and padding.
func wantReply(chaddr pkt.MAC, yiaddr, gi netip.Addr, opts ...byte) []byte {
	b := make([]byte, pkt.DHCPOptionsOff, 300)
	b[0], b[1], b[2] = pkt.BOOTReply, 1, 6
	binary.BigEndian.PutUint32(b[4:], 0x1234)
	if yiaddr.IsValid() {
		a := yiaddr.As4()
		copy(b[16:], a[:])
	}
	a := gi.As4()
	copy(b[24:], a[:])
	copy(b[28:], chaddr[:])
	binary.BigEndian.PutUint32(b[236:], pkt.DHCPCookie)
	b = append(append(b, opts...), pkt.OptEnd)
	return append(b, make([]byte, max(0, 300-len(b)))...)
}

// leaseOpts are the options the default server sends with an address.
func leaseOpts(typ uint8) []byte {
	return []byte{
		pkt.OptMessageType, 1, typ,
		pkt.OptServerID, 4, 10, 9, 0, 1,
		pkt.OptLeaseTime, 4, 0, 0, 0x0e, 0x10,
		pkt.OptRenewalT1, 4, 0, 0, 0x07, 0x08,
		pkt.OptRebindingT2, 4, 0, 0, 0x0c, 0x4e,
		pkt.OptSubnetMask, 4, 255, 255, 255, 0,
		pkt.OptRouter, 4, 10, 9, 0, 1,
		pkt.OptDNS, 4, 10, 9, 0, 1,
		pkt.OptDomain, 3, 'l', 'a', 'b',
		pkt.OptBroadcast, 4, 10, 9, 0, 255,
	}
}

// A relayed DISCOVER and REQUEST (RFC 2131 4.1) are answered to the relay:
// giaddr, the relay's MAC, port 67 (ToRelay), the message carrying the
// client's chaddr and giaddr and, last, option 82 exactly as it came
// (RFC 3046 2.2). A NAK goes to the relay too, not broadcast.
func TestRelayedExchange(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	client := mac(1)
	from := From{MAC: relayMAC}
	ip := netip.MustParseAddr("10.9.0.10")

	rep, ok := handleFrom(s, relayed(pkt.DHCPDiscover, client), from)
	want := wantReply(client, ip, giaddr, append(leaseOpts(pkt.DHCPOffer), agentOpt...)...)
	if !ok || !bytes.Equal(rep.Msg, want) {
		t.Fatalf("offer ok %v\n got % x\nwant % x", ok, rep.Msg, want)
	}
	if rep.DstMAC != relayMAC || rep.DstIP != giaddr || !rep.ToRelay || rep.Broadcast {
		t.Fatalf("offer addressed %+v", rep)
	}

	req := relayed(pkt.DHCPRequest, client)
	req.reqIP, req.serverID, req.broadcast = ip, gw.Addr(), true
	rep, ok = handleFrom(s, req, from)
	want = wantReply(client, ip, giaddr, append(leaseOpts(pkt.DHCPAck), agentOpt...)...)
	binary.BigEndian.PutUint16(want[10:], pkt.DHCPFlagBroadcast) // flags are copied
	if !ok || !bytes.Equal(rep.Msg, want) {
		t.Fatalf("ack ok %v\n got % x\nwant % x", ok, rep.Msg, want)
	}
	if rep.DstMAC != relayMAC || rep.DstIP != giaddr || !rep.ToRelay || rep.Broadcast {
		t.Fatalf("ack addressed %+v: the broadcast flag is the relay's to honour", rep)
	}
	// The lease is the client's: its chaddr, not the relay's MAC.
	if l, ok := leaseOf(s, client); !ok || l.IP != ip || l.State != "bound" {
		t.Fatalf("lease %+v %v", l, ok)
	}

	nak := relayed(pkt.DHCPRequest, mac(2))
	nak.reqIP, nak.serverID = ip, gw.Addr() // never offered to it
	rep, ok = handleFrom(s, nak, from)
	want = wantReply(mac(2), netip.Addr{}, giaddr,
		pkt.OptMessageType, 1, pkt.DHCPNak, pkt.OptServerID, 4, 10, 9, 0, 1,
		pkt.OptMessage, 21, 'a', 'd', 'd', 'r', 'e', 's', 's', ' ', 'n', 'o', 't', ' ', 'a', 'v', 'a', 'i', 'l', 'a', 'b', 'l', 'e',
		pkt.OptRelayAgent, 12, 1, 6, 'e', 't', 'h', '0', '/', '1', 2, 2, 0xaa, 0xbb)
	if !ok || !bytes.Equal(rep.Msg, want) {
		t.Fatalf("nak ok %v\n got % x\nwant % x", ok, rep.Msg, want)
	}
	if rep.DstMAC != relayMAC || rep.DstIP != giaddr || !rep.ToRelay || rep.Broadcast {
		t.Fatalf("nak addressed %+v", rep)
	}
	if d := s.Drops(); d != ([NumDrops]uint64{}) {
		t.Fatalf("drops %v", d)
	}
}

// Without giaddr, a reply is never for a relay, and option 82 from a
// client on the link is still echoed (RFC 3046 2.2: all replies).
func TestDirectReplyNotToRelay(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	rep, ok := handleFrom(s, msg{typ: pkt.DHCPDiscover, mac: mac(1), extra: agentOpt}, From{MAC: mac(1)})
	if !ok || rep.ToRelay || rep.DstMAC != mac(1) || rep.DstIP != netip.MustParseAddr("10.9.0.10") {
		t.Fatalf("direct offer %+v", rep)
	}
	if got := option(rep, pkt.OptRelayAgent); !bytes.Equal(got, agentOpt[2:]) {
		t.Fatalf("option 82 % x", got)
	}
}

// Option 82 goes last and whole even when the client's 576 bytes leave
// no room for some other option: those are left out instead.
func TestRelayAgentOptionAlwaysFits(t *testing.T) {
	cfg := Config{Network: "n", Gateway: gw, RangeStart: ip10, RangeEnd: ip12, Domain: strings.Repeat("d", 200), Router: true}
	s, _ := newServer(t, cfg, nil)
	agent := make([]byte, 255)
	for i := range agent {
		agent[i] = byte(i)
	}
	m := relayed(pkt.DHCPDiscover, mac(1))
	m.extra = append([]byte{pkt.OptRelayAgent, 255}, agent...)
	rep, ok := handleFrom(s, m, From{MAC: relayMAC})
	if !ok {
		t.Fatal("no offer")
	}
	// 240 + 3+6+6+6+6 + 6+6 = 281; the domain (202) would pass 548-257.
	if got, want := optionCodes(rep), []uint8{53, 54, 51, 58, 59, 1, 3, 28, 82}; !slices.Equal(got, want) {
		t.Fatalf("options %v, want %v", got, want)
	}
	if got := option(rep, pkt.OptRelayAgent); !bytes.Equal(got, agent) || len(rep.Msg) > 548 {
		t.Fatalf("option 82 % x in %d bytes", got, len(rep.Msg))
	}
}

// A giaddr outside the network's guest addresses is a relay on another
// subnet (or a forgery): dropped, counted; the same relay with a giaddr
// on the network is served.
func TestRelayGIAddrForeign(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	for _, gi := range []string{"10.8.0.5", "10.9.0.1", "10.9.0.0", "10.9.0.255", "192.0.2.1"} {
		m := relayed(pkt.DHCPDiscover, mac(1))
		m.giaddr = netip.MustParseAddr(gi)
		if _, ok := handleFrom(s, m, From{MAC: relayMAC, Trusted: true}); ok {
			t.Fatalf("giaddr %s answered", gi)
		}
	}
	want := [NumDrops]uint64{}
	want[DropGIAddrForeign] = 5
	if d := s.Drops(); d != want {
		t.Fatalf("drops %v, want %v", d, want)
	}
	if _, ok := handleFrom(s, relayed(pkt.DHCPDiscover, mac(1)), From{MAC: relayMAC}); !ok {
		t.Fatal("relay on the network not answered")
	}
	if s.Drops() != want {
		t.Fatalf("drops %v", s.Drops())
	}
}

func bigRange(t *testing.T) *Server {
	cfg := Config{Network: "n", Gateway: gw, RangeStart: netip.MustParseAddr("10.9.0.10"),
		RangeEnd: netip.MustParseAddr("10.9.0.250")}
	s, _ := newServer(t, cfg, nil)
	return s
}

// On an ordinary port, relayed messages count against the relay's MAC
// (the frame's source): its MaxLeasesPerMAC and its rate. A trusted relay
// port has neither limit. A client on the link is not held to the
// relay's count.
func TestRelayLimits(t *testing.T) {
	t.Run("lease limit", func(t *testing.T) {
		s := bigRange(t)
		served := 0
		for i := range 6 {
			if _, ok := handleFrom(s, relayed(pkt.DHCPDiscover, mac(byte(10+i))), From{MAC: relayMAC}); ok {
				served++
			}
		}
		if served != DefaultMaxLeasesPerMAC || s.Drops()[DropMACLeaseLimit] != 2 {
			t.Fatalf("untrusted relay: %d offers, drops %v", served, s.Drops())
		}
		// Its clients' own MACs are free: a client on the link is served.
		if _, ok := handleFrom(s, msg{typ: pkt.DHCPDiscover, mac: mac(10)}, From{MAC: mac(10)}); !ok {
			t.Fatal("a client on the link held to the relay's count")
		}
		for i := range 50 {
			if _, ok := handleFrom(s, relayed(pkt.DHCPDiscover, mac(byte(100+i))), From{MAC: relayMAC, Trusted: true}); !ok {
				t.Fatalf("trusted relay refused client %d, drops %v", i, s.Drops())
			}
		}
		if s.Drops()[DropMACLeaseLimit] != 2 {
			t.Fatalf("drops %v", s.Drops())
		}
	})
	t.Run("rate", func(t *testing.T) {
		s := bigRange(t)
		served := 0
		for i := range rateBurst + 5 {
			// A different client each time, on a fresh server's clock: only
			// the relay's rate stops them (after its lease limit).
			m := relayed(pkt.DHCPInform, mac(byte(i)))
			m.ciaddr = netip.MustParseAddr("10.9.0.50")
			if _, ok := handleFrom(s, m, From{MAC: relayMAC}); ok {
				served++
			}
		}
		if served != rateBurst || s.Drops()[DropRateLimited] != 5 {
			t.Fatalf("untrusted relay: %d answers, drops %v", served, s.Drops())
		}
		for i := range rateBurst + 5 {
			m := relayed(pkt.DHCPInform, mac(byte(i)))
			m.ciaddr = netip.MustParseAddr("10.9.0.50")
			if _, ok := handleFrom(s, m, From{MAC: relayMAC, Trusted: true}); !ok {
				t.Fatalf("trusted relay rate-limited at %d", i)
			}
		}
		if s.Drops()[DropRateLimited] != 5 {
			t.Fatalf("drops %v", s.Drops())
		}
	})
	t.Run("release", func(t *testing.T) {
		// The relay holds the leases it made: the client's MAC from
		// elsewhere may not release them, the relay may.
		s := bigRange(t)
		from := From{MAC: relayMAC}
		rep, _ := handleFrom(s, relayed(pkt.DHCPDiscover, mac(1)), from)
		ip := pkt.DHCP(rep.Msg).YIAddr()
		req := relayed(pkt.DHCPRequest, mac(1))
		req.reqIP, req.serverID = ip, gw.Addr()
		if _, ok := handleFrom(s, req, from); !ok {
			t.Fatal("no ack")
		}
		rel := msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: ip, serverID: gw.Addr()}
		handleFrom(s, rel, From{MAC: mac(1)})
		if l, _ := leaseOf(s, mac(1)); l.State != "bound" || s.Drops()[DropNotHolder] != 1 {
			t.Fatalf("released by another MAC: %+v, drops %v", l, s.Drops())
		}
		handleFrom(s, rel, from)
		if l, _ := leaseOf(s, mac(1)); l.State != "released" {
			t.Fatalf("relay's release: %+v", l)
		}
	})
}

// A relay on an ordinary port names any chaddr: it must not take over a
// neighbour's live lease (keyed "mac:" + chaddr) and then release it. A
// trusted relay answers for its clients and may.
func TestRelayCannotTakeOverALease(t *testing.T) {
	s := bigRange(t)
	victim := mac(1)
	ip := netip.AddrFrom4([4]byte{10, 9, 0, 10})
	if got := bind(t, s, victim); got != ip {
		t.Fatalf("victim bound %v", got)
	}
	req := relayed(pkt.DHCPRequest, victim)
	req.reqIP, req.serverID = ip, gw.Addr()
	disc := relayed(pkt.DHCPDiscover, victim)
	rel := msg{typ: pkt.DHCPRelease, mac: victim, ciaddr: ip, serverID: gw.Addr(), giaddr: giaddr}
	for _, m := range []msg{disc, req, rel} {
		if _, ok := handleFrom(s, m, From{MAC: relayMAC}); ok {
			t.Fatalf("type %d answered", m.typ)
		}
	}
	want := [NumDrops]uint64{}
	want[DropNotHolder] = 3
	if l, _ := leaseOf(s, victim); s.Drops() != want || l.State != "bound" || s.byClient["mac:"+victim.String()].mac != victim {
		t.Fatalf("drops %v, lease %+v", s.Drops(), l)
	}
	// The victim itself renews as ever.
	if typ, got, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: victim, ciaddr: ip}); typ != pkt.DHCPAck || got != ip {
		t.Fatalf("victim's renewal %d %v", typ, got)
	}
	if _, ok := handleFrom(s, req, From{MAC: relayMAC, Trusted: true}); !ok || s.Drops() != want {
		t.Fatalf("trusted relay refused, drops %v", s.Drops())
	}
}
