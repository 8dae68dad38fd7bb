package evpn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Config is the BGP speaker: the top-level `bgp:` config key.
type Config struct {
	ASN       uint32
	RouterID  netip.Addr
	Port      int32 // TCP port to listen on; 0: 179; -1: do not listen (only connect)
	Neighbors []Neighbor
	Log       *slog.Logger
	// Poll is how often local MACs are compared with what was advertised;
	// 0: one second.
	Poll time.Duration
}

// Neighbor is one BGP peer.
type Neighbor struct {
	Address netip.Addr
	ASN     uint32
	Port    uint16 // 0: 179
}

// Tunnel is a vxlan port the routes steer: its VLAN to VNI map, its own
// VTEP address, and the remote VTEPs and MACs the routes name.
type Tunnel interface {
	VNIs() map[uint16]uint32
	Local() netip.Addr
	SetFlood(vni uint32, vteps []netip.Addr)
	SetRemoteMAC(vni uint32, mac pkt.MAC, vtep netip.Addr)
	DelRemoteMAC(vni uint32, mac pkt.MAC)
}

// LocalMAC is an address learned on one of the switch's own ports (not a
// tunnel), on a VLAN: what this host advertises. IP, when valid, is the
// address the host is known to hold (a DHCP lease, a gateway's own): the
// route then carries it, so peers can answer ARP for it (RFC 7432 7.2).
// A MAC with several addresses is one LocalMAC per address.
type LocalMAC struct {
	VLAN uint16
	MAC  pkt.MAC
	IP   netip.Addr
}

// Speaker runs an embedded GoBGP server for EVPN: it advertises the local
// MACs (route type 2) and this VTEP's membership of each VNI (type 3,
// ingress replication), and installs what the peers advertise into the
// tunnel: remote MACs pinned to their VTEP, flood lists per VNI.
type Speaker struct {
	cfg    Config
	bgp    *server.BgpServer
	tun    Tunnel
	local  func() []LocalMAC
	vtep   netip.Addr
	vnis   map[uint16]uint32  // VLAN -> VNI
	cancel context.CancelFunc // ends the watch
	quit   chan struct{}      // ends poll
	done   chan struct{}      // poll has returned
	once   sync.Once

	mu    sync.Mutex
	adv   map[LocalMAC]*api.Path             // what we advertised, for withdrawal
	flood map[uint32]map[netip.Addr]struct{} // VNI -> remote VTEPs from type-3 routes
	// remote are the peers' type-2 routes by MAC, then by the IP they
	// carry (the zero Addr: none), to the VTEP each names. A MAC is
	// installed while any of its routes stands: a peer may send one with
	// and one without an IP, and withdraw them apart.
	remote map[macKey]map[netip.Addr]netip.Addr
}

type macKey struct {
	vni uint32
	mac pkt.MAC
}

// Start starts the speaker. local lists the switch's own MACs; it is
// called every Poll, off the frame path.
func Start(cfg Config, tun Tunnel, local func() []LocalMAC) (*Speaker, error) {
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	vtep := tun.Local()
	if !vtep.IsValid() || vtep.IsUnspecified() {
		vtep = cfg.RouterID // the VTEP is the router ID unless the port says otherwise
	}
	s := &Speaker{
		cfg: cfg, tun: tun, local: local, vtep: vtep, vnis: tun.VNIs(),
		bgp:    server.NewBgpServer(server.LoggerOption(&logger{l: cfg.Log})),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		adv:    map[LocalMAC]*api.Path{},
		flood:  map[uint32]map[netip.Addr]struct{}{},
		remote: map[macKey]map[netip.Addr]netip.Addr{},
	}
	go s.bgp.Serve()
	port := cfg.Port
	if port == 0 {
		port = bgp.BGP_PORT
	}
	ctx := context.Background()
	if err := s.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: port,
	}}); err != nil {
		s.bgp.Stop()
		return nil, fmt.Errorf("bgp: %w", err)
	}
	// Watch before peering, so no best path goes by unseen.
	wctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	err := s.bgp.WatchEvent(wctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true}},
	}}, func(r *api.WatchEventResponse) {
		if t := r.GetTable(); t != nil {
			s.learn(t.Paths)
		}
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("bgp: watch: %w", err)
	}
	for _, n := range cfg.Neighbors {
		if err := s.bgp.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(n)}); err != nil {
			s.Close()
			return nil, fmt.Errorf("bgp: neighbor %s: %w", n.Address, err)
		}
	}
	for _, vni := range s.vnis {
		if _, err := s.bgp.AddPath(ctx, &api.AddPathRequest{Path: s.imet(vni)}); err != nil {
			s.Close()
			return nil, fmt.Errorf("bgp: VNI %d: %w", vni, err)
		}
	}
	go s.poll()
	return s, nil
}

func peer(n Neighbor) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{
			Family: &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}, Enabled: true,
		}}},
		// Short timers: a lab comes up in seconds, not in GoBGP's default
		// two minutes of connect retry.
		Timers: &api.Timers{Config: &api.TimersConfig{ConnectRetry: 2, HoldTime: 9, KeepaliveInterval: 3}},
	}
	if n.Port != 0 {
		p.Transport = &api.Transport{RemotePort: uint32(n.Port)}
	}
	return p
}

// rd is this host's route distinguisher for a VNI (type 1: router ID and
// a number), as FRR derives it.
func (s *Speaker) rd(vni uint32) bgp.RouteDistinguisherInterface {
	return bgp.NewRouteDistinguisherIPAddressAS(s.cfg.RouterID.String(), uint16(vni))
}

// attrs are the attributes every route of vni carries: origin, the VTEP
// as next hop, the route target ASN:VNI (FRR's automatic one) and the
// VXLAN encapsulation (RFC 9012).
func (s *Speaker) attrs(vni uint32, nlri bgp.AddrPrefixInterface) []bgp.PathAttributeInterface {
	return []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(s.vtep.String(), []bgp.AddrPrefixInterface{nlri}),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(s.cfg.ASN), vni, true),
			bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN),
		}),
	}
}

// imet is the type-3 route: this VTEP takes the VNI's flooded frames.
func (s *Speaker) imet(vni uint32) *api.Path {
	nlri := bgp.NewEVPNNLRI(bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG, &bgp.EVPNMulticastEthernetTagRoute{
		RD: s.rd(vni), IPAddressLength: 32, IPAddress: net.IP(s.vtep.AsSlice()),
	})
	attrs := append(s.attrs(vni, nlri), bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni,
		bgp.NewIngressReplTunnelID(s.vtep.String())))
	p, _ := apiutil.NewPath(nlri, false, attrs, time.Now())
	return p
}

// macAdv is the type-2 route for a local MAC, with its IP when ip is
// valid.
func (s *Speaker) macAdv(vni uint32, mac pkt.MAC, ip netip.Addr) *api.Path {
	r := &bgp.EVPNMacIPAdvertisementRoute{
		RD: s.rd(vni), ESI: bgp.EthernetSegmentIdentifier{Type: bgp.ESI_ARBITRARY},
		MacAddressLength: 48, MacAddress: net.HardwareAddr(mac[:]), Labels: []uint32{vni},
	}
	if ip.IsValid() {
		r.IPAddressLength, r.IPAddress = uint8(ip.BitLen()), net.IP(ip.AsSlice())
	}
	nlri := bgp.NewEVPNNLRI(bgp.EVPN_ROUTE_TYPE_MAC_IP_ADVERTISEMENT, r)
	p, _ := apiutil.NewPath(nlri, false, s.attrs(vni, nlri), time.Now())
	return p
}

// poll advertises new local MACs and withdraws the ones gone (aged out,
// or their port removed).
func (s *Speaker) poll() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.sync()
		select {
		case <-t.C:
		case <-s.quit:
			return
		}
	}
}

func (s *Speaker) sync() {
	want := map[LocalMAC]uint32{}
	for _, m := range s.local() {
		if vni, ok := s.vnis[m.VLAN]; ok && !m.MAC.IsMulticast() {
			want[m] = vni
		}
	}
	ctx := context.Background()
	s.mu.Lock()
	defer s.mu.Unlock()
	for m, vni := range want {
		if _, ok := s.adv[m]; ok {
			continue
		}
		p := s.macAdv(vni, m.MAC, m.IP)
		if _, err := s.bgp.AddPath(ctx, &api.AddPathRequest{Path: p}); err != nil {
			s.cfg.Log.Warn("evpn: advertising a MAC", "mac", m.MAC, "ip", m.IP, "vni", vni, "err", err)
			continue
		}
		s.adv[m] = p
	}
	for m, p := range s.adv {
		if _, ok := want[m]; !ok {
			if err := s.bgp.DeletePath(ctx, &api.DeletePathRequest{Path: p}); err != nil {
				s.cfg.Log.Warn("evpn: withdrawing a MAC", "mac", m.MAC, "err", err)
			}
			delete(s.adv, m)
		}
	}
}

// learn installs the best paths GoBGP reports (and removes withdrawn
// ones). Our own routes come back too: their VTEP is ours, skipped.
func (s *Speaker) learn(paths []*api.Path) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := map[uint32]bool{}
	for _, p := range paths {
		r, err := decode(p)
		if err != nil || r.VTEP == s.vtep || !s.carries(r.VNI) {
			continue
		}
		switch r.Type {
		case "mac":
			s.learnMAC(r, p.IsWithdraw)
		case "imet":
			set := s.flood[r.VNI]
			if set == nil {
				set = map[netip.Addr]struct{}{}
				s.flood[r.VNI] = set
			}
			if p.IsWithdraw {
				delete(set, r.VTEP)
			} else {
				set[r.VTEP] = struct{}{}
			}
			changed[r.VNI] = true
		}
	}
	for vni := range changed {
		var list []netip.Addr
		for a := range s.flood[vni] {
			list = append(list, a)
		}
		slices.SortFunc(list, netip.Addr.Compare)
		s.tun.SetFlood(vni, list)
	}
}

// learnMAC installs or withdraws one type-2 route. The MAC leaves the
// tunnel with its last route; while others stand it stays, behind the
// VTEP of one of them.
func (s *Speaker) learnMAC(r Route, withdraw bool) {
	k := macKey{r.VNI, r.MAC}
	routes := s.remote[k]
	if !withdraw {
		if routes == nil {
			routes = map[netip.Addr]netip.Addr{}
			s.remote[k] = routes
		}
		routes[r.IP] = r.VTEP
		s.tun.SetRemoteMAC(r.VNI, r.MAC, r.VTEP)
		return
	}
	if vtep, ok := routes[r.IP]; !ok || vtep != r.VTEP {
		return // not the route we hold (a stale withdrawal of a moved MAC)
	}
	delete(routes, r.IP)
	if len(routes) == 0 {
		delete(s.remote, k)
		s.tun.DelRemoteMAC(r.VNI, r.MAC)
		return
	}
	for _, v := range routes { // another route stands: the MAC stays, behind its VTEP
		s.tun.SetRemoteMAC(r.VNI, r.MAC, v)
		break
	}
}

func (s *Speaker) carries(vni uint32) bool {
	for _, v := range s.vnis {
		if v == vni {
			return true
		}
	}
	return false
}

// Route is one EVPN route in the speaker's table.
type Route struct {
	Type  string // "mac" (type 2) or "imet" (type 3)
	VNI   uint32
	MAC   pkt.MAC    // type 2
	IP    netip.Addr // type 2, when the route carries one
	VTEP  netip.Addr
	RD    string
	Local bool // ours
}

// decode reads the parts of an EVPN path we use. Routes of other types
// (Ethernet segments, IP prefixes) are an error: not for a layer-2 VTEP.
func decode(p *api.Path) (Route, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return Route{}, err
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return Route{}, err
	}
	var r Route
	var label uint32
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			r.VTEP, _ = netip.AddrFromSlice(a.Nexthop)
		case *bgp.PathAttributeNextHop:
			r.VTEP, _ = netip.AddrFromSlice(a.Value)
		case *bgp.PathAttributePmsiTunnel:
			label = a.Label
			if id, ok := a.TunnelID.(*bgp.IngressReplTunnelID); ok {
				if v, ok := netip.AddrFromSlice(id.Value); ok {
					r.VTEP = v
				}
			}
		}
	}
	r.VTEP = r.VTEP.Unmap()
	e, ok := nlri.(*bgp.EVPNNLRI)
	if !ok {
		return Route{}, fmt.Errorf("not an EVPN route: %T", nlri)
	}
	switch d := e.RouteTypeData.(type) {
	case *bgp.EVPNMacIPAdvertisementRoute:
		if len(d.Labels) == 0 || len(d.MacAddress) != 6 {
			return Route{}, fmt.Errorf("type 2 route without a label or a MAC")
		}
		r.Type, r.VNI, r.MAC, r.RD = "mac", d.Labels[0], pkt.MAC(d.MacAddress), d.RD.String()
		if ip, ok := netip.AddrFromSlice(d.IPAddress); ok {
			r.IP = ip.Unmap()
		}
	case *bgp.EVPNMulticastEthernetTagRoute:
		r.Type, r.VNI, r.RD = "imet", label, d.RD.String()
		if label == 0 {
			r.VNI = d.ETag // no PMSI label: the Ethernet tag names the VNI (VLAN-aware bundles)
		}
	default:
		return Route{}, fmt.Errorf("EVPN route type %d is not used here", e.RouteType)
	}
	if !r.VTEP.IsValid() {
		return Route{}, fmt.Errorf("route without a next hop")
	}
	return r, nil
}

// Session is one neighbor's state.
type Session struct {
	Neighbor netip.Addr
	ASN      uint32
	State    string // idle, connect, active, opensent, openconfirm, established
	Uptime   time.Duration
}

// Status is what `vswitch show evpn` prints.
type Status struct {
	ASN      uint32
	RouterID netip.Addr
	VTEP     netip.Addr
	VNIs     map[uint16]uint32
	Sessions []Session
	Routes   []Route
}

// Status reads the sessions and the EVPN table.
func (s *Speaker) Status(ctx context.Context) (Status, error) {
	st := Status{ASN: s.cfg.ASN, RouterID: s.cfg.RouterID, VTEP: s.vtep, VNIs: s.vnis}
	err := s.bgp.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		ses := Session{ASN: p.GetConf().GetPeerAsn(), State: "idle"}
		ses.Neighbor, _ = netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if ps := p.GetState(); ps != nil {
			ses.State = sessionState(ps.SessionState)
		}
		if up := p.GetTimers().GetState().GetUptime(); up != nil && ses.State == "established" {
			ses.Uptime = time.Since(up.AsTime()).Truncate(time.Second)
		}
		st.Sessions = append(st.Sessions, ses)
	})
	if err != nil {
		return st, err
	}
	err = s.bgp.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL,
		Family: &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if !p.Best {
				continue
			}
			if r, err := decode(p); err == nil {
				r.Local = r.VTEP == s.vtep
				st.Routes = append(st.Routes, r)
			}
		}
	})
	sort.Slice(st.Sessions, func(i, j int) bool { return st.Sessions[i].Neighbor.Less(st.Sessions[j].Neighbor) })
	sort.Slice(st.Routes, func(i, j int) bool {
		a, b := st.Routes[i], st.Routes[j]
		if a.VNI != b.VNI {
			return a.VNI < b.VNI
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.MAC != b.MAC {
			return a.MAC.Uint64() < b.MAC.Uint64()
		}
		return a.VTEP.Less(b.VTEP)
	})
	return st, err
}

func sessionState(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_CONNECT:
		return "connect"
	case api.PeerState_ACTIVE:
		return "active"
	case api.PeerState_OPENSENT:
		return "opensent"
	case api.PeerState_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_ESTABLISHED:
		return "established"
	}
	return "idle"
}

// Close stops the speaker: peers are told (a NOTIFICATION), and the
// routes it installed are left to the tunnel's owner to drop with it.
func (s *Speaker) Close() error {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		close(s.quit)
		s.bgp.StopBgp(context.Background(), &api.StopBgpRequest{})
		s.bgp.Stop()
	})
	return nil
}
