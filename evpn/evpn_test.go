package evpn

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vswitch/vswitch/internal/pkt"
)

// fakeTunnel records what the speaker installs.
type fakeTunnel struct {
	flood  map[uint32][]netip.Addr
	remote map[uint32]map[pkt.MAC]netip.Addr
}

func newFakeTunnel() *fakeTunnel {
	return &fakeTunnel{flood: map[uint32][]netip.Addr{}, remote: map[uint32]map[pkt.MAC]netip.Addr{}}
}

func (f *fakeTunnel) VNIs() map[uint16]uint32 { return map[uint16]uint32{10: 1010, 20: 1020} }
func (f *fakeTunnel) Local() netip.Addr       { return netip.MustParseAddr("10.0.0.5") }
func (f *fakeTunnel) SetFlood(vni uint32, v []netip.Addr) {
	f.flood[vni] = v
}
func (f *fakeTunnel) SetRemoteMAC(vni uint32, mac pkt.MAC, vtep netip.Addr) {
	if f.remote[vni] == nil {
		f.remote[vni] = map[pkt.MAC]netip.Addr{}
	}
	f.remote[vni][mac] = vtep
}
func (f *fakeTunnel) DelRemoteMAC(vni uint32, mac pkt.MAC) { delete(f.remote[vni], mac) }

// speaker is a Speaker without a BGP server: its route building and
// learning, with the peer's routes built by another Speaker's code.
func speaker(t *testing.T, tun Tunnel, router string) *Speaker {
	t.Helper()
	return &Speaker{cfg: Config{ASN: 65001, RouterID: netip.MustParseAddr(router)}, tun: tun,
		vtep: netip.MustParseAddr(router), vnis: tun.VNIs(),
		flood: map[uint32]map[netip.Addr]struct{}{}, remote: map[macKey]map[netip.Addr]netip.Addr{}}
}

func withdraw(p *api.Path) *api.Path { p.IsWithdraw = true; return p }

func TestDecodeRoundTrip(t *testing.T) {
	peer := speaker(t, newFakeTunnel(), "10.0.0.6")
	mac := pkt.MAC{0x52, 0x54, 0, 0, 0, 7}
	r, err := decode(peer.macAdv(1010, mac, netip.Addr{}))
	if err != nil || r.Type != "mac" || r.VNI != 1010 || r.MAC != mac || r.VTEP != netip.MustParseAddr("10.0.0.6") || r.RD != "10.0.0.6:1010" {
		t.Fatalf("type 2: %+v %v", r, err)
	}
	for _, ip := range []string{"192.168.10.7", "fd00::7"} {
		r, err = decode(peer.macAdv(1010, mac, netip.MustParseAddr(ip)))
		if err != nil || r.Type != "mac" || r.MAC != mac || r.IP != netip.MustParseAddr(ip) {
			t.Fatalf("type 2 with %s: %+v %v", ip, r, err)
		}
	}
	r, err = decode(peer.imet(1020))
	if err != nil || r.Type != "imet" || r.VNI != 1020 || r.VTEP != netip.MustParseAddr("10.0.0.6") {
		t.Fatalf("type 3: %+v %v", r, err)
	}
}

// TestLearn: a peer's type-3 routes make flood lists per VNI, its type-2
// routes pin MACs; withdrawals undo them; our own routes, and routes for
// VNIs this tunnel does not carry, change nothing.
func TestLearn(t *testing.T) {
	tun := newFakeTunnel()
	s := speaker(t, tun, "10.0.0.5")
	b, c := speaker(t, newFakeTunnel(), "10.0.0.6"), speaker(t, newFakeTunnel(), "10.0.0.7")
	mac := pkt.MAC{0x52, 0x54, 0, 0, 0, 9}
	s.learn([]*api.Path{b.imet(1010), c.imet(1010), s.imet(1010), b.imet(3030), b.macAdv(1010, mac, netip.Addr{}), s.macAdv(1020, mac, netip.Addr{})})
	want := []netip.Addr{netip.MustParseAddr("10.0.0.6"), netip.MustParseAddr("10.0.0.7")}
	if !slices.Equal(tun.flood[1010], want) || len(tun.flood) != 1 {
		t.Fatalf("flood lists %v, want VNI 1010 -> %v only", tun.flood, want)
	}
	if got := tun.remote[1010][mac]; got != want[0] || len(tun.remote[1020]) != 0 {
		t.Fatalf("remote MACs %v", tun.remote)
	}
	// A withdrawal from another VTEP than the one installed is not ours to undo.
	s.learn([]*api.Path{withdraw(c.macAdv(1010, mac, netip.Addr{}))})
	if tun.remote[1010][mac] != want[0] {
		t.Fatal("a withdrawal from another VTEP removed the MAC")
	}
	s.learn([]*api.Path{withdraw(b.macAdv(1010, mac, netip.Addr{})), withdraw(c.imet(1010))})
	if _, ok := tun.remote[1010][mac]; ok || !slices.Equal(tun.flood[1010], want[:1]) {
		t.Fatalf("after withdrawals: remote %v flood %v", tun.remote, tun.flood)
	}
}

// TestLearnMACWithIP: a peer that sends a MAC both with and without an
// IP (as FRR does once it knows the host's address) keeps the MAC
// installed until its last route goes, whichever goes first.
func TestLearnMACWithIP(t *testing.T) {
	tun := newFakeTunnel()
	s := speaker(t, tun, "10.0.0.5")
	b := speaker(t, newFakeTunnel(), "10.0.0.6")
	mac, ip := pkt.MAC{0x52, 0x54, 0, 0, 0, 9}, netip.MustParseAddr("192.168.10.9")
	vtep := netip.MustParseAddr("10.0.0.6")
	for _, order := range [][2]netip.Addr{{{}, ip}, {ip, {}}} {
		s.learn([]*api.Path{b.macAdv(1010, mac, netip.Addr{}), b.macAdv(1010, mac, ip)})
		s.learn([]*api.Path{withdraw(b.macAdv(1010, mac, order[0]))})
		if tun.remote[1010][mac] != vtep {
			t.Fatalf("withdrawing the route with IP %v removed the MAC while the other stands", order[0])
		}
		s.learn([]*api.Path{withdraw(b.macAdv(1010, mac, order[1]))})
		if _, ok := tun.remote[1010][mac]; ok || len(s.remote) != 0 {
			t.Fatalf("the MAC outlived its last route: %v %v", tun.remote, s.remote)
		}
	}
}

// TestSpeakerAdvertises runs the embedded GoBGP server (no listener, no
// peers): local MACs on VLANs with a VNI become type-2 routes, each VNI a
// type-3 route; a MAC gone from the FDB, or on a VLAN without a VNI, or
// multicast, is not (or no longer) advertised. A MAC whose IP becomes
// known is advertised with it, and its route without it withdrawn.
func TestSpeakerAdvertises(t *testing.T) {
	tun := newFakeTunnel()
	var mu sync.Mutex
	local := []LocalMAC{{VLAN: 10, MAC: pkt.MAC{0x52, 0, 0, 0, 0, 1}}, {VLAN: 20, MAC: pkt.MAC{0x52, 0, 0, 0, 0, 2}},
		{VLAN: 30, MAC: pkt.MAC{0x52, 0, 0, 0, 0, 3}}, {VLAN: 10, MAC: pkt.MAC{0x53, 0, 0, 0, 0, 4}}}
	s, err := Start(Config{ASN: 65001, RouterID: netip.MustParseAddr("10.0.0.5"), Port: -1, Poll: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, tun, func() []LocalMAC {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(local)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	routes := func() []string {
		st, err := s.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range st.Routes {
			out = append(out, fmt.Sprintf("%s %d %s %v %s %v", r.Type, r.VNI, r.MAC, r.IP, r.VTEP, r.Local))
		}
		return out
	}
	want := []string{
		"imet 1010 00:00:00:00:00:00 invalid IP 10.0.0.5 true",
		"mac 1010 52:00:00:00:00:01 invalid IP 10.0.0.5 true",
		"imet 1020 00:00:00:00:00:00 invalid IP 10.0.0.5 true",
		"mac 1020 52:00:00:00:00:02 invalid IP 10.0.0.5 true",
	}
	waitRoutes(t, routes, want)
	mu.Lock()
	local[1].IP = netip.MustParseAddr("192.168.20.2") // its lease is bound
	mu.Unlock()
	want[3] = "mac 1020 52:00:00:00:00:02 192.168.20.2 10.0.0.5 true"
	waitRoutes(t, routes, want)
	mu.Lock()
	local = local[1:] // the VLAN 10 MAC aged out
	mu.Unlock()
	waitRoutes(t, routes, slices.Delete(slices.Clone(want), 1, 2))
}

func waitRoutes(t *testing.T, routes func() []string, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := routes()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("routes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
