package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/mquery"
	"github.com/vswitch/vswitch/internal/pkt"
)

func querierPort() *Port {
	p := newPort()
	p.mq = newQuerier(p) // no run goroutine: the test drives tick
	return p
}

// TestQuerierQueries: the start-up general queries are an IGMPv3 query
// (router alert, TTL 1, from the gateway's address to 224.0.0.1, 1 s to
// answer) and an MLDv2 query (from the link-local address, hop-by-hop
// router alert, to ff02::1), which gopacket decodes with the same fields.
func TestQuerierQueries(t *testing.T) {
	p := querierPort()
	if next := p.mq.Tick(time.Now()); next != mquery.StartupQueryInterval {
		t.Errorf("next query in %v, want %v", next, mquery.StartupQueryInterval)
	}
	out := takeAll(p.q)
	if len(out) != 2 {
		t.Fatalf("%d frames, want 2", len(out))
	}
	// IGMP
	pk := gopacket.NewPacket(out[0], layers.LayerTypeEthernet, gopacket.Default)
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ig, ok := pk.Layer(layers.LayerTypeIGMP).(*layers.IGMP)
	if !ok {
		t.Fatalf("no IGMP layer: %v", pk)
	}
	if eth.DstMAC.String() != "01:00:5e:00:00:01" || eth.SrcMAC.String() != p.mac.String() || ip.TTL != 1 ||
		ip.SrcIP.String() != "10.30.0.1" || ip.DstIP.String() != "224.0.0.1" || len(ip.Options) != 1 || ip.Options[0].OptionType != 148 {
		t.Errorf("IGMP frame headers: %v", pk)
	}
	if v := pkt.IPv4(out[0][pkt.EthernetLen:]); !v.Valid() || !v.HeaderChecksumOK() {
		t.Error("IPv4 header checksum")
	}
	g := pkt.IGMP(pkt.IPv4(out[0][pkt.EthernetLen:]).Payload())
	if !g.ChecksumOK() || !g.IsV3Query() || g.MaxRespTenths() != 10 || ig.Type != layers.IGMPMembershipQuery ||
		ig.MaxResponseTime != time.Second || g[9] != 125 || // QQIC in seconds (gopacket reads it as tenths)
		ig.RobustnessValue != 2 || !ig.GroupAddress.IsUnspecified() {
		t.Errorf("IGMP query: % x (%+v)", []byte(g), ig)
	}
	// MLD
	pk = gopacket.NewPacket(out[1], layers.LayerTypeEthernet, gopacket.Default)
	ip6 := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, ok := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	mq, ok2 := pk.Layer(layers.LayerTypeMLDv2MulticastListenerQuery).(*layers.MLDv2MulticastListenerQueryMessage)
	if !ok || !ok2 {
		t.Fatalf("no MLDv2 query: %v", pk)
	}
	if ip6.SrcIP.String() != pkt.LinkLocalFromMAC(p.mac).String() || ip6.DstIP.String() != "ff02::1" || ip6.HopLimit != 1 ||
		pk.Layer(layers.LayerTypeIPv6HopByHop) == nil || icmp.TypeCode.Type() != layers.ICMPv6TypeMLDv1MulticastListenerQueryMessage {
		t.Errorf("MLD frame headers: %v", pk)
	}
	m := pkt.MLD(out[1][pkt.EthernetLen+48:])
	src, dst := pkt.LinkLocalFromMAC(p.mac), netip.MustParseAddr("ff02::1")
	if !m.ChecksumOK(src, dst) || mq.MaximumResponseDelay() != time.Second || mq.QueriersQueryIntervalCode != 125 {
		t.Errorf("MLD query % x (%+v)", []byte(m), mq)
	}
	// After the start-up queries: every query interval, 10 s to answer.
	p.mq.Tick(time.Now())
	takeAll(p.q)
	if next := p.mq.Tick(time.Now()); next != mquery.QueryInterval {
		t.Errorf("next query in %v, want %v", next, mquery.QueryInterval)
	}
	out = takeAll(p.q)
	if g := pkt.IGMP(pkt.IPv4(out[0][pkt.EthernetLen:]).Payload()); g.MaxRespTenths() != 100 {
		t.Errorf("max resp %d tenths, want 100", g.MaxRespTenths())
	}
}

// igmpQueryFrom is a general IGMPv2 query from src.
func igmpQueryFrom(src netip.Addr) []byte {
	msg := []byte{pkt.IGMPQuery, 100, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(msg[2:], ^pkt.Checksum(msg, 0))
	ip := ip4(src, netip.MustParseAddr("224.0.0.1"), 1, pkt.ProtoIGMP, 0, 0, msg)
	return append(ethHdr(pkt.MAC{1, 0, 0x5e, 0, 0, 1}, guestMAC, pkt.TypeIPv4), ip...)
}

// TestQuerierElection: a query from a lower address silences the IGMP
// querier (the MLD one goes on); one from a higher address, or from
// 0.0.0.0, does not.
func TestQuerierElection(t *testing.T) {
	for _, tt := range []struct {
		src  string
		igmp bool
	}{{"10.30.0.0", false}, {"10.9.0.1", false}, {"10.30.0.2", true}, {"0.0.0.0", true}} {
		t.Run(tt.src, func(t *testing.T) {
			p := querierPort()
			if out := exchange(t, p, igmpQueryFrom(netip.MustParseAddr(tt.src))); len(out) != 0 {
				t.Fatalf("the query was answered: %d frames", len(out))
			}
			p.mq.Tick(time.Now())
			out := takeAll(p.q)
			want := 1
			if tt.igmp {
				want = 2
			}
			if len(out) != want || pkt.Ethernet(out[len(out)-1]).Type() != pkt.TypeIPv6 {
				t.Fatalf("%d queries sent, want %d with MLD's last", len(out), want)
			}
			if igmp, mld := p.Querier(); igmp != tt.igmp || !mld {
				t.Errorf("Querier() = %v %v, want %v true", igmp, mld, tt.igmp)
			}
			// The silence ends after the other querier present interval.
			p.mq.Tick(time.Now().Add(mquery.OtherQuerierPresent + time.Second))
			if out := takeAll(p.q); len(out) != 2 {
				t.Errorf("after the interval: %d queries, want 2", len(out))
			}
		})
	}
}

// TestQuerierLeave: a leave gets a group-specific query to the group, at
// most ten a second however many leaves a guest sends.
func TestQuerierLeave(t *testing.T) {
	p := querierPort()
	grp := netip.MustParseAddr("239.1.2.3")
	msg := []byte{pkt.IGMPv2Leave, 0, 0, 0, 239, 1, 2, 3}
	binary.BigEndian.PutUint16(msg[2:], ^pkt.Checksum(msg, 0))
	leave := append(ethHdr(pkt.MAC{1, 0, 0x5e, 0, 0, 2}, guestMAC, pkt.TypeIPv4),
		ip4(guestIP, netip.MustParseAddr("224.0.0.2"), 1, pkt.ProtoIGMP, 0, 0, msg)...)
	var out [][]byte
	for range 25 {
		out = append(out, exchange(t, p, leave)...)
	}
	if len(out) != 10 {
		t.Fatalf("%d group queries, want 10", len(out))
	}
	ip := pkt.IPv4(out[0][pkt.EthernetLen:])
	g := pkt.IGMP(ip.Payload())
	if ip.Dst() != grp || g.Group() != grp || !g.ChecksumOK() || g.MaxRespTenths() != 10 ||
		pkt.Ethernet(out[0]).Dst() != (pkt.MAC{1, 0, 0x5e, 1, 2, 3}) {
		t.Errorf("group query to %v for %v (% x)", ip.Dst(), g.Group(), out[0])
	}
}
