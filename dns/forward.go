package dns

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

var errUpstream = errors.New("dns: no usable answer from upstream")

// forward asks the forwarders in turn, within Timeout in all, and delivers
// the first usable answer, or SERVFAIL. A TCP client's query goes
// upstream over TCP, so a large answer comes back whole.
func (s *Server) forward(c client, m *mdns.Msg, key string, fw []netip.AddrPort) {
	defer s.wg.Done()
	defer s.inflight.Add(-1)
	clientID, limit := m.Id, c.limit(m)
	if opt := m.IsEdns0(); opt != nil && opt.UDPSize() > maxUDPLen {
		opt.SetUDPSize(maxUDPLen) // larger answers come truncated: the guest retries over TCP
	}
	start := time.Now()
	deadline := start.Add(s.cfg.Timeout)
	for i, up := range fw {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		raw, r, err := exchange(m, up, c.conn != nil, time.Now().Add(left/time.Duration(len(fw)-i)), s.done)
		if err != nil {
			continue
		}
		now := time.Now()
		s.latency.observe(now.Sub(start))
		s.cache.put(key, raw, cacheTTL(r), now)
		setID(raw, clientID)
		out, ok := fit(raw, limit, make([]byte, 0, min(limit, len(raw))))
		if !ok {
			break
		}
		s.deliver(c, out, ResultForwarded)
		return
	}
	m.Id = clientID
	r := new(mdns.Msg)
	r.SetRcode(m, mdns.RcodeServerFailure)
	r.RecursionAvailable = true
	if opt := m.IsEdns0(); opt != nil {
		r.SetEdns0(maxUDPLen, opt.Do())
	}
	if out, err := r.Pack(); err == nil {
		s.deliver(c, out, ResultServfail)
	}
}

// exchange sends m to up from a fresh socket (over UDP a random source
// port and a random ID: an off-path guess has to match both) and returns
// the first reply to it. SERVFAIL and REFUSED count as no answer, so the
// next forwarder is asked.
func exchange(m *mdns.Msg, up netip.AddrPort, tcp bool, deadline time.Time, done <-chan struct{}) ([]byte, *mdns.Msg, error) {
	m.Id = uint16(rand.Uint32())
	q, err := m.Pack()
	if err != nil {
		return nil, nil, err
	}
	network := "udp"
	if tcp {
		network = "tcp"
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial(network, up.String())
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // Close of the server ends the wait at once
		select {
		case <-done:
			c.SetDeadline(time.Now())
		case <-stop:
		}
	}()
	c.SetDeadline(deadline)
	co := &mdns.Conn{Conn: c, UDPSize: 4096}
	if _, err := co.Write(q); err != nil {
		return nil, nil, err
	}
	want := m.Question[0]
	for {
		raw, err := co.ReadMsgHeader(nil)
		if errors.Is(err, mdns.ErrShortRead) && !tcp {
			continue
		}
		if err != nil {
			return nil, nil, err // timeout, ICMP unreachable on the connected socket, TCP closed
		}
		r := new(mdns.Msg)
		if r.Unpack(raw) != nil || r.Id != m.Id || !r.Response || len(r.Question) != 1 ||
			!strings.EqualFold(r.Question[0].Name, want.Name) || r.Question[0].Qtype != want.Qtype || r.Question[0].Qclass != want.Qclass {
			if tcp {
				return nil, nil, errUpstream // a TCP stream has one answer for us
			}
			continue // not the answer to this query: keep waiting
		}
		if r.Rcode == mdns.RcodeServerFailure || r.Rcode == mdns.RcodeRefused {
			return nil, nil, errUpstream
		}
		return raw, r, nil
	}
}

// upstreams is where non-local queries go: the configured forwarders, or
// the host's resolv.conf nameservers, looked at again at most once a
// second and re-read when the file changed.
type upstreams struct {
	static []netip.AddrPort
	path   string

	mu      sync.Mutex
	checked time.Time
	modTime time.Time
	size    int64
	list    []netip.AddrPort
}

func (u *upstreams) servers(now time.Time) []netip.AddrPort {
	if len(u.static) > 0 {
		return u.static
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.checked.IsZero() && now.Sub(u.checked) < time.Second {
		return u.list
	}
	u.checked = now
	fi, err := os.Stat(u.path)
	if err != nil {
		u.list, u.modTime, u.size = nil, time.Time{}, 0
		return nil
	}
	if fi.ModTime().Equal(u.modTime) && fi.Size() == u.size && u.list != nil {
		return u.list
	}
	data, err := os.ReadFile(u.path)
	if err != nil {
		return u.list
	}
	u.modTime, u.size = fi.ModTime(), fi.Size()
	u.list = ParseResolvConf(data)
	return u.list
}

// ParseResolvConf is the nameserver addresses of a resolv.conf, port 53.
func ParseResolvConf(data []byte) []netip.AddrPort {
	out := []netip.AddrPort{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53))
		}
	}
	return out
}
