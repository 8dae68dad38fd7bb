package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// The uplink's MAC in the address6: auto tests, fixed so its EUI-64
// address is known beforehand.
var auto6UplinkMAC = pkt.MAC{0x52, 0x54, 0x00, 0x78, 0x00, 0x05}

// auto6Lab is vswitch with an uplink `address6: auto` on a veth to an
// "outside" namespace where dnsmasq is the router (enable-ra with
// dhcpRange), and a guest on a nat network with address6.
type auto6Lab struct {
	out, guest *host
	outDev     string
	routerLL   netip.Addr
	vs         *instance
	metrics    string
	leases     string
}

func newAuto6Lab(t *testing.T, tag, dhcpRange string) *auto6Lab {
	requireE2E(t, "dnsmasq", "python3", "curl", "sha256sum")
	l := &auto6Lab{out: newHost6(t, tag+"o")}
	out := l.out
	for _, k := range []string{"all", "default"} {
		out.Run("sysctl", "-qw", "net.ipv6.conf."+k+".accept_dad=0") // its link-local address at once
	}
	upDev, outDev := testnet.Veth(t, tag+"u", out.Netns)
	testnet.Run(t, "sysctl", "-qw", "net.ipv6.conf."+upDev+".disable_ipv6=1") // vswitch holds it; the host stays off
	out.Run("sysctl", "-qw", "net.ipv6.conf."+outDev+".accept_ra=0")
	out.addr(outDev, "10.248.0.1/24")
	out.Run("ip", "-6", "addr", "add", "2001:db8:78::1/64", "dev", outDev, "nodad")
	l.outDev, l.routerLL = outDev, pkt.LinkLocalFromMAC(mustMAC(t, out.mac(outDev)))
	l.leases = filepath.Join(t.TempDir(), "leases")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	startProcess(t, "dnsmasq", out.Command(ctx, "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
		"--port=0", "--interface="+outDev, "--log-dhcp", "--log-facility=-", "--dhcp-leasefile="+l.leases,
		"--enable-ra", "--ra-param="+outDev+",4", "--dhcp-range="+dhcpRange))

	l.guest = newHost6(t, tag+"g")
	l.metrics = freeAddr(t)
	l.vs = startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, mac: "52:54:00:f8:00:01"}
networks:
  - {name: nat6, address: 192.168.248.1/24, address6: "fd00:248::1/64", mode: nat, uplink: wan}
uplinks:
  - {name: wan, device: %s, mac: %q, address: 10.248.0.5/24, gateway: 10.248.0.1, address6: auto}
`, l.metrics, l.guest.dev, l.guest.Name, upDev, auto6UplinkMAC))
	l.guest.Run("ip", "link", "set", l.guest.dev, "up")
	for _, e := range l.vs.fdb() {
		if e.Port == "gw-nat6" {
			waitSLAAC(t, l.guest, "fd00:248::/64", mustMAC(t, e.MAC))
		}
	}
	return l
}

// learned waits for the uplink's IPv6 address in show status and checks
// its router and source exactly.
func (l *auto6Lab) learned(t *testing.T, source string, ok func(netip.Prefix) bool) netip.Prefix {
	t.Helper()
	var u control.UplinkStatus
	testnet.WaitFor(t, 15*time.Second, "the uplink's learned IPv6 address in show status", func() bool {
		st := l.vs.status()
		if len(st.Uplinks) != 1 {
			t.Fatalf("uplinks %+v", st.Uplinks)
		}
		u = st.Uplinks[0]
		return u.Address6 != ""
	})
	a, err := netip.ParsePrefix(u.Address6)
	if err != nil || !ok(a) || u.Gateway6 != l.routerLL.String() || u.Auto6 != source {
		t.Fatalf("uplink status %+v: want router %v, source %s", u, l.routerLL, source)
	}
	text := l.vs.mustCLI("show", "status")
	if want := fmt.Sprintf("IPv6 %s via %s (auto: %s)", a, l.routerLL, source); !strings.Contains(text, want) {
		t.Fatalf("show status has no %q:\n%s", want, text)
	}
	return a
}

// download fetches a blob from an HTTP server in the outside namespace
// with curl -6 on the guest, through NAT66, byte-exact, and checks that
// the server saw only the uplink's learned address.
func (l *auto6Lab) download(t *testing.T, uplink netip.Addr) {
	t.Helper()
	dir := t.TempDir()
	want := randomBlob(t, filepath.Join(dir, "blob"), 2)
	srv := startProcess(t, "http.server", l.out.Command(context.Background(), "python3", "-u", "-m", "http.server", "--bind", "2001:db8:78::1", "--directory", dir, "8000"))
	downloadChecked(t, l.guest, "http://[2001:db8:78::1]:8000/blob", filepath.Join(t.TempDir(), "got"), want, 20*time.Second, "10", "curl -6 through NAT66 from a learned address")
	var gets int
	for _, line := range strings.Split(strings.TrimSpace(srv.String()), "\n") {
		if !strings.Contains(line, `"GET `) {
			continue
		}
		if gets++; !strings.HasPrefix(line, uplink.String()+" - - ") || !strings.Contains(line, `"GET /blob HTTP/1.1" 200`) {
			t.Fatalf("the server saw %q, want only the uplink's learned address %v getting /blob", line, uplink)
		}
	}
	if gets == 0 {
		t.Fatalf("the server logged no GET:\n%s", srv.String())
	}
	text := scrape(t, l.metrics)
	if v := metric(t, text, "vswitch_uplink_autoconf6_events_total", `event="ra",uplink="wan"`); v < 1 {
		t.Fatalf("ra events %v\n%s", v, nonzeroDrops(text))
	}
	if v := metric(t, text, "vswitch_uplink_autoconf6_events_total", `event="dad_conflict",uplink="wan"`); v != 0 {
		t.Fatalf("dad_conflict events %v", v)
	}
	// dnsmasq's DHCPv6 replies leave the veth with partial checksums:
	// the uplink hands them over as offloaded, never as bad.
	if v := metric(t, text, "vswitch_uplink_autoconf6_drops_total", `reason="bad_checksum",uplink="wan"`); v != 0 {
		t.Fatalf("bad_checksum drops %v", v)
	}
}

// TestUplinkAuto6Stateless: dnsmasq advertises 2001:db8:78::/64 for
// SLAAC (ra-stateless); the uplink takes exactly the EUI-64 address of
// its MAC in it, dnsmasq's link-local address as router, answers pings
// from the outside to it, and a guest's
// curl -6 through NAT66 reaches an HTTP server outside, which sees that
// address.
func TestUplinkAuto6Stateless(t *testing.T) {
	l := newAuto6Lab(t, "u6l", "2001:db8:78::,ra-stateless")
	want := netip.MustParsePrefix("2001:db8:78::5054:ff:fe78:5/64")
	a := l.learned(t, "slaac", func(p netip.Prefix) bool { return p == want })
	// The outside resolves the learned address (the uplink answers its
	// solicitation) and pings it.
	if !l.out.ping(a.Addr().String(), 3) {
		t.Fatalf("the outside's pings to the uplink's learned address went unanswered:\n%s", l.out.Run("ip", "-6", "neigh"))
	}
	l.download(t, a.Addr())
}

// TestUplinkAuto6Stateful: dnsmasq leases from a DHCPv6 range (RA with
// M); the uplink's address is one of the range, the one dnsmasq's lease
// file holds for the uplink's DUID, and the server outside sees it.
func TestUplinkAuto6Stateful(t *testing.T) {
	l := newAuto6Lab(t, "u6s", "2001:db8:78::100,2001:db8:78::1ff,64")
	lo, hi := netip.MustParseAddr("2001:db8:78::100"), netip.MustParseAddr("2001:db8:78::1ff")
	a := l.learned(t, "dhcpv6", func(p netip.Prefix) bool {
		return p.Bits() == 64 && !p.Addr().Less(lo) && !hi.Less(p.Addr())
	})
	// dnsmasq writes "<expiry> <iaid> <address> <name> <duid>": DUID-LL
	// of the uplink's MAC, IAID its last four bytes.
	waitLease(t, l.leases, fmt.Sprintf("%d %s * 00:03:00:01:%s", binary.BigEndian.Uint32(auto6UplinkMAC[2:]), a.Addr(), auto6UplinkMAC))
	l.download(t, a.Addr())
}
