package autoconf6

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// msgView reads a client message the way a server does.
type msgView struct {
	typ      uint8
	xid      uint32
	client   []byte
	server   []byte
	iaid     uint32
	hasIA    bool
	iaAddr   netip.Addr
	oro      []uint16
	elapsed  int
	hasElaps bool
}

func readMsg(t *testing.T, s sent) msgView {
	t.Helper()
	if s.dhcp == nil || s.src != myLL || s.dst != pkt.IPv6AllDHCP {
		t.Fatalf("not a DHCPv6 message from the link-local address: %+v", s)
	}
	m := s.dhcp
	v := msgView{typ: m.Type(), xid: m.TransactionID(), elapsed: -1}
	it := m.Options().Iter()
	for it.Next() {
		d := it.Data()
		switch it.Code() {
		case pkt.DHCPv6OptClientID:
			v.client = d
		case pkt.DHCPv6OptServerID:
			v.server = d
		case pkt.DHCPv6OptIANA:
			ia := pkt.DHCPv6IANA(d)
			v.hasIA, v.iaid = true, ia.IAID()
			if ia.T1() != 0 || ia.T2() != 0 {
				t.Fatalf("client's T1/T2 %d %d", ia.T1(), ia.T2())
			}
			for o := ia.Options().Iter(); o.Next(); {
				if o.Code() == pkt.DHCPv6OptIAAddr {
					v.iaAddr = pkt.DHCPv6IAAddr(o.Data()).Addr()
				}
			}
		case pkt.DHCPv6OptORO:
			for i := 0; i+1 < len(d); i += 2 {
				v.oro = append(v.oro, binary.BigEndian.Uint16(d[i:]))
			}
		case pkt.DHCPv6OptElapsedTime:
			v.elapsed = int(binary.BigEndian.Uint16(d))
		}
	}
	if it.Malformed() || !bytes.Equal(v.client, []byte{0, 3, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56}) {
		t.Fatalf("malformed, or client id %x", v.client)
	}
	return v
}

// managed brings a harness to a SOLICIT sent after an RA with M (and an
// on-link prefix without A, as dnsmasq sends for a range).
func managed(t *testing.T) (*harness, msgView) {
	h := newHarness(t)
	h.ready()
	h.c.Handle(ra(pkt.NDPRAManaged|pkt.NDPRAOther, 1800, optPrefix(netip.MustParsePrefix("2001:db8:77::/64"), pkt.NDPPrefixOnLink, 3600, 3600)))
	h.at(1*time.Second + time.Microsecond) // begins; the random delay is 232 ns
	h.at(1*time.Second + 2*time.Microsecond)
	sol := readMsg(t, h.one())
	if sol.typ != pkt.DHCPv6Solicit || sol.xid != testXID || !sol.hasIA || sol.iaid != 0x00123456 || sol.iaAddr.IsValid() ||
		!slices.Equal(sol.oro, []uint16{23, 24}) || sol.elapsed != 0 || sol.server != nil {
		t.Fatalf("solicit %+v", sol)
	}
	return h, sol
}

// bind runs ADVERTISE (preference 255), REQUEST, REPLY and DAD.
func bind(t *testing.T) *harness {
	h, _ := managed(t)
	adv := advertise()
	if !h.c.Handle(h.dhcpFrame(adv)) {
		t.Fatal("advertise not taken")
	}
	req := readMsg(t, h.one())
	if req.typ != pkt.DHCPv6Request || req.xid != testXID || !bytes.Equal(req.server, serverID) || req.iaAddr != leaseAddr ||
		!slices.Equal(req.oro, []uint16{23, 24}) || req.elapsed != 0 {
		t.Fatalf("request %+v", req)
	}
	h.c.Handle(h.dhcpFrame(reply(pkt.DHCPv6Reply, testXID)))
	p := h.one()
	if p.icmpType != pkt.ICMPv6NeighSolicit || p.target != leaseAddr || p.src != netip.IPv6Unspecified() {
		t.Fatalf("DAD probe %+v", p)
	}
	if h.c.State().Addr.IsValid() {
		t.Fatal("lease published during DAD")
	}
	h.after(time.Second)
	return h
}

// TestDHCPv6Stateful: the whole life of a lease: bound with the server's
// lifetimes and DNS, RENEW at T1, REBIND at T2, gone when it ends, then
// a new SOLICIT.
func TestDHCPv6Stateful(t *testing.T) {
	h := bind(t)
	bound := t0.Add(1*time.Second + 2*time.Microsecond) // when the REPLY came
	s := h.c.State()
	if s.Addr != netip.MustParsePrefix("2001:db8:77::150/64") || s.Source != SourceDHCPv6 || !s.OnLink ||
		!s.ValidUntil.Equal(bound.Add(3600*time.Second)) || !s.PreferredUntil.Equal(bound.Add(3600*time.Second)) || fmt.Sprint(s.DNS) != "[2001:db8::53]" {
		t.Fatalf("state %+v", s)
	}
	if e := h.c.Events(); e[EventDHCP6Bound] != 1 {
		t.Fatalf("events %v", e)
	}
	// Nothing until T1 (1800 s).
	h.now = bound.Add(1800*time.Second - time.Nanosecond)
	h.c.Tick(h.now)
	if o := h.take(); len(o) != 0 {
		t.Fatalf("%d frames before T1", len(o))
	}
	h.now = bound.Add(1800 * time.Second)
	h.c.Tick(h.now)
	ren := readMsg(t, h.one())
	if ren.typ != pkt.DHCPv6Renew || !bytes.Equal(ren.server, serverID) || ren.iaAddr != leaseAddr || ren.elapsed != 0 {
		t.Fatalf("renew %+v", ren)
	}
	// RENEW retransmits at 10 s, then 20 s later, until T2 (2880 s).
	var times []time.Duration
	for d := 1801 * time.Second; d <= 2880*time.Second; d += time.Second {
		h.now = bound.Add(d)
		h.c.Tick(h.now)
		for _, f := range h.take() {
			m := readMsg(t, decode(t, f))
			times = append(times, d)
			if d == 2880*time.Second {
				if m.typ != pkt.DHCPv6Rebind || m.server != nil || m.iaAddr != leaseAddr || m.elapsed != 0 {
					t.Fatalf("rebind %+v", m)
				}
			} else if m.typ != pkt.DHCPv6Renew || m.xid != ren.xid || m.elapsed != int((d-1800*time.Second)/(10*time.Millisecond)) {
				t.Fatalf("at %v: %+v", d, m)
			}
		}
	}
	want := []time.Duration{1810, 1830, 1870, 1950, 2110, 2430, 2880}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(times, want) {
		t.Fatalf("renew/rebind at %v, want %v", times, want)
	}
	// A REBIND's REPLY extends the lease.
	h.c.Handle(h.dhcpFrame(reply(pkt.DHCPv6Reply, testXID+1)))
	if d := h.drops(); fmt.Sprint(d) != "map[dhcp6_not_ours:1]" {
		t.Fatalf("a reply to another transaction: drops %v", d)
	}
	h.c.Handle(h.dhcpFrame(reply(pkt.DHCPv6Reply, testXID)))
	if s := h.c.State(); !s.ValidUntil.Equal(h.now.Add(3600*time.Second)) || h.c.Events()[EventDHCP6Renewed] != 1 {
		t.Fatalf("after the rebind's reply: %+v, events %v", s, h.c.Events())
	}
	if o := h.take(); len(o) != 0 {
		t.Fatalf("%d frames: the same address is not probed again", len(o))
	}
	// Unanswered to the end of the lease: the address goes, SOLICIT again.
	end := h.now.Add(3600 * time.Second)
	for h.now.Before(end) {
		if h.now = h.c.Tick(h.now); h.now.After(end) {
			h.now = end
		}
	}
	h.c.Tick(end)
	h.take()
	if s := h.c.State(); s.Addr.IsValid() || h.c.Events()[EventAddrExpired] != 1 {
		t.Fatalf("after the lease's end: %+v", s)
	}
	h.now = end.Add(time.Microsecond)
	h.c.Tick(h.now)
	if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6Solicit {
		t.Fatalf("after the lease: %+v", m)
	}
}

// TestSolicitRetransmit: SOLICIT backs off from 1.1 s doubling to 3600 s
// (jitter 0 here); an ADVERTISE with a low preference waits for the
// first RT to end, a later one is requested at once.
func TestSolicitRetransmit(t *testing.T) {
	h, _ := managed(t)
	start := h.now
	var gaps []time.Duration
	last := start
	for range 14 {
		h.now = h.c.Tick(h.now)
		h.c.Tick(h.now)
		for _, f := range h.take() {
			if m := readMsg(t, decode(t, f)); m.typ != pkt.DHCPv6Solicit {
				t.Fatalf("%+v", m)
			}
			gaps = append(gaps, h.now.Sub(last))
			last = h.now
		}
	}
	rt := 1000100 * time.Microsecond // IRT + 0.0001 IRT: strictly more than IRT
	var want []time.Duration
	for ; rt < 3600*time.Second && len(want) < len(gaps); rt *= 2 {
		want = append(want, rt)
	}
	for len(want) < len(gaps) {
		want = append(want, 3600*time.Second)
	}
	if !slices.Equal(gaps, want) {
		t.Fatalf("gaps %v\nwant %v", gaps, want)
	}

	// A new client: an ADVERTISE of preference 10 waits for the first RT.
	h, _ = managed(t)
	adv := reply(pkt.DHCPv6Advertise, testXID)
	adv.pref = 10
	h.c.Handle(h.dhcpFrame(adv))
	if o := h.take(); len(o) != 0 {
		t.Fatal("requested before the first RT ended")
	}
	h.after(1000100 * time.Microsecond)
	if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6Request || m.iaAddr != leaseAddr {
		t.Fatalf("%+v", m)
	}
}

// TestRequestGivesUp: ten REQUESTs unanswered (REQ_MAX_RC), then SOLICIT
// again.
func TestRequestGivesUp(t *testing.T) {
	h, _ := managed(t)
	adv := advertise()
	h.c.Handle(h.dhcpFrame(adv))
	var types []uint8
	for range 1000 {
		h.now = h.c.Tick(h.now)
		for _, f := range h.take() {
			types = append(types, readMsg(t, decode(t, f)).typ)
		}
		if len(types) > 0 && types[len(types)-1] == pkt.DHCPv6Solicit {
			break
		}
	}
	want := append(slices.Repeat([]uint8{pkt.DHCPv6Request}, 10), pkt.DHCPv6Solicit)
	if !slices.Equal(types, want) { // REQ_MAX_RC: the first went at the ADVERTISE
		t.Fatalf("sent %v, want %v", types, want)
	}
}

// TestDHCPv6Refused: replies the client must not take, each counted,
// and the exchange still binds afterwards (positive control).
func TestDHCPv6Refused(t *testing.T) {
	other := []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7}
	for _, c := range []struct {
		name   string
		mod    func(h *harness, s *srv) []byte // nil result: h.dhcpFrame(*s)
		reason string
	}{
		{"wrong xid", func(h *harness, s *srv) []byte { s.xid++; return nil }, "dhcp6_not_ours"},
		{"other client", func(h *harness, s *srv) []byte { s.client = other; return nil }, "dhcp6_not_ours"},
		{"no server id", func(h *harness, s *srv) []byte { s.server = []byte{}; return nil }, "bad_dhcp6"},
		{"reply to solicit", func(h *harness, s *srv) []byte { s.typ = pkt.DHCPv6Reply; return nil }, "dhcp6_unexpected"},
		{"NoAddrsAvail", func(h *harness, s *srv) []byte { s.status = pkt.DHCPv6NoAddrsAvail; return nil }, "dhcp6_no_addrs"},
		{"IA NoAddrsAvail", func(h *harness, s *srv) []byte { s.iaStatus = pkt.DHCPv6NoAddrsAvail; return nil }, "dhcp6_no_addrs"},
		{"no IA", func(h *harness, s *srv) []byte { s.noIA = true; return nil }, "dhcp6_no_addrs"},
		{"other IAID", func(h *harness, s *srv) []byte { s.iaid = 7; return nil }, "dhcp6_no_addrs"},
		{"link-local address", func(h *harness, s *srv) []byte { s.addr = netip.MustParseAddr("fe80::5"); return nil }, "dhcp6_no_addrs"},
		{"multicast address", func(h *harness, s *srv) []byte { s.addr = netip.MustParseAddr("ff05::5"); return nil }, "dhcp6_no_addrs"},
		{"preferred over valid", func(h *harness, s *srv) []byte { s.prefLife, s.valid = 10, 5; return nil }, "dhcp6_no_addrs"},
		{"bad DNS option", func(h *harness, s *srv) []byte {
			f := h.dhcpFrame(*s)
			return udp6Frame(547, 546, append(pkt.UDP(f[pkt.EthernetLen+pkt.IPv6Len:]).Payload(), 0, 23, 0, 3, 1, 2, 3))
		}, "bad_dhcp6"},
		{"truncated option", func(h *harness, s *srv) []byte {
			f := h.dhcpFrame(*s)
			return udp6Frame(547, 546, append(pkt.UDP(f[pkt.EthernetLen+pkt.IPv6Len:]).Payload(), 0, 23, 0, 16, 1))
		}, "bad_dhcp6"},
		{"from port 53", func(h *harness, s *srv) []byte { return udp6Frame(53, 546, h.srvMsg(*s)) }, "bad_dhcp6"},
		{"bad checksum", func(h *harness, s *srv) []byte {
			f := h.dhcpFrame(*s)
			f[len(f)-1] ^= 1
			return f
		}, "bad_checksum"},
		{"zero checksum", func(h *harness, s *srv) []byte {
			f := h.dhcpFrame(*s)
			f[pkt.EthernetLen+pkt.IPv6Len+6], f[pkt.EthernetLen+pkt.IPv6Len+7] = 0, 0
			return f
		}, "bad_checksum"},
		{"to another MAC", func(h *harness, s *srv) []byte {
			f := h.dhcpFrame(*s)
			pkt.Ethernet(f).SetDst(otherMAC)
			return f
		}, "not_for_us"},
		{"short", func(h *harness, s *srv) []byte { return udp6Frame(547, 546, []byte{2, 0, 3}) }, "bad_dhcp6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := managed(t)
			adv := advertise()
			f := c.mod(h, &adv)
			if f == nil {
				f = h.dhcpFrame(adv)
			}
			if !h.c.Handle(f) {
				t.Fatal("a message to the client port is the client's")
			}
			if d := h.drops(); fmt.Sprint(d) != fmt.Sprintf("map[%s:1]", c.reason) {
				t.Fatalf("drops %v, want %s:1", d, c.reason)
			}
			if o := h.take(); len(o) != 0 {
				t.Fatalf("%d frames sent in answer", len(o))
			}
			good := advertise()
			h.c.Handle(h.dhcpFrame(good))
			if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6Request {
				t.Fatalf("positive control: %+v", m)
			}
		})
	}
}

// renewing binds a lease and runs to T1: the first RENEW.
func renewing(t *testing.T) (*harness, msgView) {
	h := bind(t)
	h.after(1800 * time.Second)
	return h, readMsg(t, h.one())
}

// TestRenewRefused: a REPLY from another server to a RENEW is refused;
// NoBinding makes the client REQUEST its address again.
func TestRenewRefused(t *testing.T) {
	h, ren := renewing(t)
	r := reply(pkt.DHCPv6Reply, ren.xid)
	r.server = []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 8}
	h.c.Handle(h.dhcpFrame(r))
	if d := h.drops(); fmt.Sprint(d) != "map[dhcp6_unexpected:1]" {
		t.Fatalf("drops %v", d)
	}
	r = reply(pkt.DHCPv6Reply, ren.xid)
	r.addr, r.iaStatus = netip.Addr{}, pkt.DHCPv6NoBinding
	h.c.Handle(h.dhcpFrame(r))
	m := readMsg(t, h.one())
	if m.typ != pkt.DHCPv6Request || m.iaAddr != leaseAddr || !bytes.Equal(m.server, serverID) {
		t.Fatalf("after NoBinding: %+v", m)
	}
	if s := h.c.State(); s.Addr.Addr() != leaseAddr {
		t.Fatalf("the address went while asked for again: %+v", s)
	}
}

// TestLeaseValidZero: a REPLY giving the address lifetime 0 takes it.
func TestLeaseValidZero(t *testing.T) {
	h, ren := renewing(t)
	r := reply(pkt.DHCPv6Reply, ren.xid)
	r.prefLife, r.valid = 0, 0
	h.c.Handle(h.dhcpFrame(r))
	if s := h.c.State(); s.Addr.IsValid() {
		t.Fatalf("state %+v", s)
	}
}

// TestDecline: a leased address someone else answers for is declined
// (with the server's id and the address) and the client solicits again.
func TestDecline(t *testing.T) {
	h, _ := managed(t)
	adv := advertise()
	h.c.Handle(h.dhcpFrame(adv))
	h.take()
	h.c.Handle(h.dhcpFrame(reply(pkt.DHCPv6Reply, testXID)))
	h.take()
	h.c.Handle(na(otherMAC, leaseAddr))
	dec := readMsg(t, h.one())
	if dec.typ != pkt.DHCPv6Decline || dec.iaAddr != leaseAddr || !bytes.Equal(dec.server, serverID) || dec.oro != nil {
		t.Fatalf("decline %+v", dec)
	}
	h.at(5 * time.Second)
	if s := h.c.State(); s.Addr.IsValid() {
		t.Fatalf("duplicate published: %+v", s)
	}
	h.take()
	h.c.Handle(h.dhcpFrame(reply(pkt.DHCPv6Reply, dec.xid)))
	h.at(6 * time.Second)
	if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6Solicit {
		t.Fatalf("after the decline: %+v", m)
	}
	if e := h.c.Events(); e[EventDHCP6Declined] != 1 || e[EventDADConflict] != 1 {
		t.Fatalf("events %v", e)
	}
}

// TestInfoRequest: the O flag alone asks for DNS servers by
// INFORMATION-REQUEST (no IA), again at the refresh time.
func TestInfoRequest(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.c.Handle(ra(pkt.NDPRAOther, 1800, optPrefix(pfxA, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 3600, 3600)))
	h.take()
	h.at(1*time.Second + time.Microsecond)
	h.at(1*time.Second + 2*time.Microsecond)
	m := readMsg(t, h.one())
	if m.typ != pkt.DHCPv6InfoRequest || m.hasIA || m.server != nil || !slices.Equal(m.oro, []uint16{23, 24, 32}) {
		t.Fatalf("information-request %+v", m)
	}
	r := reply(pkt.DHCPv6Reply, m.xid)
	r.noIA, r.refresh, r.dns = true, 700, []netip.Addr{netip.MustParseAddr("2001:db8::54"), dnsA}
	h.c.Handle(h.dhcpFrame(r))
	h.at(2 * time.Second)
	if s := h.c.State(); fmt.Sprint(s.DNS) != "[2001:db8::54 2001:db8::53]" || s.Addr.Addr() != slaacA {
		t.Fatalf("state %+v", s)
	}
	h.at(1*time.Second + 2*time.Microsecond + 700*time.Second - time.Nanosecond)
	if o := h.take(); len(o) != 0 {
		t.Fatal("asked again before the refresh time")
	}
	h.after(time.Nanosecond)
	h.after(time.Microsecond)
	if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6InfoRequest {
		t.Fatalf("refresh %+v", m)
	}
	// An M flag now turns it stateful.
	h.c.Handle(ra(pkt.NDPRAManaged, 1800))
	h.after(time.Microsecond)
	h.after(time.Microsecond)
	if m := readMsg(t, h.one()); m.typ != pkt.DHCPv6Solicit {
		t.Fatalf("after M: %+v", m)
	}
}

// TestStop: a held lease is released once, and the state emptied.
func TestStop(t *testing.T) {
	h := bind(t)
	h.c.Stop()
	m := readMsg(t, h.one())
	if m.typ != pkt.DHCPv6Release || m.iaAddr != leaseAddr || !bytes.Equal(m.server, serverID) || m.oro != nil {
		t.Fatalf("release %+v", m)
	}
	if s := h.c.State(); s.Addr.IsValid() || s.LinkLocal.IsValid() || s.Router.IsValid() {
		t.Fatalf("state %+v", s)
	}
	h.c.Handle(slaacRA())
	h.at(time.Hour)
	if o := h.take(); len(o) != 0 || h.c.State().Router.IsValid() {
		t.Fatal("active after Stop")
	}
}

// TestAbandon: an abandoned lease is not released (the link is handed
// on), and the client is as stopped as after Stop.
func TestAbandon(t *testing.T) {
	h := bind(t)
	h.c.Abandon()
	if o := h.take(); len(o) != 0 {
		t.Fatalf("Abandon sent %d frames, want none", len(o))
	}
	if s := h.c.State(); s.Addr.IsValid() || s.LinkLocal.IsValid() {
		t.Fatalf("state %+v", s)
	}
	h.c.Stop() // already stopped: still nothing
	h.c.Handle(slaacRA())
	h.at(time.Hour)
	if o := h.take(); len(o) != 0 {
		t.Fatal("active after Abandon")
	}
}
