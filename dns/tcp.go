package dns

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// DNS over TCP (RFC 7766) for answers too large for UDP: a small
// responder, one query per connection, on the server's goroutines. The
// gateway hands segments to port 53 over like queries (Segment); the
// server keeps a bounded table of connections and sends its segments
// through Config.DeliverTCP. It accepts in-order data only (a client
// resends what we drop), sends the answer within the client's window and
// a FIN after it, and resends what is not acknowledged on a timer. It
// serves IPv4 and IPv6 clients alike (a connection is keyed by the
// client's address and port); the one thing the family changes is the
// largest segment a frame carries (tcpMaxMSS).

// TCPSegment is a segment from the gateway's port 53 to a guest.
type TCPSegment struct {
	DstMAC  pkt.MAC
	Dst     netip.AddrPort
	Seq     uint32
	Ack     uint32
	Flags   uint8
	Window  uint16
	MSS     uint16 // with SYN: the MSS option; 0 = none
	Payload []byte // valid until DeliverTCP returns
}

// TCP limits.
const (
	maxTCPConns      = 256 // per network
	maxTCPPerClient  = 8
	tcpIdle          = 10 * time.Second // a connection with nothing going on is forgotten
	tcpRTO           = 250 * time.Millisecond
	tcpMaxRetransmit = 6
	tcpMTU           = 1500 // our frames' largest IP packet: tcpMaxMSS
	tcpDefaultMSS    = 536  // RFC 879, when the SYN has none
	tcpWindow        = 4096 // ours: a query is at most maxQueryLen
)

// tcpMaxMSS is the largest segment of data an MTU-1500 frame carries to
// a: 1460 bytes over IPv4, 1440 over IPv6, whose header is 20 bytes
// longer. We advertise it in our SYN-ACK and never send more.
func tcpMaxMSS(a netip.Addr) int {
	if a.Is4() {
		return tcpMTU - pkt.IPv4MinLen - pkt.TCPMinLen
	}
	return tcpMTU - pkt.IPv6Len - pkt.TCPMinLen
}

type tcpConn struct {
	mac    pkt.MAC
	peer   netip.AddrPort
	iss    uint32 // our initial sequence number
	sndUna uint32 // oldest unacknowledged
	sndNxt uint32 // next to send
	rcvNxt uint32 // next we expect
	acked  uint32 // the last rcvNxt we acknowledged
	wnd    uint32 // the peer's window
	mss    int
	in     []byte // the query as it arrives: length and message
	out    []byte // the answer, with its length, once ready
	asked  bool
	finRcv bool
	last   time.Time // last segment from the peer
	retx   int
	rto    time.Time // when to resend what is unacknowledged
}

// tcpTable holds the connections; its lock is taken by the server's
// goroutine (segments), forwarding goroutines (answers) and the timer.
type tcpTable struct {
	mu        sync.Mutex
	m         map[netip.AddrPort]*tcpConn
	perClient map[netip.Addr]int
}

// TCP reports whether the server answers over TCP (Config.DeliverTCP set).
func (s *Server) TCP() bool { return s.cfg.DeliverTCP != nil }

// Segment hands a TCP segment to port 53 over (header and payload, the
// checksum already checked), as Query does a UDP query.
func (s *Server) Segment(mac pkt.MAC, src netip.AddrPort, seg []byte, now time.Time) {
	if len(seg) < pkt.TCPMinLen {
		s.drop(DropMalformed)
		return
	}
	s.handOver(mac, src, seg, true, now)
}

func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }

// segment runs one segment through its connection.
func (t *tcpTable) segment(s *Server, j *job, now time.Time) {
	seg := pkt.TCP(j.buf[:j.n])
	if !seg.Valid() {
		s.drop(DropMalformed)
		return
	}
	flags := seg.Flags()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.m[j.src]
	switch {
	case flags&pkt.TCPFlagRST != 0:
		if c != nil && seqLEQ(c.rcvNxt, seg.Seq()) && seqLT(seg.Seq(), c.rcvNxt+tcpWindow) {
			t.remove(c)
		}
		return
	case flags&pkt.TCPFlagSYN != 0 && flags&pkt.TCPFlagACK == 0:
		if c != nil && c.rcvNxt == seg.Seq()+1 && c.sndNxt == c.iss+1 {
			t.send(s, c, c.iss, pkt.TCPFlagSYN|pkt.TCPFlagACK, nil) // our SYN-ACK was lost
			return
		}
		if c != nil {
			t.remove(c) // a new connection from the same port
		}
		if len(t.m) >= maxTCPConns || t.perClient[j.src.Addr()] >= maxTCPPerClient {
			s.drop(DropTCPConnsFull)
			return
		}
		iss := rand.Uint32()
		c = &tcpConn{mac: j.mac, peer: j.src, iss: iss, sndUna: iss, sndNxt: iss + 1, rcvNxt: seg.Seq() + 1, acked: seg.Seq(),
			wnd: uint32(seg.Window()), mss: synMSS(seg, tcpMaxMSS(j.src.Addr())), last: now}
		t.m[j.src] = c
		t.perClient[j.src.Addr()]++
		t.send(s, c, c.iss, pkt.TCPFlagSYN|pkt.TCPFlagACK, nil)
		return
	case c == nil:
		t.reset(s, j, seg)
		return
	}
	c.last = now
	if flags&pkt.TCPFlagACK != 0 {
		ack := seg.Ack()
		if seqLT(c.sndUna, ack) && seqLEQ(ack, c.sndNxt) {
			c.sndUna, c.retx, c.rto = ack, 0, now.Add(tcpRTO)
		}
		c.wnd = uint32(seg.Window())
	}
	data := seg.Payload()
	// A segment we already have: the peer missed our ACK of it.
	dup := (len(data) > 0 || flags&pkt.TCPFlagFIN != 0) && seqLT(seg.Seq(), c.rcvNxt)
	if len(data) > 0 && seg.Seq() == c.rcvNxt && !c.asked {
		if len(c.in)+len(data) > 2+maxQueryLen {
			s.drop(DropMalformed) // a query longer than any we take
			t.reset(s, j, seg)
			t.remove(c)
			return
		}
		c.in = append(c.in, data...)
		c.rcvNxt += uint32(len(data))
	} else if len(data) > 0 && seg.Seq() == c.rcvNxt {
		c.rcvNxt += uint32(len(data)) // a second query on the connection: taken, not answered
	}
	if flags&pkt.TCPFlagFIN != 0 && seg.Seq()+uint32(len(data)) == c.rcvNxt && !c.finRcv {
		c.finRcv = true
		c.rcvNxt++
	}
	if !c.asked && len(c.in) >= 2 && len(c.in) >= 2+int(binary.BigEndian.Uint16(c.in)) {
		c.asked = true
		msg := c.in[2 : 2+int(binary.BigEndian.Uint16(c.in))]
		t.mu.Unlock()
		s.resolve(client{mac: c.mac, src: c.peer, conn: c}, msg, now) // may answer at once: answer locks
		t.mu.Lock()
		if t.m[c.peer] != c {
			return
		}
	}
	if c.finRcv && c.out != nil && c.sndUna == c.sndNxt {
		t.send(s, c, c.sndNxt, pkt.TCPFlagACK, nil)
		t.remove(c) // both sides closed, everything acknowledged
		return
	}
	if !t.push(s, c) && (dup || c.acked != c.rcvNxt) {
		t.send(s, c, c.sndNxt, pkt.TCPFlagACK, nil)
	}
}

// answer queues msg as c's answer and starts sending it.
func (t *tcpTable) answer(s *Server, c *tcpConn, msg []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[c.peer] != c || c.out != nil {
		return // gone, or reset and reopened, while we asked upstream
	}
	c.out = make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(c.out, uint16(len(msg)))
	copy(c.out[2:], msg)
	c.rto = time.Now().Add(tcpRTO)
	t.push(s, c)
}

// push sends what of the answer (and then our FIN) the peer's window
// allows past sndNxt. It reports whether it sent anything.
func (t *tcpTable) push(s *Server, c *tcpConn) bool {
	if c.out == nil {
		return false
	}
	base := c.iss + 1 // the answer's first byte
	end := base + uint32(len(c.out))
	sent := false
	for seqLT(c.sndNxt, end) && seqLT(c.sndNxt, c.sndUna+max(c.wnd, 1)) {
		off := c.sndNxt - base
		n := min(uint32(c.mss), end-c.sndNxt, c.sndUna+max(c.wnd, 1)-c.sndNxt)
		flags := uint8(pkt.TCPFlagACK | pkt.TCPFlagPSH)
		if c.sndNxt+n == end {
			flags |= pkt.TCPFlagFIN
		}
		t.send(s, c, c.sndNxt, flags, c.out[off:off+n])
		c.sndNxt += n
		if flags&pkt.TCPFlagFIN != 0 {
			c.sndNxt++
		}
		sent = true
	}
	return sent
}

// send emits one segment of c with sequence number seq.
func (t *tcpTable) send(s *Server, c *tcpConn, seq uint32, flags uint8, data []byte) {
	if s.cfg.DeliverTCP == nil {
		return
	}
	c.acked = c.rcvNxt
	seg := TCPSegment{DstMAC: c.mac, Dst: c.peer, Seq: seq, Ack: c.rcvNxt, Flags: flags, Window: tcpWindow, Payload: data}
	if flags&pkt.TCPFlagSYN != 0 {
		seg.MSS = uint16(tcpMaxMSS(c.peer.Addr()))
	}
	s.cfg.DeliverTCP(seg)
}

// reset answers a segment of no connection with RST (RFC 793).
func (t *tcpTable) reset(s *Server, j *job, seg pkt.TCP) {
	if s.cfg.DeliverTCP == nil || seg.Flags()&pkt.TCPFlagRST != 0 {
		return
	}
	r := TCPSegment{DstMAC: j.mac, Dst: j.src, Flags: pkt.TCPFlagRST}
	if seg.Flags()&pkt.TCPFlagACK != 0 {
		r.Seq = seg.Ack()
	} else {
		r.Ack, r.Flags = seg.Seq()+uint32(len(seg.Payload())), pkt.TCPFlagRST|pkt.TCPFlagACK
	}
	s.cfg.DeliverTCP(r)
}

func (t *tcpTable) remove(c *tcpConn) {
	delete(t.m, c.peer)
	if t.perClient[c.peer.Addr()]--; t.perClient[c.peer.Addr()] <= 0 {
		delete(t.perClient, c.peer.Addr())
	}
}

// tick resends what is unacknowledged past its timeout, and forgets idle
// connections and ones that stopped acknowledging.
func (t *tcpTable) tick(s *Server, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.m {
		if now.Sub(c.last) > tcpIdle || c.retx > tcpMaxRetransmit {
			t.remove(c)
			continue
		}
		if c.out == nil || c.sndUna == c.sndNxt || now.Before(c.rto) {
			continue
		}
		c.retx++
		c.rto = now.Add(tcpRTO << c.retx)
		c.sndNxt = c.sndUna // go back: send again from the oldest unacknowledged
		t.push(s, c)
	}
}

func (s *Server) tcpTimers() {
	defer s.wg.Done()
	tk := time.NewTicker(tcpRTO / 2)
	defer tk.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-tk.C:
			s.tcp.tick(s, now)
		}
	}
}

// Conns is the number of open TCP connections.
func (s *Server) Conns() int {
	s.tcp.mu.Lock()
	defer s.tcp.mu.Unlock()
	return len(s.tcp.m)
}

// synMSS reads the MSS option of a SYN (RFC 793 kind 2), capped to limit:
// what one of our frames carries (tcpMaxMSS).
func synMSS(seg pkt.TCP, limit int) int {
	o := seg.Options()
	for len(o) > 0 {
		switch o[0] {
		case 0:
			return tcpDefaultMSS
		case 1:
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
			return tcpDefaultMSS
		}
		if o[0] == 2 && o[1] == 4 {
			return max(64, min(limit, int(binary.BigEndian.Uint16(o[2:]))))
		}
		o = o[o[1]:]
	}
	return tcpDefaultMSS
}
