package dhcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var gw = netip.MustParsePrefix("10.9.0.1/24")

type msg struct {
	typ       uint8
	mac       pkt.MAC
	ciaddr    netip.Addr
	reqIP     netip.Addr
	serverID  netip.Addr
	clientID  []byte
	broadcast bool
	params    []byte
	hostname  []byte // option 12 as sent, nil: none
	maxSize   uint16 // option 57, 0: none
	xid       uint32 // 0: 0x1234
	giaddr    netip.Addr
	extra     []byte // raw option bytes appended before the end option
}

func (m msg) bytes() pkt.DHCP {
	b := make([]byte, 400+len(m.extra))
	h := pkt.DHCPFields{Op: pkt.BOOTRequest, XID: m.xid, CIAddr: m.ciaddr, GIAddr: m.giaddr, CHAddr: m.mac[:]}
	if h.XID == 0 {
		h.XID = 0x1234
	}
	if m.broadcast {
		h.Flags = pkt.DHCPFlagBroadcast
	}
	pkt.DHCP(b).Encode(&h)
	w := pkt.DHCPOptionWriter{B: b, N: pkt.DHCPOptionsOff}
	w.Add(pkt.OptMessageType, m.typ)
	if m.reqIP.IsValid() {
		w.AddAddr(pkt.OptRequestedIP, m.reqIP)
	}
	if m.serverID.IsValid() {
		w.AddAddr(pkt.OptServerID, m.serverID)
	}
	if m.clientID != nil {
		w.Add(pkt.OptClientID, m.clientID...)
	}
	if m.params != nil {
		w.Add(pkt.OptParamRequest, m.params...)
	}
	if m.hostname != nil {
		w.Add(pkt.OptHostname, m.hostname...)
	}
	if m.maxSize != 0 {
		w.Add(pkt.OptMaxSize, byte(m.maxSize>>8), byte(m.maxSize))
	}
	w.N += copy(b[w.N:len(b)-1], m.extra)
	w.End()
	return pkt.DHCP(b[:w.N])
}

type clock struct{ t time.Time }

func newServer(t *testing.T, cfg Config, store *Store) (*Server, *clock) {
	t.Helper()
	if cfg.Network == "" {
		cfg = Config{Network: "n", Gateway: gw, RangeStart: netip.MustParseAddr("10.9.0.10"),
			RangeEnd: netip.MustParseAddr("10.9.0.12"), Lease: time.Hour,
			DNS: []netip.Addr{gw.Addr()}, Domain: "lab", Router: true, Hosts: cfg.Hosts}
	}
	s := NewServer(cfg, store)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s.now = func() time.Time { return c.t }
	return s, c
}

func mac(b byte) pkt.MAC { return pkt.MAC{0x52, 0x54, 0, 0, 0, b} }

// reply runs m and returns the reply's type and yiaddr.
func reply(t *testing.T, s *Server, m msg) (uint8, netip.Addr, Reply) {
	t.Helper()
	buf := make([]byte, 1500)
	rep, ok := s.Handle(m.bytes(), buf)
	if !ok {
		return 0, netip.Addr{}, rep
	}
	d := pkt.DHCP(rep.Msg)
	if !d.Valid() || d.Op() != pkt.BOOTReply {
		t.Fatal("reply is not a DHCP reply")
	}
	var typ uint8
	it := d.Options()
	for it.Next() {
		if it.Code() == pkt.OptMessageType {
			typ = it.Data()[0]
		}
	}
	return typ, d.YIAddr(), rep
}

// bind does DISCOVER + REQUEST and returns the bound address.
func bind(t *testing.T, s *Server, m pkt.MAC) netip.Addr {
	t.Helper()
	typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: m})
	if typ != pkt.DHCPOffer {
		t.Fatalf("discover from %v: type %d", m, typ)
	}
	typ, got, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: m, reqIP: ip, serverID: gw.Addr()})
	if typ != pkt.DHCPAck || got != ip {
		t.Fatalf("request from %v: type %d ip %v, offered %v", m, typ, got, ip)
	}
	return ip
}

func TestExchangeAndOptions(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	typ, ip, rep := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), broadcast: true, params: []byte{1, 3, 6, 15, 28}})
	if typ != pkt.DHCPOffer || ip != netip.MustParseAddr("10.9.0.10") || !rep.Broadcast {
		t.Fatalf("offer %d %v %+v", typ, ip, rep)
	}
	got := map[uint8][]byte{}
	it := pkt.DHCP(rep.Msg).Options()
	for it.Next() {
		got[it.Code()] = it.Data()
	}
	for _, code := range []uint8{pkt.OptSubnetMask, pkt.OptRouter, pkt.OptDNS, pkt.OptDomain, pkt.OptBroadcast, pkt.OptLeaseTime, pkt.OptRenewalT1, pkt.OptRebindingT2, pkt.OptServerID} {
		if got[code] == nil {
			t.Errorf("option %d missing", code)
		}
	}
	if got[pkt.OptMTU] != nil {
		t.Error("option 26 sent though not configured")
	}
	if binary.BigEndian.Uint32(got[pkt.OptRenewalT1]) != 1800 || binary.BigEndian.Uint32(got[pkt.OptRebindingT2]) != 3150 {
		t.Errorf("T1/T2 %v %v", got[pkt.OptRenewalT1], got[pkt.OptRebindingT2])
	}
	if string(got[pkt.OptBroadcast]) != string([]byte{10, 9, 0, 255}) {
		t.Errorf("broadcast option % x", got[pkt.OptBroadcast])
	}
	// Not requested: not sent.
	_, _, rep = reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), params: []byte{1}})
	it = pkt.DHCP(rep.Msg).Options()
	for it.Next() {
		if it.Code() == pkt.OptDomain {
			t.Fatal("domain sent though not in the parameter request list")
		}
	}
	if !rep.Broadcast && rep.DstMAC != mac(1) {
		t.Fatal("unicast offer not to chaddr")
	}
}

func TestStickyAcrossRestartAndKill(t *testing.T) {
	dir := t.TempDir()
	st, _ := OpenStore(dir)
	s, _ := newServer(t, Config{}, st)
	a, b := bind(t, s, mac(1)), bind(t, s, mac(2))
	// A new process on the same state directory: same addresses, in the
	// order the clients come back, even reversed.
	st2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := newServer(t, Config{}, st2)
	if len(s2.Leases()) != 2 {
		t.Fatalf("leases after restart: %+v", s2.Leases())
	}
	if got := bind(t, s2, mac(2)); got != b {
		t.Fatalf("mac 2 got %v, had %v", got, b)
	}
	if got := bind(t, s2, mac(1)); got != a {
		t.Fatalf("mac 1 got %v, had %v", got, a)
	}
	// INIT-REBOOT after restart: the remembered address is confirmed.
	typ, ip, _ := reply(t, s2, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: a})
	if typ != pkt.DHCPAck || ip != a {
		t.Fatalf("init-reboot %d %v", typ, ip)
	}
}

func TestStaticHostAndExhaustion(t *testing.T) {
	static := netip.MustParseAddr("10.9.0.11") // inside the range
	s, c := newServer(t, Config{Hosts: []Host{{MAC: mac(9), IP: static, Name: "web"}}}, nil)
	got := []netip.Addr{bind(t, s, mac(1)), bind(t, s, mac(2))}
	for _, ip := range got {
		if ip == static {
			t.Fatal("the range handed out a reserved address")
		}
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(3)}); typ != 0 {
		t.Fatalf("exhausted pool answered %d", typ)
	}
	if s.Drops()[DropPoolExhausted] != 1 {
		t.Fatal("exhaustion not counted")
	}
	if ip := bind(t, s, mac(9)); ip != static {
		t.Fatalf("static host got %v", ip)
	}
	// Someone asking for the static address is refused.
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(4), reqIP: static}); typ != pkt.DHCPNak {
		t.Fatalf("request for a reserved address: %d", typ)
	}
	// After expiry, a new client reuses an expired address.
	c.t = c.t.Add(2 * time.Hour)
	if ip := bind(t, s, mac(3)); !ip.IsValid() {
		t.Fatal("no address after expiry")
	}
}

func TestOffersExpireAndDoNotLeak(t *testing.T) {
	s, c := newServer(t, Config{}, nil)
	for i := byte(1); i <= 3; i++ {
		reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(i)})
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)}); typ != 0 {
		t.Fatal("offered past the pool")
	}
	c.t = c.t.Add(2 * OfferHold)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(4)}); typ != pkt.DHCPOffer {
		t.Fatal("untaken offers still hold the pool")
	}
	if n := len(s.byClient); n != 1 {
		t.Fatalf("%d clients remembered, want 1", n)
	}
}

func TestDeclineReleaseNakInform(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	ip := bind(t, s, mac(1))
	// DECLINE: the address is quarantined; the client gets another one.
	reply(t, s, msg{typ: pkt.DHCPDecline, mac: mac(1), reqIP: ip, serverID: gw.Addr()})
	if ip2 := bind(t, s, mac(1)); ip2 == ip {
		t.Fatal("declined address handed out again")
	}
	// Renewal of an address the client does not hold: NAK, broadcast.
	typ, _, rep := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), ciaddr: netip.MustParseAddr("10.9.0.12")})
	if typ != pkt.DHCPNak || !rep.Broadcast {
		t.Fatalf("foreign renewal: %d %+v", typ, rep)
	}
	// A foreign subnet on INIT-REBOOT: NAK.
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: netip.MustParseAddr("172.16.0.5")}); typ != pkt.DHCPNak {
		t.Fatalf("foreign subnet: %d", typ)
	}
	// RELEASE, then INFORM gets options but no address.
	ip3 := bind(t, s, mac(3))
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(3), ciaddr: ip3, serverID: gw.Addr()})
	for _, l := range s.Leases() {
		if l.IP == ip3 && l.State != "released" {
			t.Fatalf("released lease state %q", l.State)
		}
	}
	typ, yi, rep := reply(t, s, msg{typ: pkt.DHCPInform, mac: mac(5), ciaddr: netip.MustParseAddr("10.9.0.200")})
	if typ != pkt.DHCPAck || yi.IsValid() && !yi.IsUnspecified() || rep.DstIP != netip.MustParseAddr("10.9.0.200") {
		t.Fatalf("inform: %d %v %+v", typ, yi, rep)
	}
	// SELECTING another server: no answer, our offer is withdrawn.
	reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(6)})
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(6), reqIP: ip, serverID: netip.MustParseAddr("10.9.0.99")}); typ != 0 {
		t.Fatal("answered a request for another server")
	}
}

func TestClientIDBeforeChaddr(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	id := []byte{0xff, 1, 2, 3, 4}
	typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1), clientID: id})
	reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), clientID: id, reqIP: ip, serverID: gw.Addr()})
	// Same client id from a new MAC (a VM with a new NIC): same address.
	_, ip2, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(7), clientID: id})
	if typ != pkt.DHCPOffer || ip2 != ip {
		t.Fatalf("client id not honoured: %v then %v", ip, ip2)
	}
}

func TestGarbage(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	buf := make([]byte, 1500)
	good := msg{typ: pkt.DHCPDiscover, mac: mac(1)}.bytes()
	cases := map[string][]byte{
		"short":           good[:100],
		"bad cookie":      append(append([]byte{}, good[:236]...), 1, 2, 3, 4, 53, 1, 1, 255),
		"option past end": append(append([]byte{}, good[:240]...), 53, 1, 1, 55, 200, 1),
		"no type":         append(append([]byte{}, good[:240]...), 255),
		"reply op":        func() []byte { b := append([]byte{}, good...); b[0] = 2; return b }(),
	}
	for name, b := range cases {
		if _, ok := s.Handle(pkt.DHCP(b), buf); ok {
			t.Errorf("%s: answered", name)
		}
	}
	d := s.Drops()
	if d[DropMalformed] != 3 || d[DropNoType] != 1 || d[DropNotRequest] != 1 {
		t.Fatalf("drops %v", d)
	}
}

// A reply shorter than the BOOTP minimum is zero-padded to exactly 300
// bytes, whatever the buffer held.
func TestShortReplyPaddedTo300(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	buf := bytes.Repeat([]byte{0xee}, 1500)
	rep, ok := s.Handle(msg{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: netip.MustParseAddr("10.9.0.10")}.bytes(), buf)
	if !ok || fuzzType(rep.Msg) != pkt.DHCPNak || len(rep.Msg) != 300 {
		t.Fatalf("ok %v, type %d, %d bytes", ok, fuzzType(rep.Msg), len(rep.Msg))
	}
	end := bytes.LastIndexByte(rep.Msg, 255) // the end option: nothing after it is an option
	if end < pkt.DHCPOptionsOff || !bytes.Equal(rep.Msg[end+1:], make([]byte, 299-end)) {
		t.Fatalf("padding % x", rep.Msg[end+1:])
	}
	if buf[300] != 0xee {
		t.Fatal("padded past 300 bytes")
	}
}

func TestDropReasonLabels(t *testing.T) {
	want := []string{"malformed", "not_request", "no_type", "pool_exhausted", "other_server", "store_failed", "store_busy",
		"rate_limited", "mac_lease_limit", "not_holder", "decline_out_of_range", "giaddr_foreign"}
	for i, w := range want {
		if got := DropReason(i).String(); got != w {
			t.Errorf("DropReason(%d) = %q, want %q", i, got, w)
		}
	}
	if len(want) != int(NumDrops) || NumDrops.String() != "unknown" {
		t.Errorf("%d reasons, NumDrops = %q", NumDrops, NumDrops.String())
	}
}
