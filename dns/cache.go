package dns

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// maxCacheTTL caps how long an answer is kept whatever its TTL says.
const maxCacheTTL = time.Hour

// cache keeps upstream answers by question and the flags that change an
// answer, for the smallest TTL in them, bounded in entries and bytes;
// the oldest entry goes first. Stored messages are never changed, so a
// reader may use one outside the lock.
type cache struct {
	mu       sync.Mutex
	maxLen   int
	maxBytes int
	bytes    int
	seq      uint64
	m        map[string]*cacheEntry
	order    []cacheRef // insertion order; stale refs are skipped
}

type cacheEntry struct {
	raw     []byte
	stored  time.Time
	expires time.Time
	seq     uint64
}

type cacheRef struct {
	key string
	seq uint64
}

func newCache(entries, bytes int) *cache {
	return &cache{maxLen: entries, maxBytes: bytes, m: map[string]*cacheEntry{}}
}

// cacheKey is the question and the flags upstream answers differently:
// EDNS0 present, DO and CD.
func cacheKey(m *mdns.Msg) string {
	q := m.Question[0]
	var b strings.Builder
	b.WriteString(strings.ToLower(q.Name))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(q.Qtype)))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(q.Qclass)))
	flags := byte('0')
	if opt := m.IsEdns0(); opt != nil {
		flags |= 1
		if opt.Do() {
			flags |= 2
		}
	}
	if m.CheckingDisabled {
		flags |= 4
	}
	b.WriteByte('/')
	b.WriteByte(flags)
	return b.String()
}

// cacheTTL is how long r may be kept: 0 = not at all.
func cacheTTL(r *mdns.Msg) time.Duration {
	if r.Truncated || (r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeNameError) {
		return 0
	}
	ttl, seen := uint32(0), false
	take := func(v uint32) {
		if !seen || v < ttl {
			ttl, seen = v, true
		}
	}
	for _, sec := range [][]mdns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == mdns.TypeOPT {
				continue
			}
			take(rr.Header().Ttl)
			if soa, ok := rr.(*mdns.SOA); ok && len(r.Answer) == 0 {
				take(soa.Minttl) // negative caching, RFC 2308 section 5
			}
		}
	}
	return min(time.Duration(ttl)*time.Second, maxCacheTTL)
}

// put stores an answer (copied) for key.
func (c *cache) put(key string, raw []byte, ttl time.Duration, now time.Time) {
	if ttl <= 0 || len(raw) > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.bytes -= len(old.raw)
		delete(c.m, key)
	}
	c.seq++
	c.m[key] = &cacheEntry{raw: append([]byte(nil), raw...), stored: now, expires: now.Add(ttl), seq: c.seq}
	c.bytes += len(raw)
	c.order = append(c.order, cacheRef{key, c.seq})
	for len(c.m) > c.maxLen || c.bytes > c.maxBytes || len(c.order) > 2*c.maxLen {
		ref := c.order[0]
		c.order = c.order[1:]
		if e, ok := c.m[ref.key]; ok && e.seq == ref.seq {
			c.bytes -= len(e.raw)
			delete(c.m, ref.key)
		}
	}
}

func (c *cache) get(key string, now time.Time) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.bytes -= len(e.raw)
		delete(c.m, key)
		return nil, false
	}
	return e, true
}

// len is the number of entries and their bytes.
func (c *cache) len() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.bytes
}

// answer is the cached answer to m with its TTLs counted down, packed
// into buf and cut to limit bytes, or false.
func (c *cache) answer(key string, m *mdns.Msg, now time.Time, buf []byte, limit int) ([]byte, bool) {
	e, ok := c.get(key, now)
	if !ok {
		return nil, false
	}
	r := new(mdns.Msg)
	if r.Unpack(e.raw) != nil {
		return nil, false
	}
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, sec := range [][]mdns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Rrtype != mdns.TypeOPT {
				h.Ttl -= min(h.Ttl, age)
			}
		}
	}
	r.Id = m.Id
	r.Question = m.Question // the client's spelling of the name
	out, err := r.PackBuffer(buf)
	if err != nil {
		return nil, false
	}
	return fit(out, limit, buf)
}

func setID(raw []byte, id uint16) { binary.BigEndian.PutUint16(raw, id) }
