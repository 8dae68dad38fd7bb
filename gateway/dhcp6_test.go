package gateway

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp6"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// newPort6DHCP is newPort6 with a DHCPv6 server; no range: stateless.
func newPort6DHCP(t *testing.T, stateful bool) *Port {
	t.Helper()
	p := newPort6("t", gw6, nil)
	cfg := dhcp6.Config{Network: "t", Prefix: gw6.Masked(), MAC: p.MAC(), DNS: []netip.Addr{gw6.Addr()}}
	if stateful {
		cfg.RangeStart, cfg.RangeEnd = netip.MustParseAddr("fd00:122::100"), netip.MustParseAddr("fd00:122::1ff")
	}
	p.cfg.DHCP6 = dhcp6.NewServer(cfg, nil)
	return p
}

// dhcp6Frame frames a client's message from guestMAC's link-local
// address to dst, port 546 to 547, with a correct UDP checksum.
func dhcp6Frame(dmac pkt.MAC, dst netip.Addr, typ uint8, serverID []byte) []byte {
	msg := testnet.DHCPv6Client(typ, 0x0a0b0c, append([]byte{0, 3, 0, 1}, guestMAC[:]...), serverID, false, 1, netip.Addr{})
	u := make([]byte, pkt.UDPLen+len(msg))
	copy(u[pkt.UDPLen:], msg)
	u[0], u[1], u[2], u[3], u[4], u[5] = 0x02, 0x22, 0x02, 0x23, byte(len(u)>>8), byte(len(u))
	b := frame6(dmac, guestMAC, guest6LL, dst, 1, pkt.ProtoUDP, u)
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	pkt.UDP(b[icmp6Off:]).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(len(u))))
	return b
}

// dhcp6Reply checks a reply frame's headers and checksum and returns the
// DHCPv6 message.
func dhcp6Reply(t *testing.T, p *Port, r []byte) pkt.DHCPv6 {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if eth.Dst() != guestMAC || eth.Src() != p.MAC() || !ip.Valid() || ip.NextHeader() != pkt.ProtoUDP ||
		ip.Src() != pkt.LinkLocalFromMAC(p.MAC()) || ip.Dst() != guest6LL {
		t.Fatalf("reply headers: %x", r)
	}
	u := pkt.UDP(r[icmp6Off : pkt.EthernetLen+ip.Len()])
	if !u.Valid() || u.SrcPort() != 547 || u.DstPort() != 546 || u.Checksum() != u.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) {
		t.Fatalf("reply UDP: %x", []byte(u))
	}
	m := pkt.DHCPv6(u.Payload())
	if !m.Valid() || m.TransactionID() != 0x0a0b0c {
		t.Fatalf("reply: %x", []byte(m))
	}
	return m
}

func TestDHCP6Gateway(t *testing.T) {
	p := newPort6DHCP(t, true)
	now := time.Now()
	allDHCP := pkt.MulticastMAC6(pkt.IPv6AllDHCP)
	send := func(b []byte) [][]byte {
		f := frameOf(b)
		p.handle(f.Bytes(), now)
		f.Release()
		return takeAll(p.q)
	}
	// A corrupted checksum: dropped, counted, unanswered.
	bad := dhcp6Frame(allDHCP, pkt.IPv6AllDHCP, pkt.DHCPv6Solicit, nil)
	bad[len(bad)-1] ^= 1
	if out := send(bad); len(out) != 0 || p.Drops()[DropBadIPv6] != 1 {
		t.Fatalf("bad checksum: %d replies, drops %v", len(out), p.Drops())
	}
	out := send(dhcp6Frame(allDHCP, pkt.IPv6AllDHCP, pkt.DHCPv6Solicit, nil))
	if len(out) != 1 {
		t.Fatalf("%d replies to SOLICIT", len(out))
	}
	adv := dhcp6Reply(t, p, out[0])
	if adv.Type() != pkt.DHCPv6Advertise {
		t.Fatalf("type %d", adv.Type())
	}
	o := adv.ParseOptions()
	if ia := o.IANA; ia == nil || pkt.DHCPv6IAAddr(ia.Options()[4:]).Addr() != netip.MustParseAddr("fd00:122::100") {
		t.Fatalf("IA_NA %x", []byte(o.IANA))
	}
	// A REQUEST sent to the gateway's global address (unicast, never
	// invited): UseMulticast.
	out = send(dhcp6Frame(p.MAC(), gw6.Addr(), pkt.DHCPv6Request, o.ServerID))
	if len(out) != 1 {
		t.Fatalf("%d replies to unicast REQUEST", len(out))
	}
	rep := dhcp6Reply(t, p, out[0])
	if st := findOpt(rep, pkt.DHCPv6OptStatusCode); rep.Type() != pkt.DHCPv6Reply || len(st) < 2 || st[1] != pkt.DHCPv6UseMulticast {
		t.Fatalf("unicast REQUEST: %x", []byte(rep))
	}
	out = send(dhcp6Frame(allDHCP, pkt.IPv6AllDHCP, pkt.DHCPv6Request, o.ServerID))
	if len(out) != 1 || dhcp6Reply(t, p, out[0]).ParseOptions().IANA == nil {
		t.Fatalf("REQUEST: %d replies", len(out))
	}
	if ls := p.cfg.DHCP6.Leases(); len(ls) != 1 || ls[0].IP != netip.MustParseAddr("fd00:122::100") {
		t.Fatalf("leases %v", ls)
	}
	// From the unspecified address: nobody to answer (bad_source).
	spoof := dhcp6Frame(allDHCP, pkt.IPv6AllDHCP, pkt.DHCPv6Solicit, nil)
	ip := pkt.IPv6(spoof[pkt.EthernetLen:])
	ip.SetSrc(netip.IPv6Unspecified())
	u := pkt.UDP(spoof[icmp6Off:])
	u.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length())))
	if out := send(spoof); len(out) != 0 || p.Drops()[DropBadSource] != 1 {
		t.Fatalf("from ::: %d replies, drops %v", len(out), p.Drops())
	}
	// To a group the gateway is not in: not taken.
	if out := send(dhcp6Frame(pkt.MulticastMAC6(netip.MustParseAddr("ff02::1:3")), netip.MustParseAddr("ff02::1:3"), pkt.DHCPv6Solicit, nil)); len(out) != 0 {
		t.Fatalf("%d replies to ff02::1:3", len(out))
	}
}

func findOpt(m pkt.DHCPv6, code uint16) []byte {
	it := m.Options().Iter()
	for it.Next() {
		if it.Code() == code {
			return it.Data()
		}
	}
	return nil
}

// TestDHCP6RAFlags: M and O follow the DHCPv6 server, and a stateful one
// takes the prefix's A flag off.
func TestDHCP6RAFlags(t *testing.T) {
	for _, tc := range []struct {
		name         string
		port         *Port
		flags, pflag uint8
	}{
		{"no dhcp6", newPort6("t", gw6, nil), 0, pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto},
		{"stateless", newPort6DHCP(t, false), pkt.NDPRAOther, pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto},
		{"stateful", newPort6DHCP(t, true), pkt.NDPRAManaged | pkt.NDPRAOther, pkt.NDPPrefixOnLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 1514)
			n := tc.port.writeRA(b, pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.IPv6AllNodes)
			ra := b[icmp6Off:n]
			// The prefix option's flags byte: type 3, length 4, prefix length, flags.
			pfx := -1
			for i := pkt.NDPRouterAdvertLen; i+8 <= len(ra); i += int(ra[i+1]) * 8 {
				if ra[i] == 3 {
					pfx = i
					break
				}
				if ra[i+1] == 0 {
					break
				}
			}
			if ra[5] != tc.flags || pfx < 0 || ra[pfx+3] != tc.pflag {
				t.Fatalf("RA flags %#x, prefix flags %#x (at %d)", ra[5], ra[pfx+3], pfx)
			}
		})
	}
}
