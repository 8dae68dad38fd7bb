package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzQuery runs guest bytes through the query path (hand-over, parse,
// local answer or refusal; no upstream): no panic, at most one answer, an
// answer parses, echoes the ID and the question, and carries records only
// for local names with their configured addresses. Bytes miekg/dns cannot
// parse as one query get no answer.
func FuzzQuery(f *testing.F) {
	for _, q := range []struct {
		name string
		t    uint16
	}{{"db.lab.", mdns.TypeA}, {"DB.", mdns.TypeANY}, {"30.122.168.192.in-addr.arpa.", mdns.TypePTR},
		{"x.lab.", mdns.TypeAAAA}, {"example.org.", mdns.TypeMX}, {"lab.", mdns.TypeSOA}} {
		m := query(q.name, q.t)
		m.SetEdns0(4096, true)
		b, _ := m.Pack()
		f.Add(b)
	}
	hosts := map[string]string{"db": "192.168.122.30", "web": "192.168.122.10"}
	var out []Answer
	s := New(Config{
		Gateway: netip.MustParsePrefix("192.168.122.1/24"), Domain: "lab", RateLimit: 1 << 30,
		Hosts:      []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}, {Name: "web", IP: netip.MustParseAddr("192.168.122.10")}},
		ResolvConf: f.TempDir() + "/none",
		Deliver:    func(a Answer) { a.Msg = append([]byte(nil), a.Msg...); out = append(out, a) },
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		out = out[:0]
		s.Query(guestMAC, guest, b, time.Now())
		var batch [2]*job
		n := s.q.Take(batch[:])
		for _, j := range batch[:n] {
			s.serve(j, time.Now())
			s.free.Put(j)
		}
		var oracle mdns.Msg
		ok := len(b) >= 12 && len(b) <= maxQueryLen && oracle.Unpack(b) == nil && len(oracle.Question) == 1 && !oracle.Response
		if !ok {
			if len(out) != 0 {
				t.Fatalf("answered bytes that are not one query: % x", b)
			}
			return
		}
		if len(out) > 1 {
			t.Fatalf("%d answers", len(out))
		}
		if len(out) == 0 {
			return // a name we could not pack back
		}
		r := new(mdns.Msg)
		if err := r.Unpack(out[0].Msg); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(b) || len(r.Question) != 1 || r.Question[0] != oracle.Question[0] {
			t.Fatalf("answer %v to %v", r, &oracle)
		}
		for _, rr := range r.Answer {
			switch v := rr.(type) {
			case *mdns.A:
				label, _, _ := strings.Cut(strings.ToLower(v.Hdr.Name), ".")
				if hosts[label] != v.A.String() {
					t.Fatalf("A %s for %q", v.A, v.Hdr.Name)
				}
			case *mdns.PTR:
				a, _ := reverseAddr(strings.ToLower(v.Hdr.Name))
				label, _, _ := strings.Cut(v.Ptr, ".")
				if hosts[label] != a.String() || v.Ptr != label+".lab." {
					t.Fatalf("PTR %s for %q", v.Ptr, v.Hdr.Name)
				}
			default:
				t.Fatalf("record %v", rr)
			}
		}
	})
}

// tcpSeg is a TCP segment from the guest to port 53 with a full window.
func tcpSeg(seq, ack uint32, flags uint8, opts, data []byte) []byte {
	return segment(guest.Port(), seq, ack, flags, 65535, opts, data)
}

// segment is a TCP header from port sport to port 53 with opts, then data.
func segment(sport uint16, seq, ack uint32, flags uint8, window uint16, opts, data []byte) []byte {
	b := make([]byte, 20, 20+len(opts)+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], 53)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12], b[13] = byte((20+len(opts))/4<<4), flags
	binary.BigEndian.PutUint16(b[14:], window)
	return append(append(b, opts...), data...)
}

// FuzzTCP runs a sequence of guest segments (each prefixed by its length)
// through the TCP responder, once from an IPv4 client and once from an
// IPv6 one: no panic; every segment sent goes to that client, carries at
// most its family's MSS of data (1460 bytes, 1440 over IPv6), and a SYN
// only with ACK and exactly that MSS; connections stay within the
// per-client limit.
func FuzzTCP(f *testing.F) {
	q := query("db.lab.", mdns.TypeA)
	qb, _ := q.Pack()
	framedQ := append(binary.BigEndian.AppendUint16(nil, uint16(len(qb))), qb...)
	seq := func(segs ...[]byte) []byte {
		var out []byte
		for _, s := range segs {
			out = append(out, byte(len(s)))
			out = append(out, s...)
		}
		return out
	}
	f.Add(seq(tcpSeg(1000, 0, 0x02, []byte{2, 4, 0, 100}, nil)))
	f.Add(seq(tcpSeg(1000, 0, 0x02, nil, nil), tcpSeg(1001, 0, 0x10, nil, framedQ[:3]), tcpSeg(1004, 0, 0x19, nil, framedQ[3:])))
	f.Add(seq(tcpSeg(1000, 0, 0x02, nil, nil), tcpSeg(1001, 0, 0x04, nil, nil), tcpSeg(5, 6, 0x10, nil, []byte("x"))))
	f.Add(seq(tcpSeg(1000, 0, 0x02, []byte{2, 4, 0xff, 0xff}, nil)))
	var out []TCPSegment
	s := New(Config{
		Gateway: netip.MustParsePrefix("192.168.122.1/24"), Gateway6: gw6, Domain: "lab", RateLimit: 1 << 30,
		Hosts:      []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}},
		ResolvConf: f.TempDir() + "/none",
		Deliver:    func(Answer) {},
		DeliverTCP: func(g TCPSegment) { out = append(out, g) },
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, client := range []netip.AddrPort{guest, guest6} {
			out = out[:0]
			now := time.Now()
			for in := data; len(in) > 0; {
				n := min(int(in[0]), len(in)-1)
				s.Segment(guestMAC, client, in[1:1+n], now)
				in = in[1+n:]
				var batch [1]*job
				if s.q.Take(batch[:]) == 1 {
					s.serve(batch[0], now)
					s.free.Put(batch[0])
				}
			}
			mss := wantMSS(client)
			for _, g := range out {
				if g.Dst != client || g.DstMAC != guestMAC || len(g.Payload) > int(mss) ||
					(g.Flags&pkt.TCPFlagSYN != 0) != (g.MSS == mss) || g.Flags&pkt.TCPFlagSYN == 0 && g.MSS != 0 ||
					g.Flags&pkt.TCPFlagSYN != 0 && g.Flags != pkt.TCPFlagSYN|pkt.TCPFlagACK {
					t.Fatalf("segment to %v: %+v", client, g)
				}
			}
			if n := s.Conns(); n > maxTCPPerClient {
				t.Fatalf("%d connections from one client", n)
			}
			s.tcp.tick(s, now.Add(time.Minute)) // forget them all for the next input
		}
	})
}
