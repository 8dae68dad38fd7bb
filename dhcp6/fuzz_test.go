package dhcp6

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzHandle drives a server with scripts of messages from four clients
// (two on one MAC) and raw bytes, and checks after each one: the server's
// indexes agree (one lease per address and per IA, each held address in
// the range or its host's), a reply echoes the transaction id and client
// id and carries the server id, and an address a reply gives with a
// lifetime is the one the server holds for that client's IA.
func FuzzHandle(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 3, 1, 0, 1, 1, 0, 0, 1, 3, 1, 0, 0, 5, 1, 0})
	f.Add([]byte{0, 1, 4, 0, 1, 1, 4, 0, 2, 1, 4, 0, 3, 1, 4, 0, 0, 8, 1, 0, 1, 9, 1, 0})
	f.Add([]byte{0, 11, 0, 0, 0, 4, 2, 0, 0, 6, 2, 200, 0, 3, 1, 0})
	f.Add([]byte{0xff, 12, 0, 0, 1, 0, 0, 0, 9, 9, 9})
	f.Fuzz(func(t *testing.T, script []byte) {
		cfg := testConfig()
		cfg.Hosts = []Host{{MAC: newClient(3).mac, IP: netip.MustParseAddr("fd00:122::101")}} // inside the range: no one else may get it
		s := NewServer(cfg, nil)
		now := time.Unix(1e9, 0)
		s.now = func() time.Time { return now }
		clients := [4]client{newClient(1), newClient(2), newClient(1), newClient(3)}
		clients[2].duid = []byte{0, 4, 7, 7, 7} // a second DUID on client 0's MAC
		buf := make([]byte, 1500)
		for len(script) >= 4 {
			step := script[:4]
			script = script[4:]
			c := clients[step[0]&3]
			var m pkt.DHCPv6
			if step[0] == 0xff { // raw: the rest of the script, up to 200 bytes
				n := min(len(script), int(step[2])+1)
				m, script = pkt.DHCPv6(script[:n]), script[n:]
			} else {
				o := msgOpts{xid: uint32(step[3])<<8 | uint32(step[2]), rapid: step[2]&1 != 0, noIA: step[2]&8 != 0}
				switch step[2] >> 4 & 3 {
				case 1:
					o.serverID = s.DUID()
				case 2:
					o.serverID = []byte{0, 3, 0, 1, 1, 1, 1, 1, 1, 1}
				}
				if step[2]&2 != 0 {
					o.addr = rStart.Next().Next()
				}
				if step[2]&4 != 0 {
					o.addr = netip.MustParseAddr("2001:db8::1")
				}
				m = c.msg(step[1]%14, o)
			}
			from := c.from()
			from.Unicast = step[0]&0x80 != 0 && step[0] != 0xff
			rep, ok := s.Handle(m, from, buf)
			now = now.Add(time.Duration(step[3]) * 10 * time.Second)
			checkIndexes(t, s, now)
			if !ok {
				continue
			}
			a := parseReply(t, rep.Msg)
			in := pkt.DHCPv6(m)
			if a.xid != in.TransactionID() || !bytes.Equal(a.serverID, s.DUID()) || !bytes.Equal(a.clientID, in.ParseOptions().ClientID) {
				t.Fatalf("reply %+v to %x", a, []byte(m))
			}
			if a.typ != pkt.DHCPv6Advertise && a.typ != pkt.DHCPv6Reply {
				t.Fatalf("reply type %d", a.typ)
			}
			if a.valid > 0 {
				s.mu.Lock()
				l := s.byClient[string(s.clientKey(a.clientID, a.iaid))]
				s.mu.Unlock()
				if l == nil || l.IP != a.addr {
					t.Fatalf("reply gives %v for IA %d, server holds %+v", a.addr, a.iaid, l)
				}
			}
		}
	})
}

func checkIndexes(t *testing.T, s *Server, now time.Time) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byIP) != len(s.byClient) {
		t.Fatalf("%d addresses, %d clients", len(s.byIP), len(s.byClient))
	}
	n := 0
	for a, l := range s.byIP {
		if l.IP != a || s.byClient[l.ClientID] != l {
			t.Fatalf("indexes disagree on %v: %+v", a, l)
		}
		if !s.inRange(a) && !(l.Static && s.static[a]) {
			t.Fatalf("%v is held outside the range: %+v", a, l)
		}
		if s.static[a] && !l.Static {
			t.Fatalf("reserved %v handed out dynamically", a)
		}
	}
	for _, held := range s.byMAC {
		n += len(held)
		live := 0
		for _, l := range held {
			if l.Expiry.After(now) {
				live++
			}
		}
		if live > s.cfg.MaxLeasesPerMAC+1 { // +1: a static host's lease is not limited
			t.Fatalf("a MAC holds %d live leases", live)
		}
	}
	if n != len(s.byIP) {
		t.Fatalf("byMAC holds %d, byIP %d", n, len(s.byIP))
	}
}
