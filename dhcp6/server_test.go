package dhcp6

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

func TestSolicitRequest(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	adv := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{xid: 0x123456}))
	wantDUID := []byte{0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 1}
	if adv.typ != pkt.DHCPv6Advertise || adv.xid != 0x123456 || !bytes.Equal(adv.clientID, c.duid) ||
		!bytes.Equal(adv.serverID, wantDUID) || adv.pref != 255 || adv.status != -1 {
		t.Fatalf("ADVERTISE: %+v", adv)
	}
	if adv.iaid != 1 || adv.addr != rStart || adv.valid != 3600 || adv.t1 != 1800 || adv.t2 != 2880 || adv.iaStatus != -1 {
		t.Fatalf("IA_NA: %+v", adv)
	}
	if len(adv.dns) != 1 || adv.dns[0] != dnsAddr || string(adv.domain) != "\x03lab\x07example\x00" {
		t.Fatalf("config options: %v %q", adv.dns, adv.domain)
	}
	if len(s.Leases()) != 0 {
		t.Fatalf("an offer is shown as a lease: %v", s.Leases())
	}
	rep := exchange(t, s, c, c.msg(pkt.DHCPv6Request, msgOpts{xid: 0x654321, serverID: adv.serverID, addr: adv.addr}))
	if rep.typ != pkt.DHCPv6Reply || rep.xid != 0x654321 || rep.addr != rStart || rep.valid != 3600 {
		t.Fatalf("REPLY: %+v", rep)
	}
	ls := s.Leases()
	if len(ls) != 1 || ls[0].IP != rStart || ls[0].ClientID != "0003000152540000010"+"1/1" || ls[0].MAC != "52:54:00:00:01:01" || ls[0].State != "bound" {
		t.Fatalf("leases: %+v", ls)
	}
	// The same client asking again keeps its address; the next gets the next one.
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{})); a.addr != rStart {
		t.Fatalf("re-SOLICIT got %v", a.addr)
	}
	if a := bind(t, s, newClient(2)); a != rStart.Next() {
		t.Fatalf("second client got %v", a)
	}
	if s.Active() != 2 {
		t.Fatalf("active %d", s.Active())
	}
}

func TestRapidCommit(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	rep := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{rapid: true}))
	if rep.typ != pkt.DHCPv6Reply || !rep.rapid || rep.addr != rStart {
		t.Fatalf("rapid commit: %+v", rep)
	}
	if ls := s.Leases(); len(ls) != 1 || ls[0].IP != rStart {
		t.Fatalf("leases: %+v", ls)
	}
}

func TestPoolExhausted(t *testing.T) {
	s := NewServer(testConfig(), nil)
	seen := map[netip.Addr]bool{}
	for i := range byte(4) {
		a := bind(t, s, newClient(i+1))
		if seen[a] {
			t.Fatalf("%v handed twice", a)
		}
		seen[a] = true
	}
	c := newClient(9)
	adv := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{}))
	if adv.status != pkt.DHCPv6NoAddrsAvail || adv.addr.IsValid() {
		t.Fatalf("5th SOLICIT: %+v", adv)
	}
	rep := exchange(t, s, c, c.msg(pkt.DHCPv6Request, msgOpts{serverID: s.DUID(), addr: rStart}))
	if rep.iaStatus != pkt.DHCPv6NoAddrsAvail || rep.addr.IsValid() || rep.iaid != 9 {
		t.Fatalf("5th REQUEST: %+v", rep)
	}
	if d := s.Drops(); d[DropPoolExhausted] != 2 {
		t.Fatalf("drops %v", d)
	}
}

func TestRenewRebind(t *testing.T) {
	s := NewServer(testConfig(), nil)
	now := time.Unix(1e9, 0)
	s.now = func() time.Time { return now }
	c := newClient(1)
	a := bind(t, s, c)
	now = now.Add(30 * time.Minute)
	rep := exchange(t, s, c, c.msg(pkt.DHCPv6Renew, msgOpts{serverID: s.DUID(), addr: a}))
	if rep.addr != a || rep.valid != 3600 || rep.iaStatus != -1 {
		t.Fatalf("RENEW: %+v", rep)
	}
	if ls := s.Leases(); !ls[0].Expiry.Equal(now.Add(time.Hour)) {
		t.Fatalf("expiry %v, want %v", ls[0].Expiry, now.Add(time.Hour))
	}
	rep = exchange(t, s, c, c.msg(pkt.DHCPv6Rebind, msgOpts{addr: a}))
	if rep.addr != a || rep.valid != 3600 {
		t.Fatalf("REBIND: %+v", rep)
	}
	// Another client renewing the same IAID and address has no binding.
	o := newClient(2)
	o.iaid = c.iaid
	rep = exchange(t, s, o, o.msg(pkt.DHCPv6Renew, msgOpts{serverID: s.DUID(), addr: a}))
	if rep.iaStatus != pkt.DHCPv6NoBinding || rep.addr.IsValid() {
		t.Fatalf("foreign RENEW: %+v", rep)
	}
	// REBIND without a binding: an address off the link comes back with
	// lifetimes 0; one on it gets no answer.
	off := netip.MustParseAddr("2001:db8::5")
	rep = exchange(t, s, o, o.msg(pkt.DHCPv6Rebind, msgOpts{addr: off}))
	if rep.addr != off || rep.valid != 0 {
		t.Fatalf("off-link REBIND: %+v", rep)
	}
	if _, ok := s.Handle(o.msg(pkt.DHCPv6Rebind, msgOpts{addr: rEnd}), o.from(), make([]byte, 1500)); ok {
		t.Fatal("REBIND without a binding answered")
	}
	if _, ok := s.Handle(c.msg(pkt.DHCPv6Renew, msgOpts{serverID: []byte{0, 3, 0, 1, 1, 2, 3, 4, 5, 6}, addr: a}), c.from(), make([]byte, 1500)); ok {
		t.Fatal("RENEW for another server answered")
	}
	if d := s.Drops(); d[DropNoBinding] != 3 || d[DropNotForUs] != 1 {
		t.Fatalf("drops %v", d)
	}
	// After its lease lapsed, the client has no binding either.
	now = now.Add(2 * time.Hour)
	if rep := exchange(t, s, c, c.msg(pkt.DHCPv6Renew, msgOpts{serverID: s.DUID(), addr: a})); rep.iaStatus != pkt.DHCPv6NoBinding {
		t.Fatalf("RENEW after expiry: %+v", rep)
	}
}

func TestReleaseDecline(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c1, c2, c3 := newClient(1), newClient(2), newClient(3)
	a1 := bind(t, s, c1)
	// Only the holder releases: another client's RELEASE changes nothing.
	o := newClient(7)
	o.iaid = c1.iaid
	rep := exchange(t, s, o, o.msg(pkt.DHCPv6Release, msgOpts{serverID: s.DUID(), addr: a1}))
	if rep.status != pkt.DHCPv6Success || rep.iaStatus != pkt.DHCPv6NoBinding || len(s.Leases()) != 1 {
		t.Fatalf("foreign RELEASE: %+v, leases %v", rep, s.Leases())
	}
	rep = exchange(t, s, c1, c1.msg(pkt.DHCPv6Release, msgOpts{serverID: s.DUID(), addr: a1}))
	if rep.typ != pkt.DHCPv6Reply || rep.status != pkt.DHCPv6Success || rep.iaStatus != -1 || len(s.Leases()) != 0 {
		t.Fatalf("RELEASE: %+v, leases %v", rep, s.Leases())
	}
	if a := bind(t, s, c2); a != a1 {
		t.Fatalf("released address not reused: %v", a)
	}
	rep = exchange(t, s, c2, c2.msg(pkt.DHCPv6Decline, msgOpts{serverID: s.DUID(), addr: a1}))
	if rep.status != pkt.DHCPv6Success || len(s.Leases()) != 0 {
		t.Fatalf("DECLINE: %+v", rep)
	}
	if a := bind(t, s, c3); a == a1 || a != rStart.Next() {
		t.Fatalf("after DECLINE of %v, got %v", a1, a)
	}
}

func TestConfirmInfoStateless(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	if rep := exchange(t, s, c, c.msg(pkt.DHCPv6Confirm, msgOpts{addr: rEnd})); rep.status != pkt.DHCPv6Success {
		t.Fatalf("CONFIRM on link: %+v", rep)
	}
	if rep := exchange(t, s, c, c.msg(pkt.DHCPv6Confirm, msgOpts{addr: netip.MustParseAddr("fd00:999::5")})); rep.status != pkt.DHCPv6NotOnLink {
		t.Fatalf("CONFIRM off link: %+v", rep)
	}
	cfg := testConfig()
	cfg.RangeStart, cfg.RangeEnd = netip.Addr{}, netip.Addr{}
	sl := NewServer(cfg, nil)
	rep := exchange(t, sl, c, c.msg(pkt.DHCPv6InfoRequest, msgOpts{noIA: true, xid: 77}))
	if rep.typ != pkt.DHCPv6Reply || rep.xid != 77 || len(rep.dns) != 1 || rep.dns[0] != dnsAddr || rep.addr.IsValid() {
		t.Fatalf("INFORMATION-REQUEST: %+v", rep)
	}
	if _, ok := sl.Handle(c.msg(pkt.DHCPv6Solicit, msgOpts{}), c.from(), make([]byte, 1500)); ok || sl.Drops()[DropStateless] != 1 {
		t.Fatalf("stateless server answered a SOLICIT; drops %v", sl.Drops())
	}
	if sl.Stateful() || !s.Stateful() {
		t.Fatal("Stateful")
	}
}

func TestRefused(t *testing.T) {
	c := newClient(1)
	uni := c.from()
	uni.Unicast = true
	trunc := c.msg(pkt.DHCPv6Solicit, msgOpts{})
	trunc = append(trunc, 0, 1, 0, 9)
	for _, tc := range []struct {
		name string
		m    pkt.DHCPv6
		from From
		want DropReason
	}{
		{"short", pkt.DHCPv6{1, 2}, c.from(), DropMalformed},
		{"options past the end", trunc, c.from(), DropMalformed},
		{"solicit without client id", c.msg(pkt.DHCPv6Solicit, msgOpts{noClient: true}), c.from(), DropMalformed},
		{"solicit with server id", c.msg(pkt.DHCPv6Solicit, msgOpts{serverID: []byte{0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 1}}), c.from(), DropMalformed},
		{"request without server id", c.msg(pkt.DHCPv6Request, msgOpts{}), c.from(), DropMalformed},
		{"request for another server", c.msg(pkt.DHCPv6Request, msgOpts{serverID: []byte{0, 3, 0, 1, 9, 9, 9, 9, 9, 9}}), c.from(), DropNotForUs},
		{"unicast solicit", c.msg(pkt.DHCPv6Solicit, msgOpts{}), uni, DropNotForUs},
		{"advertise from a guest", c.msg(pkt.DHCPv6Advertise, msgOpts{}), c.from(), DropNotForUs},
		{"relay-forw", pkt.DHCPv6(append([]byte{12, 0}, make([]byte, 32)...)), c.from(), DropNotForUs},
		{"info-request with IA_NA", c.msg(pkt.DHCPv6InfoRequest, msgOpts{}), c.from(), DropMalformed},
		{"renew without IA", c.msg(pkt.DHCPv6Renew, msgOpts{noIA: true, serverID: []byte{0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 1}}), c.from(), DropMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(testConfig(), nil)
			if _, ok := s.Handle(tc.m, tc.from, make([]byte, 1500)); ok {
				t.Fatal("answered")
			}
			d := s.Drops()
			for r, n := range d {
				if want := uint64(0); DropReason(r) == tc.want && n != 1 || DropReason(r) != tc.want && n != want {
					t.Fatalf("drops %v, want one %s", d, tc.want)
				}
			}
			// Positive control: the same server serves an honest client.
			if a := bind(t, s, newClient(2)); a != rStart {
				t.Fatalf("honest client got %v", a)
			}
		})
	}
}

func TestUseMulticast(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	a := bind(t, s, c)
	from := c.from()
	from.Unicast = true
	rep, ok := s.Handle(c.msg(pkt.DHCPv6Renew, msgOpts{serverID: s.DUID(), addr: a}), from, make([]byte, 1500))
	if !ok {
		t.Fatal("no reply")
	}
	r := parseReply(t, rep.Msg)
	if r.status != pkt.DHCPv6UseMulticast || r.addr.IsValid() || s.Drops()[DropUseMulticast] != 1 {
		t.Fatalf("unicast RENEW: %+v", r)
	}
}

func TestHosts(t *testing.T) {
	cfg := testConfig()
	byMAC, byDUID := newClient(1), newClient(2)
	byDUID.duid = []byte{0, 4, 1, 2, 3, 4, 5, 6, 7, 8} // DUID-UUID-like
	hostA, hostB := netip.MustParseAddr("fd00:122::50"), netip.MustParseAddr("fd00:122::51")
	cfg.Hosts = []Host{{MAC: byMAC.mac, IP: hostA, Name: "a"}, {DUID: byDUID.duid, IP: hostB, Name: "b"}}
	s := NewServer(cfg, nil)
	if a := bind(t, s, byMAC); a != hostA {
		t.Fatalf("by MAC: %v", a)
	}
	if a := bind(t, s, byDUID); a != hostB {
		t.Fatalf("by DUID: %v", a)
	}
	// Nobody else gets a reserved address, even asking for it.
	o := newClient(3)
	adv := exchange(t, s, o, o.msg(pkt.DHCPv6Solicit, msgOpts{addr: hostA}))
	if adv.addr != rStart {
		t.Fatalf("asked for a reserved address, got %v", adv.addr)
	}
	for _, l := range s.Leases() {
		if l.IP == hostA && (l.Hostname != "a" || !l.Static) {
			t.Fatalf("static lease %+v", l)
		}
	}
}

func TestMACLeaseLimitAndRate(t *testing.T) {
	s := NewServer(testConfig(), nil)
	cfg := testConfig()
	cfg.RangeEnd = netip.MustParseAddr("fd00:122::1ff")
	s = NewServer(cfg, nil)
	// One MAC inventing DUIDs holds at most 4.
	for i := range byte(5) {
		c := newClient(1)
		c.duid = append([]byte{0, 4}, i, i, i)
		_, ok := s.Handle(c.msg(pkt.DHCPv6Solicit, msgOpts{}), c.from(), make([]byte, 1500))
		if ok != (i < 4) {
			t.Fatalf("DUID %d: answered %v", i, ok)
		}
	}
	if d := s.Drops(); d[DropMACLeaseLimit] != 1 {
		t.Fatalf("drops %v", d)
	}
	// The rate: the burst of 20 then drops (5 were spent above).
	c := newClient(1)
	for i := range 16 {
		_, ok := s.Handle(c.msg(pkt.DHCPv6Confirm, msgOpts{addr: rStart}), c.from(), make([]byte, 1500))
		if ok != (i < 15) {
			t.Fatalf("message %d: answered %v", i, ok)
		}
	}
	if d := s.Drops(); d[DropRateLimited] != 1 {
		t.Fatalf("drops %v", d)
	}
	// Positive control: another MAC is served.
	if a := bind(t, s, newClient(2)); !s.inRange(a) {
		t.Fatalf("honest client got %v", a)
	}
}

// TestDurable: a bound lease is in the store before its REPLY is
// returned, and a new server on the store (a restart) renews it; the
// DHCPv4 leases of the same network stay as they were.
func TestDurable(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	if err := st.Save("lab", []dhcp.Lease{{Network: "lab", ClientID: "x", MAC: "52:54:00:00:09:09",
		IP: netip.MustParseAddr("10.0.0.10"), Expiry: time.Now().Add(time.Hour), State: "bound"}}); err != nil {
		t.Fatal(err)
	}
	s := NewServer(testConfig(), st)
	c := newClient(1)
	a := bind(t, s, c)
	data, err := os.ReadFile(filepath.Join(dir, "leases.json"))
	if err != nil || !strings.Contains(string(data), `"ip":"`+a.String()+`"`) || !strings.Contains(string(data), `"ip":"10.0.0.10"`) {
		t.Fatalf("file after REPLY: %s %v", data, err)
	}
	st.Close()
	st2 := openStore(t, dir)
	if got := st2.Load("lab"); len(got) != 1 || got[0].IP.String() != "10.0.0.10" {
		t.Fatalf("v4 leases after reopen: %+v", got)
	}
	s2 := NewServer(testConfig(), st2)
	rep := exchange(t, s2, c, c.msg(pkt.DHCPv6Renew, msgOpts{serverID: s2.DUID(), addr: a}))
	if rep.addr != a || rep.valid != 3600 || !bytes.Equal(s2.DUID(), s.DUID()) {
		t.Fatalf("RENEW after restart: %+v", rep)
	}
	if b := bind(t, s2, newClient(2)); b == a {
		t.Fatalf("restarted server handed %v twice", a)
	}
}

// TestDeliver: with Deliver the REPLY comes from the store goroutine,
// after the file holds the lease.
func TestDeliver(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	cfg := testConfig()
	got := make(chan string, 4)
	cfg.Deliver = func(r Reply) {
		data, _ := os.ReadFile(filepath.Join(dir, "leases.json"))
		a := parseReply(t, r.Msg)
		if strings.Contains(string(data), `"ip":"`+a.addr.String()+`"`) {
			got <- a.addr.String()
		} else {
			got <- "not on disk"
		}
	}
	s := NewServer(cfg, st)
	c := newClient(1)
	adv := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{}))
	if _, ok := s.Handle(c.msg(pkt.DHCPv6Request, msgOpts{serverID: adv.serverID}), c.from(), make([]byte, 1500)); ok {
		t.Fatal("REPLY returned before the write")
	}
	if a := testnet.Recv(t, got, 10*time.Second, "the REPLY delivered"); a != rStart.String() {
		t.Fatalf("delivered: %s", a)
	}
	st.Close()
	if _, ok := s.Handle(c.msg(pkt.DHCPv6Renew, msgOpts{serverID: adv.serverID}), c.from(), make([]byte, 1500)); ok || s.Drops()[DropStoreFailed] != 1 {
		t.Fatalf("RENEW after the store closed: drops %v", s.Drops())
	}
}
