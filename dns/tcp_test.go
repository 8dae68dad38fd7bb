package dns

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

type tcpHarness struct {
	s    *Server
	segs chan TCPSegment
}

func newTCPHarness(t *testing.T, cfg Config) *tcpHarness {
	t.Helper()
	h := &tcpHarness{segs: make(chan TCPSegment, 1024)}
	cfg.Deliver = func(Answer) { t.Error("an answer over UDP") }
	cfg.DeliverTCP = func(s TCPSegment) {
		s.Payload = append([]byte(nil), s.Payload...)
		h.segs <- s
	}
	h.s = serve(t, cfg)
	return h
}

// in sends the server a segment from src.
func (h *tcpHarness) in(src netip.AddrPort, seq, ack uint32, flags uint8, window uint16, opts, data []byte) {
	b := segment(src.Port(), seq, ack, flags, window, opts, data)
	h.s.Segment(guestMAC, src, b, time.Now())
}

func (h *tcpHarness) out(t *testing.T) TCPSegment {
	t.Helper()
	return testnet.Recv(t, h.segs, 3*time.Second, "a segment")
}

func (h *tcpHarness) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	if s, ok := testnet.Poll(h.segs, d); ok {
		t.Fatalf("unexpected segment %+v", s)
	}
}

var mss536 = []byte{2, 4, 0x02, 0x18}

// guest6 is a guest of the network's /64 (Config.Gateway6 = gw6).
var (
	gw6    = netip.MustParsePrefix("fd00:122::1/64")
	guest6 = netip.MustParseAddrPort("[fd00:122::20]:40000")
)

// wantMSS is the MSS our SYN-ACK to src must carry: what one MTU-1500
// frame holds past src's family's IP and TCP headers.
func wantMSS(src netip.AddrPort) uint16 {
	if src.Addr().Is6() {
		return 1440
	}
	return 1460
}

const isn = 1000

// handshake opens a connection from guest and returns our ISS.
func (h *tcpHarness) handshake(t *testing.T, src netip.AddrPort, opts []byte) uint32 {
	t.Helper()
	h.in(src, isn, 0, pkt.TCPFlagSYN, 65535, opts, nil)
	sa := h.out(t)
	if sa.Flags != pkt.TCPFlagSYN|pkt.TCPFlagACK || sa.Ack != isn+1 || sa.MSS != wantMSS(src) || sa.Dst != src || sa.DstMAC != guestMAC {
		t.Fatalf("SYN-ACK %+v", sa)
	}
	h.in(src, isn+1, sa.Seq+1, pkt.TCPFlagACK, 65535, nil, nil)
	return sa.Seq
}

func framed(t *testing.T, m *mdns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

func TestTCPLocal(t *testing.T) {
	h := newTCPHarness(t, Config{Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}})
	iss := h.handshake(t, guest, mss536)
	q := framed(t, query("db.lab.", mdns.TypeA))
	// The query in two segments, the length split from the message.
	h.in(guest, isn+1, iss+1, pkt.TCPFlagACK, 65535, nil, q[:1])
	if a := h.out(t); a.Flags != pkt.TCPFlagACK || a.Ack != isn+2 || len(a.Payload) != 0 {
		t.Fatalf("ACK of the first byte %+v", a)
	}
	h.in(guest, isn+2, iss+1, pkt.TCPFlagACK|pkt.TCPFlagPSH, 65535, nil, q[1:])
	a := h.out(t)
	if a.Seq != iss+1 || a.Ack != isn+1+uint32(len(q)) || a.Flags != pkt.TCPFlagACK|pkt.TCPFlagPSH|pkt.TCPFlagFIN {
		t.Fatalf("answer segment %+v", a)
	}
	r := new(mdns.Msg)
	if int(binary.BigEndian.Uint16(a.Payload)) != len(a.Payload)-2 || r.Unpack(a.Payload[2:]) != nil || summary(r) != "NOERROR A 192.168.122.30" {
		t.Fatalf("answer % x", a.Payload)
	}
	// The client acknowledges all and closes: one last ACK, and the
	// connection is gone.
	end := iss + 1 + uint32(len(a.Payload)) + 1
	h.in(guest, isn+1+uint32(len(q)), end, pkt.TCPFlagACK|pkt.TCPFlagFIN, 65535, nil, nil)
	if f := h.out(t); f.Flags != pkt.TCPFlagACK || f.Seq != end || f.Ack != isn+2+uint32(len(q)) {
		t.Fatalf("last ACK %+v", f)
	}
	h.quiet(t, 100*time.Millisecond)
	if n := h.s.Conns(); n != 0 {
		t.Fatalf("%d connections left", n)
	}
	if st := h.s.Stats(); st.Results[ResultLocal] != 1 {
		t.Fatalf("results %v", st.Results)
	}
}

// tcpUpstream is a fake DNS server over TCP answering 60 A records.
func tcpUpstream(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{Listener: ln, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		r := new(mdns.Msg)
		r.SetReply(q)
		for i := range 60 {
			r.Answer = append(r.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA,
				Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, byte(i))})
		}
		w.WriteMsg(r)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestTCPForwardWindowRetransmit(t *testing.T) {
	h := newTCPHarness(t, Config{Forwarders: []netip.AddrPort{tcpUpstream(t)}})
	iss := h.handshake(t, guest, mss536)
	q := framed(t, query("big.example.", mdns.TypeA))
	// A window of 600: one 536-byte segment, then 64 bytes, then wait.
	h.in(guest, isn+1, iss+1, pkt.TCPFlagACK|pkt.TCPFlagPSH, 600, nil, q)
	// The query is acknowledged: alone while upstream answers, or on the
	// answer's first segment when upstream was quicker (a loaded machine).
	s1 := h.out(t)
	if s1.Ack != isn+1+uint32(len(q)) || s1.Flags&pkt.TCPFlagACK == 0 || (len(s1.Payload) == 0 && s1.Flags != pkt.TCPFlagACK) {
		t.Fatalf("ACK of the query while upstream answers: %+v", s1)
	}
	if len(s1.Payload) == 0 {
		s1 = h.out(t)
	}
	s2 := h.out(t)
	if s1.Seq != iss+1 || len(s1.Payload) != 536 || s2.Seq != iss+537 || len(s2.Payload) != 64 || s2.Flags&pkt.TCPFlagFIN != 0 {
		t.Fatalf("first window: seq %d len %d, seq %d len %d flags %#x", s1.Seq-iss, len(s1.Payload), s2.Seq-iss, len(s2.Payload), s2.Flags)
	}
	// No ACK: the window is sent again from the start, and nothing past it.
	if r := h.out(t); r.Seq != s1.Seq || !bytes.Equal(r.Payload, s1.Payload) {
		t.Fatalf("retransmission seq %d len %d", r.Seq-iss, len(r.Payload))
	}
	h.out(t)
	// Everything acknowledged with a large window: the rest, with FIN.
	h.in(guest, isn+1+uint32(len(q)), iss+601, pkt.TCPFlagACK, 65535, nil, nil)
	all := append(append([]byte(nil), s1.Payload...), s2.Payload...)
	for {
		s := h.out(t)
		if seqLT(s.Seq, iss+1+uint32(len(all))) {
			continue // a resend of the first window that crossed our ACK
		}
		if s.Seq != iss+1+uint32(len(all)) {
			t.Fatalf("segment at %d, want %d", s.Seq-iss, len(all)+1)
		}
		all = append(all, s.Payload...)
		if s.Flags&pkt.TCPFlagFIN != 0 {
			break
		}
	}
	r := new(mdns.Msg)
	if int(binary.BigEndian.Uint16(all)) != len(all)-2 || r.Unpack(all[2:]) != nil || len(r.Answer) != 60 || r.Truncated {
		t.Fatalf("answer of %d bytes: %d records, TC %v", len(all), len(r.Answer), r.Truncated)
	}
}

// TestTCPLimits: per family, the ninth connection from one address is
// refused and counted while another guest still connects (the positive
// control), and a segment of no connection is reset.
func TestTCPLimits(t *testing.T) {
	for _, c := range []struct {
		name         string
		client, othr netip.AddrPort
		stray        netip.AddrPort
	}{
		{"ipv4", guest, netip.MustParseAddrPort("192.168.122.21:3000"), netip.MustParseAddrPort("192.168.122.22:4000")},
		{"ipv6", guest6, netip.MustParseAddrPort("[fd00:122::21]:3000"), netip.MustParseAddrPort("[fd00:122::22]:4000")},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newTCPHarness(t, Config{Gateway6: gw6})
			for i := range maxTCPPerClient + 1 {
				h.in(netip.AddrPortFrom(c.client.Addr(), uint16(2000+i)), isn, 0, pkt.TCPFlagSYN, 65535, nil, nil)
			}
			for range maxTCPPerClient {
				if s := h.out(t); s.Flags != pkt.TCPFlagSYN|pkt.TCPFlagACK || s.MSS != wantMSS(c.client) || s.Dst.Addr() != c.client.Addr() {
					t.Fatalf("%+v", s)
				}
			}
			// Positive control and sentinel: another guest still connects.
			h.in(c.othr, isn, 0, pkt.TCPFlagSYN, 65535, nil, nil)
			if s := h.out(t); s.Dst != c.othr || s.Flags != pkt.TCPFlagSYN|pkt.TCPFlagACK {
				t.Fatalf("other guest: %+v", s)
			}
			if d := h.s.Stats().Drops[DropTCPConnsFull]; d != 1 {
				t.Fatalf("tcp_conns_full %d, want 1", d)
			}
			// A segment of no connection: RST, seq from its ACK.
			h.in(c.stray, 77, 4242, pkt.TCPFlagACK, 65535, nil, []byte("x"))
			if s := h.out(t); s.Dst != c.stray || s.Flags != pkt.TCPFlagRST || s.Seq != 4242 {
				t.Fatalf("RST %+v", s)
			}
		})
	}
}

// TestTCPLimitsAcrossFamilies: the network's 256 connections are one
// budget over IPv4 and IPv6 clients, 8 per address of either family.
func TestTCPLimitsAcrossFamilies(t *testing.T) {
	h := newTCPHarness(t, Config{Gateway6: gw6, RateLimit: 1 << 30})
	addr := func(i int) netip.Addr {
		if i%2 == 0 {
			return netip.AddrFrom4([4]byte{192, 168, 122, byte(10 + i/2)})
		}
		return netip.AddrFrom16([16]byte{0: 0xfd, 2: 0x01, 3: 0x22, 13: 1, 15: byte(i)})
	}
	n := 0
	for i := 0; n < maxTCPConns; i++ {
		for p := range maxTCPPerClient {
			if n == maxTCPConns {
				break
			}
			h.in(netip.AddrPortFrom(addr(i), uint16(1000+p)), isn, 0, pkt.TCPFlagSYN, 65535, nil, nil)
			h.out(t)
			n++
		}
	}
	for _, src := range []netip.AddrPort{guest, guest6} { // both over the network's total
		h.in(src, isn, 0, pkt.TCPFlagSYN, 65535, nil, nil)
	}
	h.sync(t)
	if d, c := h.s.Stats().Drops[DropTCPConnsFull], h.s.Conns(); d != 2 || c != maxTCPConns {
		t.Fatalf("tcp_conns_full %d, %d connections; want 2, %d", d, c, maxTCPConns)
	}
}

// TestTCPForwardMSS: over each family an answer larger than one segment
// comes in segments of exactly that family's MSS (the client offered
// more), the last with FIN, and reassembles to the upstream's answer.
func TestTCPForwardMSS(t *testing.T) {
	up := tcpUpstream(t) // about 1650 bytes: two segments
	for _, src := range []netip.AddrPort{guest, guest6} {
		t.Run(src.Addr().String(), func(t *testing.T) {
			h := newTCPHarness(t, Config{Gateway6: gw6, Forwarders: []netip.AddrPort{up}})
			iss := h.handshake(t, src, []byte{2, 4, 0x23, 0x28}) // MSS 9000
			q := framed(t, query("big.example.", mdns.TypeA))
			h.in(src, isn+1, iss+1, pkt.TCPFlagACK|pkt.TCPFlagPSH, 65535, nil, q)
			var segs []TCPSegment
			for len(segs) == 0 || segs[len(segs)-1].Flags&pkt.TCPFlagFIN == 0 {
				if s := h.out(t); len(s.Payload) > 0 {
					segs = append(segs, s)
				}
			}
			if len(segs) != 2 || len(segs[0].Payload) != int(wantMSS(src)) || segs[0].Seq != iss+1 || segs[0].Flags&pkt.TCPFlagFIN != 0 ||
				segs[1].Seq != iss+1+uint32(wantMSS(src)) || segs[0].Dst != src || segs[1].Dst != src {
				t.Fatalf("%d segments, first %d bytes at %d", len(segs), len(segs[0].Payload), segs[0].Seq-iss)
			}
			all := append(append([]byte(nil), segs[0].Payload...), segs[1].Payload...)
			r := new(mdns.Msg)
			if int(binary.BigEndian.Uint16(all)) != len(all)-2 || r.Unpack(all[2:]) != nil || len(r.Answer) != 60 || r.Truncated {
				t.Fatalf("answer of %d bytes: %d records, TC %v", len(all), len(r.Answer), r.Truncated)
			}
		})
	}
}

// TestTCPEdges: the responder's handling of the segments a real stack
// (or a hostile guest) sends around the happy path, each checked exactly.
func TestTCPEdges(t *testing.T) {
	h := newTCPHarness(t, Config{Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}})

	// A retransmitted SYN (our SYN-ACK was lost) gets the same SYN-ACK,
	// and no second connection.
	h.in(guest, isn, 0, pkt.TCPFlagSYN, 65535, nil, nil)
	sa := h.out(t)
	h.in(guest, isn, 0, pkt.TCPFlagSYN, 65535, nil, nil)
	if again := h.out(t); again.Seq != sa.Seq || again.Flags != pkt.TCPFlagSYN|pkt.TCPFlagACK || h.s.Conns() != 1 {
		t.Fatalf("retransmitted SYN: %+v (first %+v), %d connections", again, sa, h.s.Conns())
	}
	// A SYN from the same port with another sequence number is a new
	// connection replacing the old one.
	h.in(guest, isn+5000, 0, pkt.TCPFlagSYN, 65535, nil, nil)
	if nw := h.out(t); nw.Ack != isn+5001 || h.s.Conns() != 1 {
		t.Fatalf("new SYN: %+v, %d connections", nw, h.s.Conns())
	}

	// RSTs: out of the window (at rcvNxt+window, and just before rcvNxt)
	// are ignored; in the window, the connection goes.
	iss := h.handshake(t, guest, nil)
	h.in(guest, isn+1+tcpWindow, 0, pkt.TCPFlagRST, 0, nil, nil)
	h.in(guest, isn, 0, pkt.TCPFlagRST, 0, nil, nil)
	h.sync(t)
	if h.s.Conns() != 1 {
		t.Fatalf("an out-of-window RST closed the connection")
	}
	h.in(guest, isn+1+tcpWindow-1, 0, pkt.TCPFlagRST, 0, nil, nil)
	h.sync(t)
	if h.s.Conns() != 0 {
		t.Fatalf("an in-window RST left %d connections", h.s.Conns())
	}
	h.quiet(t, 50*time.Millisecond)

	// A segment we already have (its ACK was lost) gets a duplicate ACK.
	iss = h.handshake(t, guest, nil)
	q := framed(t, query("db.lab.", mdns.TypeA))
	h.in(guest, isn+1, iss+1, pkt.TCPFlagACK, 65535, nil, q[:1])
	if a := h.out(t); a.Ack != isn+2 {
		t.Fatalf("ACK %+v", a)
	}
	h.in(guest, isn+1, iss+1, pkt.TCPFlagACK, 65535, nil, q[:1])
	if a := h.out(t); a.Flags != pkt.TCPFlagACK || a.Ack != isn+2 || a.Seq != iss+1 || len(a.Payload) != 0 {
		t.Fatalf("duplicate ACK %+v", a)
	}
	// An ACK of what we never sent moves nothing: the answer still goes
	// out from its first byte.
	h.in(guest, isn+2, iss+1000, pkt.TCPFlagACK|pkt.TCPFlagPSH, 65535, nil, q[1:])
	if a := h.out(t); a.Seq != iss+1 || a.Flags&pkt.TCPFlagFIN == 0 || int(binary.BigEndian.Uint16(a.Payload)) != len(a.Payload)-2 {
		t.Fatalf("answer after a bogus ACK %+v", a)
	}
	// ... and, unacknowledged, it is sent again from its first byte.
	if r := h.out(t); r.Dst != guest || r.Seq != iss+1 || len(r.Payload) == 0 {
		t.Fatalf("retransmission after a bogus ACK %+v", r)
	}

	// A query longer than any we take: dropped as malformed and reset.
	other := netip.MustParseAddrPort("192.168.122.21:3000")
	iss = h.handshake(t, other, nil)
	long := make([]byte, 2+maxQueryLen+1)
	binary.BigEndian.PutUint16(long, maxQueryLen+1)
	before := h.s.Stats().Drops[DropMalformed]
	h.in(other, isn+1, iss+1, pkt.TCPFlagACK, 65535, nil, long)
	for {
		s := h.out(t)
		if s.Dst == other && s.Flags&pkt.TCPFlagRST != 0 {
			break
		}
	}
	if d := h.s.Stats().Drops[DropMalformed] - before; d != 1 {
		t.Fatalf("malformed +%d, want 1", d)
	}
}

// sync waits until the server has handled everything sent so far: its
// one goroutine answers a stray segment (no connection) with a RST after
// the earlier ones.
func (h *tcpHarness) sync(t *testing.T) {
	t.Helper()
	stray := netip.MustParseAddrPort("192.168.122.99:9")
	h.in(stray, 1, 4242, pkt.TCPFlagACK, 1, nil, []byte("x"))
	for {
		if s := h.out(t); s.Dst == stray && s.Flags == pkt.TCPFlagRST {
			return
		}
	}
}
