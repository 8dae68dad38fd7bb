package evpn

import (
	"net/netip"
	"slices"
	"testing"

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
		flood: map[uint32]map[netip.Addr]struct{}{}, remote: map[macKey]netip.Addr{}}
}

func withdraw(p *api.Path) *api.Path { p.IsWithdraw = true; return p }

func TestDecodeRoundTrip(t *testing.T) {
	peer := speaker(t, newFakeTunnel(), "10.0.0.6")
	mac := pkt.MAC{0x52, 0x54, 0, 0, 0, 7}
	r, err := decode(peer.macAdv(1010, mac))
	if err != nil || r.Type != "mac" || r.VNI != 1010 || r.MAC != mac || r.VTEP != netip.MustParseAddr("10.0.0.6") || r.RD != "10.0.0.6:1010" {
		t.Fatalf("type 2: %+v %v", r, err)
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
	s.learn([]*api.Path{b.imet(1010), c.imet(1010), s.imet(1010), b.imet(3030), b.macAdv(1010, mac), s.macAdv(1020, mac)})
	want := []netip.Addr{netip.MustParseAddr("10.0.0.6"), netip.MustParseAddr("10.0.0.7")}
	if !slices.Equal(tun.flood[1010], want) || len(tun.flood) != 1 {
		t.Fatalf("flood lists %v, want VNI 1010 -> %v only", tun.flood, want)
	}
	if got := tun.remote[1010][mac]; got != want[0] || len(tun.remote[1020]) != 0 {
		t.Fatalf("remote MACs %v", tun.remote)
	}
	// A withdrawal from another VTEP than the one installed is not ours to undo.
	s.learn([]*api.Path{withdraw(c.macAdv(1010, mac))})
	if tun.remote[1010][mac] != want[0] {
		t.Fatal("a withdrawal from another VTEP removed the MAC")
	}
	s.learn([]*api.Path{withdraw(b.macAdv(1010, mac)), withdraw(c.imet(1010))})
	if _, ok := tun.remote[1010][mac]; ok || !slices.Equal(tun.flood[1010], want[:1]) {
		t.Fatalf("after withdrawals: remote %v flood %v", tun.remote, tun.flood)
	}
}
