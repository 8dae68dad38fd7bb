package dhcp6

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	prefix  = netip.MustParsePrefix("fd00:122::/64")
	gwMAC   = pkt.MAC{0x52, 0x54, 0, 0, 0, 1}
	rStart  = netip.MustParseAddr("fd00:122::100")
	rEnd    = netip.MustParseAddr("fd00:122::103")
	dnsAddr = netip.MustParseAddr("fd00:122::1")
)

func testConfig() Config {
	return Config{Network: "lab", Prefix: prefix, MAC: gwMAC, RangeStart: rStart, RangeEnd: rEnd,
		Lease: time.Hour, DNS: []netip.Addr{dnsAddr}, Domain: "lab.example"}
}

// unlimitedServer is a server of testConfig without a store whose clock
// moves a second on each time it is read: past the rate limit, so a
// loop of messages is never rate limited.
func unlimitedServer() *Server {
	s := NewServer(testConfig(), nil)
	now := time.Unix(1e9, 0)
	s.now = func() time.Time { now = now.Add(time.Second); return now }
	return s
}

// client is a DHCPv6 client: a MAC, a DUID-LL from it, one IA_NA.
type client struct {
	mac  pkt.MAC
	duid []byte
	iaid uint32
	ll   netip.Addr
}

func newClient(n byte) client {
	mac := pkt.MAC{0x52, 0x54, 0, 0, 1, n}
	return client{mac: mac, duid: append([]byte{0, 3, 0, 1}, mac[:]...), iaid: uint32(n), ll: pkt.LinkLocalFromMAC(mac)}
}

func (c client) from() From { return From{MAC: c.mac, Src: c.ll} }

// msgOpts are what a test message carries beyond its type.
type msgOpts struct {
	xid      uint32
	serverID []byte
	noClient bool
	noIA     bool
	addr     netip.Addr // in the IA_NA
	rapid    bool
}

func (c client) msg(typ uint8, o msgOpts) pkt.DHCPv6 {
	w := pkt.DHCPv6Writer{B: make([]byte, 512)}
	if o.xid == 0 {
		o.xid = 0xabcdef
	}
	w.Header(typ, o.xid)
	if !o.noClient {
		w.Option(pkt.DHCPv6OptClientID, c.duid)
	}
	if o.serverID != nil {
		w.Option(pkt.DHCPv6OptServerID, o.serverID)
	}
	w.Option(pkt.DHCPv6OptElapsedTime, []byte{0, 0})
	if o.rapid {
		w.Option(pkt.DHCPv6OptRapidCommit, nil)
	}
	if !o.noIA {
		at := w.Begin(pkt.DHCPv6OptIANA)
		w.U32(c.iaid)
		w.U32(0)
		w.U32(0)
		if o.addr.IsValid() {
			ad := w.Begin(pkt.DHCPv6OptIAAddr)
			w.Addr(o.addr)
			w.U32(0)
			w.U32(0)
			w.End(ad)
		}
		w.End(at)
	}
	return pkt.DHCPv6(w.B[:w.N])
}

// answer is what a test reads from a reply.
type answer struct {
	typ      uint8
	xid      uint32
	clientID []byte
	serverID []byte
	status   int // top level; -1 absent
	iaStatus int // -1 absent
	iaid     uint32
	addr     netip.Addr
	valid    uint32
	t1, t2   uint32
	dns      []netip.Addr
	domain   []byte
	rapid    bool
	pref     int
}

func parseReply(t *testing.T, b []byte) answer {
	t.Helper()
	m := pkt.DHCPv6(b)
	if !m.Valid() || !m.Options().Valid() {
		t.Fatalf("reply does not parse: %x", b)
	}
	a := answer{typ: m.Type(), xid: m.TransactionID(), status: -1, iaStatus: -1, pref: -1}
	it := m.Options().Iter()
	for it.Next() {
		d := it.Data()
		switch it.Code() {
		case pkt.DHCPv6OptClientID:
			a.clientID = d
		case pkt.DHCPv6OptServerID:
			a.serverID = d
		case pkt.DHCPv6OptStatusCode:
			a.status = int(d[0])<<8 | int(d[1])
		case pkt.DHCPv6OptRapidCommit:
			a.rapid = true
		case pkt.DHCPv6OptPreference:
			a.pref = int(d[0])
		case pkt.DHCPv6OptDNSServers:
			for i := 0; i+16 <= len(d); i += 16 {
				a.dns = append(a.dns, netip.AddrFrom16([16]byte(d[i:i+16])))
			}
		case pkt.DHCPv6OptDomainList:
			a.domain = d
		case pkt.DHCPv6OptIANA:
			ia := pkt.DHCPv6IANA(d)
			a.iaid, a.t1, a.t2 = ia.IAID(), ia.T1(), ia.T2()
			in := ia.Options().Iter()
			for in.Next() {
				switch in.Code() {
				case pkt.DHCPv6OptIAAddr:
					ad := pkt.DHCPv6IAAddr(in.Data())
					a.addr, a.valid = ad.Addr(), ad.ValidLifetime()
				case pkt.DHCPv6OptStatusCode:
					a.iaStatus = int(in.Data()[0])<<8 | int(in.Data()[1])
				}
			}
		}
	}
	return a
}

// exchange sends m and returns the reply, failing when there is none.
func exchange(t *testing.T, s *Server, c client, m pkt.DHCPv6) answer {
	t.Helper()
	rep, ok := s.Handle(m, c.from(), make([]byte, 1500))
	if !ok {
		t.Fatalf("no reply to type %d; drops %v", m.Type(), s.Drops())
	}
	if rep.DstMAC != c.mac || rep.Dst != c.ll {
		t.Fatalf("reply to %v %v, want %v %v", rep.DstMAC, rep.Dst, c.mac, c.ll)
	}
	return parseReply(t, rep.Msg)
}

// bind runs SOLICIT and REQUEST and returns the address.
func bind(t *testing.T, s *Server, c client) netip.Addr {
	t.Helper()
	adv := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{}))
	rep := exchange(t, s, c, c.msg(pkt.DHCPv6Request, msgOpts{serverID: adv.serverID, addr: adv.addr}))
	if rep.typ != pkt.DHCPv6Reply || rep.addr != adv.addr || rep.valid != 3600 {
		t.Fatalf("REQUEST: %+v, advertised %v", rep, adv.addr)
	}
	return rep.addr
}

func openStore(t *testing.T, dir string) *dhcp.Store {
	t.Helper()
	st, err := dhcp.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
