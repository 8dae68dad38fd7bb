package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/autoconf6"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// The outside link of the autoconf6 tests: dnsmasq's router end and the
// uplink's end, with fixed MACs so every address is known beforehand.
var (
	ac6RouterMAC = "02:00:00:77:00:01"
	ac6RouterLL  = netip.MustParseAddr("fe80::ff:fe77:1")
	ac6ClientMAC = pkt.MAC{0x52, 0x54, 0x00, 0x77, 0x00, 0x02}
	ac6DNS       = netip.MustParseAddr("2001:db8:77::53")
)

// ac6Lab is dnsmasq as the outside router in one namespace and the
// autoconf6 client on an AF_PACKET socket in another (IPv6 off there, so
// the kernel neither answers nor probes for the client's addresses).
type ac6Lab struct {
	t       *testing.T
	rtr     *host
	rtrDev  string
	raw     *testnet.Raw
	c       *autoconf6.Client
	out     [][]byte
	dnsmasq *lockedBuffer
	cancel  context.CancelFunc
	leases  string
}

func newAC6Lab(t *testing.T, tag, dhcpRange string) *ac6Lab {
	requireE2E(t, "dnsmasq", "ethtool")
	l := &ac6Lab{t: t}
	rtr := &host{Netns: testnet.NewNetns(t, tag+"r"), tb: t}
	for _, k := range []string{"all", "default"} {
		rtr.Run("sysctl", "-qw", "net.ipv6.conf."+k+".accept_dad=0") // its link-local address at once
	}
	cli := newHost(t, tag+"c")
	cdev, rdev := testnet.Veth(t, tag, rtr.Netns)
	testnet.Run(t, "ip", "link", "set", cdev, "netns", cli.Name)
	cli.Run("ip", "link", "set", cdev, "address", ac6ClientMAC.String())
	cli.Run("ip", "link", "set", cdev, "up")
	rtr.Run("ip", "link", "set", rdev, "down")
	rtr.Run("ip", "link", "set", rdev, "address", ac6RouterMAC)
	rtr.Run("ip", "link", "set", rdev, "up")
	// Complete checksums on the wire, as from a NIC: a veth peer leaves
	// them partial, which the client's raw socket here (no vnet_hdr)
	// could not tell (the uplink passes those to HandleOffloaded).
	rtr.Run("ethtool", "-K", rdev, "tx", "off")
	rtr.Run("ip", "-6", "addr", "add", "2001:db8:77::1/64", "dev", rdev, "nodad")
	if out := rtr.Run("ip", "-6", "addr", "show", "dev", rdev, "scope", "link"); !strings.Contains(out, ac6RouterLL.String()+"/64") {
		t.Fatalf("router link-local address is not %v:\n%s", ac6RouterLL, out)
	}
	l.rtr, l.rtrDev = rtr, rdev
	l.leases = filepath.Join(t.TempDir(), "leases")
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	cmd := rtr.Command(ctx, "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
		"--port=0", "--interface="+rdev, "--log-dhcp", "--log-facility=-", "--dhcp-leasefile="+l.leases,
		"--enable-ra", "--dhcp-range="+dhcpRange, "--dhcp-option=option6:dns-server,["+ac6DNS.String()+"]")
	l.dnsmasq = startProcess(t, "dnsmasq", cmd)
	t.Cleanup(cancel)
	l.raw = testnet.OpenRaw(t, cli.Netns, cdev)
	l.c = autoconf6.New(autoconf6.Config{MAC: ac6ClientMAC, Send: func(f []byte) { l.out = append(l.out, append([]byte(nil), f...)) }})
	return l
}

// drive is the uplink's part, in the test's goroutine: frames in to
// Handle, neighbour solicitations for the client's addresses answered,
// Tick, frames out; until cond holds.
func (l *ac6Lab) drive(what string, timeout time.Duration, cond func(autoconf6.State) bool) autoconf6.State {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if f, ok := l.raw.Recv(20 * time.Millisecond); ok {
			if !l.c.Handle(f.Data) {
				l.answerNS(f.Data)
			}
		}
		l.c.Tick(time.Now())
		for _, f := range l.out {
			l.raw.Send(f)
		}
		l.out = l.out[:0]
		s := l.c.State()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out after %v waiting for %s; state %+v, drops %v\ndnsmasq:\n%s", timeout, what, s, l.c.Drops(), l.dnsmasq.String())
		}
	}
}

// answerNS answers a solicitation for one of the client's addresses, as
// the uplink's neighbour discovery does: dnsmasq's kernel resolves the
// link-local address before it unicasts a DHCPv6 reply.
func (l *ac6Lab) answerNS(f []byte) {
	eth := pkt.Ethernet(f)
	if !eth.Valid() || eth.Type() != pkt.TypeIPv6 {
		return
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() || ip.NextHeader() != pkt.ProtoICMPv6 || ip.PayloadLen() < pkt.NDPNeighSolicitLen || ip.Rest()[0] != pkt.ICMPv6NeighSolicit {
		return
	}
	s := l.c.State()
	target := pkt.NDPNeighSolicit(ip.Rest()).Target()
	if target != s.LinkLocal && target != s.Addr.Addr() || ip.Src().IsUnspecified() {
		return
	}
	const off = pkt.EthernetLen + pkt.IPv6Len
	b := make([]byte, off+pkt.NDPNeighAdvertLen+pkt.NDPLLAOptLen)
	m := b[off:]
	pkt.NDPNeighAdvert(m).Encode(pkt.NDPNASolicited|pkt.NDPNAOverride, target)
	w := pkt.NDPOptionWriter{B: m, N: pkt.NDPNeighAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptTargetLLA, ac6ClientMAC)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: eth.Src(), Src: ac6ClientMAC, Type: pkt.TypeIPv6})
	r := pkt.IPv6(b[pkt.EthernetLen:])
	r.Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(m)), NextHeader: pkt.ProtoICMPv6, HopLimit: 255, Src: target, Dst: ip.Src()})
	pkt.ICMPv6(m).SetChecksum(r.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(m))))
	l.raw.Send(b)
}

// survives takes dnsmasq's address away and then kills dnsmasq: the
// client goes on (no panic, its address kept while its lifetime lasts),
// and still reads the link: a last advertisement from the router's
// address with lifetime 0, sent by hand, takes the default router away.
func (l *ac6Lab) survives(addr netip.Prefix) {
	l.t.Helper()
	l.rtr.Run("ip", "-6", "addr", "del", "2001:db8:77::1/64", "dev", l.rtrDev)
	until := time.Now().Add(2 * time.Second)
	l.drive("two seconds without dnsmasq's address", 5*time.Second, func(autoconf6.State) bool { return time.Now().After(until) })
	l.cancel() // kills the dnsmasq this test started, by its PID
	until = time.Now().Add(time.Second)
	s := l.drive("a second without dnsmasq", 5*time.Second, func(autoconf6.State) bool { return time.Now().After(until) })
	if s.Addr != addr || s.Router != ac6RouterLL {
		l.t.Fatalf("after dnsmasq went: %+v", s)
	}
	rtrMAC, _ := pkt.ParseMAC(ac6RouterMAC)
	msg := make([]byte, pkt.NDPRouterAdvertLen)
	pkt.NDPRouterAdvert(msg).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64})
	const off = pkt.EthernetLen + pkt.IPv6Len
	b := make([]byte, off+len(msg))
	copy(b[off:], msg)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC6(pkt.IPv6AllNodes), Src: rtrMAC, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(msg)), NextHeader: pkt.ProtoICMPv6, HopLimit: 255, Src: ac6RouterLL, Dst: pkt.IPv6AllNodes})
	pkt.ICMPv6(b[off:]).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(msg))))
	testnet.OpenRaw(l.t, l.rtr.Netns, l.rtrDev).Send(b)
	l.drive("the router gone after its lifetime-0 advertisement", 5*time.Second, func(s autoconf6.State) bool { return !s.Router.IsValid() })
}

// TestAutoconf6DnsmasqStateful: dnsmasq with a DHCPv6 range (RA with M)
// leases the client an address from the range; the router is dnsmasq's
// link-local address, DNS the configured server, and dnsmasq's lease
// file records the client's DUID and IAID with that address.
func TestAutoconf6DnsmasqStateful(t *testing.T) {
	l := newAC6Lab(t, "a6s", "2001:db8:77::100,2001:db8:77::1ff,64")
	s := l.drive("a leased address", 20*time.Second, func(s autoconf6.State) bool { return s.Addr.IsValid() })
	lo, hi := netip.MustParseAddr("2001:db8:77::100"), netip.MustParseAddr("2001:db8:77::1ff")
	if a := s.Addr.Addr(); s.Source != autoconf6.SourceDHCPv6 || a.Less(lo) || hi.Less(a) || s.Addr.Bits() != 64 || !s.OnLink {
		t.Fatalf("address %v from %v (on-link %v), want one in %v-%v/64 from DHCPv6", s.Addr, s.Source, s.OnLink, lo, hi)
	}
	if s.Router != ac6RouterLL || s.RouterMAC.String() != ac6RouterMAC || fmt.Sprint(s.DNS) != fmt.Sprint([]netip.Addr{ac6DNS}) || s.LinkLocal != pkt.LinkLocalFromMAC(ac6ClientMAC) {
		t.Fatalf("state %+v", s)
	}
	duid := fmt.Sprintf("% x", l.c.DUID())
	duid = strings.ReplaceAll(duid, " ", ":")
	if duid != "00:03:00:01:52:54:00:77:00:02" {
		t.Fatalf("DUID %s", duid)
	}
	// dnsmasq writes "<expiry> <iaid> <address> <name> <duid>" per lease.
	waitLease(t, l.leases, fmt.Sprintf("%d %s * %s", l.c.IAID(), s.Addr.Addr(), duid))
	if e := l.c.Events(); e[autoconf6.EventDHCP6Bound] != 1 || e[autoconf6.EventDADConflict] != 0 {
		t.Fatalf("events %v", e)
	}
	l.survives(s.Addr)
}

// TestAutoconf6DnsmasqStateless: dnsmasq with ra-stateless (RA with the
// prefix's A flag and O) gives the exact EUI-64 address by SLAAC, and
// the DNS server by RDNSS and by one INFORMATION-REQUEST, which dnsmasq
// logs from the client's DUID.
func TestAutoconf6DnsmasqStateless(t *testing.T) {
	l := newAC6Lab(t, "a6l", "2001:db8:77::,ra-stateless")
	s := l.drive("a SLAAC address and DNS", 20*time.Second, func(s autoconf6.State) bool { return s.Addr.IsValid() })
	if s.Addr != netip.MustParsePrefix("2001:db8:77::5054:ff:fe77:2/64") || s.Source != autoconf6.SourceSLAAC || !s.OnLink {
		t.Fatalf("address %v from %v", s.Addr, s.Source)
	}
	if s.Router != ac6RouterLL || s.RouterMAC.String() != ac6RouterMAC || fmt.Sprint(s.DNS) != fmt.Sprint([]netip.Addr{ac6DNS}) {
		t.Fatalf("state %+v", s)
	}
	// One INFORMATION-REQUEST, from the client's DUID: its reply was
	// taken (unanswered, it would go again after 1 s, 2 s, ...).
	until := time.Now().Add(3500 * time.Millisecond)
	l.drive("3.5 s more", 10*time.Second, func(autoconf6.State) bool { return time.Now().After(until) })
	if n := strings.Count(l.dnsmasq.String(), "DHCPINFORMATION-REQUEST("+l.rtrDev+") 00:03:00:01:52:54:00:77:00:02"); n != 1 {
		t.Fatalf("%d INFORMATION-REQUESTs from the client's DUID in dnsmasq's log, want 1", n)
	}
	l.survives(s.Addr)
}

// waitLease waits for a line of dnsmasq's lease file that is want after
// its expiry time.
func waitLease(t *testing.T, path, want string) {
	t.Helper()
	testnet.WaitFor(t, 5*time.Second, "the lease "+want+" in dnsmasq's lease file", func() bool {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.SplitN(line, " ", 2); len(f) == 2 && f[1] == want {
				return true
			}
		}
		return false
	})
}
