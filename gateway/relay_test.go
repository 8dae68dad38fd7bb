package gateway

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

var (
	relayMAC = pkt.MAC{0x52, 0x54, 0, 0, 0xee, 1}
	relayIP  = netip.MustParseAddr("10.30.0.5")
	// Option 82: circuit id "eth0/1", remote id aa bb.
	agentOpt = []byte{82, 12, 1, 6, 'e', 't', 'h', '0', '/', '1', 2, 2, 0xaa, 0xbb}
)

// relayDHCP is a DHCP message for chaddr's client as a relay sends it:
// from relayMAC and relayIP, port 67 to the gateway's 67, giaddr gi (zero:
// not relayed) and option 82.
func relayDHCP(typ uint8, chaddr pkt.MAC, gi netip.Addr, opts ...byte) []byte {
	m := bootp(pkt.BOOTRequest, 0x77, 0, bootpAddrs{gi: gi}, chaddr, typ, append(slices.Clip(opts), agentOpt...))
	m = append(m, make([]byte, 300-len(m))...)
	return udpFrame(StableMAC("t"), relayMAC, relayIP, gwIP, 64, 67, 67, m)
}

// writeMarked hands frames to the gateway as the switch does, each with
// its ingress port's mark, and returns the replies.
func writeMarked(p *Port, frames [][]byte, marks []uint8) [][]byte {
	fs := make([]*vswitch.Frame, len(frames))
	for i, b := range frames {
		fs[i] = vswitch.NewFrame()
		fs[i].SetData(b)
		fs[i].SetMark(marks[i])
	}
	p.WriteBatch(fs)
	for _, f := range fs {
		f.Release()
	}
	return takeAll(p.q)
}

func relayPort() *Port {
	cfg := dhcpConfig()
	cfg.RangeEnd = netip.MustParseAddr("10.30.0.200")
	p := New(Config{Network: "t", VLAN: 1, Address: gwAddr, DHCP: dhcp.NewServer(cfg, nil)})
	p.garp.Store(true)
	return p
}

// A relayed DISCOVER and REQUEST are answered to the relay: its MAC, giaddr,
// UDP 67 to 67, the server's message with option 82 as sent. The ACK
// teaches the neighbour cache nothing: the client is not on this link.
func TestGatewayRelayedDHCP(t *testing.T) {
	for _, mark := range []uint8{0, MarkDHCPRelay} {
		p := relayPort()
		cfg := dhcpConfig()
		cfg.RangeEnd = netip.MustParseAddr("10.30.0.200")
		twin := dhcp.NewServer(cfg, nil)
		client := pkt.MAC{0x52, 0x54, 0, 0, 0x77, 1}
		offered := netip.MustParseAddr("10.30.0.10")
		steps := [][]byte{
			relayDHCP(pkt.DHCPDiscover, client, relayIP),
			relayDHCP(pkt.DHCPRequest, client, relayIP, 50, 4, 10, 30, 0, 10, 54, 4, 10, 30, 0, 1),
		}
		for i, frame := range steps {
			msg := pkt.DHCP(pkt.UDP(pkt.IPv4(frame[14:]).Payload()).Payload())
			rep, ok := twin.HandleFrom(msg, dhcp.From{MAC: relayMAC, Trusted: mark != 0}, make([]byte, 1500))
			if !ok || !rep.ToRelay {
				t.Fatalf("twin: %v %+v", ok, rep)
			}
			want := append(ethHdr(relayMAC, StableMAC("t"), pkt.TypeIPv4),
				ip4(gwIP, relayIP, 64, pkt.ProtoUDP, uint16(p.ipID.Load()+1), 0, udp4(gwIP, relayIP, 67, 67, rep.Msg))...)
			out := writeMarked(p, [][]byte{frame}, []uint8{mark})
			if len(out) != 1 || !bytes.Equal(out[0], want) {
				t.Fatalf("mark %d step %d: replies\n% x\nwant\n% x", mark, i, out, want)
			}
			got := pkt.DHCP(pkt.UDP(checkIPv4(t, out[0]).Payload()).Payload())
			if got.YIAddr() != offered || got.GIAddr() != relayIP || got.CHAddr() != client ||
				!bytes.Contains(got[pkt.DHCPOptionsOff:], append(append([]byte(nil), agentOpt...), 255)) {
				t.Fatalf("mark %d step %d: message % x", mark, i, got)
			}
		}
		if p.Neighbours() != 0 || p.Drops() != [NumDrops]uint64{} {
			t.Fatalf("mark %d: %d neighbours, drops %v", mark, p.Neighbours(), p.Drops())
		}
	}
}

// On an ordinary port a relay is a guest: its relayed messages count
// against its own MAC's lease limit, and one it did not relay must carry
// its own chaddr. A trusted relay port lifts both, per frame: a frame from
// an ordinary port in the same batch is still checked.
func TestGatewayRelayTrust(t *testing.T) {
	clients := make([][]byte, 6)
	for i := range clients {
		clients[i] = relayDHCP(pkt.DHCPDiscover, pkt.MAC{0x52, 0x54, 0, 0, 0x77, byte(i)}, relayIP)
	}
	p := relayPort()
	if out := writeMarked(p, clients, make([]uint8, 6)); len(out) != dhcp.DefaultMaxLeasesPerMAC ||
		p.cfg.DHCP.Drops()[dhcp.DropMACLeaseLimit] != 2 {
		t.Fatalf("ordinary port: %d offers, dhcp drops %v", len(out), p.cfg.DHCP.Drops())
	}
	p = relayPort()
	trusted := []uint8{MarkDHCPRelay, MarkDHCPRelay, MarkDHCPRelay, MarkDHCPRelay, MarkDHCPRelay, MarkDHCPRelay}
	if out := writeMarked(p, clients, trusted); len(out) != 6 || p.cfg.DHCP.Drops() != [dhcp.NumDrops]uint64{} {
		t.Fatalf("trusted port: %d offers, dhcp drops %v", len(out), p.cfg.DHCP.Drops())
	}
	// Not relayed (giaddr 0), chaddr not the source: a router's renewal
	// from behind a trusted port is answered; the same from an ordinary
	// port right after it in the batch is chaddr_spoofed.
	other := pkt.MAC{0x52, 0x54, 0, 0, 0x77, 0x40}
	direct := relayDHCP(pkt.DHCPDiscover, other, netip.Addr{})
	out := writeMarked(p, [][]byte{direct, direct}, []uint8{MarkDHCPRelay, 0})
	want := [NumDrops]uint64{}
	want[DropChaddrSpoofed] = 1
	if len(out) != 1 || p.Drops() != want {
		t.Fatalf("direct: %d replies, drops %v", len(out), p.Drops())
	}
	// Not relayed, so to the client port, at the frame's source.
	if e := pkt.Ethernet(out[0]); e.Dst() != relayMAC || pkt.UDP(pkt.IPv4(e.Payload()).Payload()).DstPort() != 68 {
		t.Fatalf("direct reply % x", out[0][:42])
	}
}
