package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
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
