package dhcp

import (
	"math/rand/v2"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Per-source rate limit: a guest flooding DHCP costs the gateway's writer
// goroutine at most rateBurst messages at once and then one every
// rateInterval; the rest are dropped as rate_limited before they touch
// the pool. Honest clients send a handful per lease (DISCOVER, REQUEST,
// retries every few seconds), far below it.
const (
	rateInterval = int64(100e6) // ns: 10 messages a second
	rateBurst    = 20
	rateSetBits  = 8
	rateWays     = 4
)

// rateLimiter is a token bucket per source MAC (GCRA: one time per MAC)
// in a fixed table, so its memory does not grow with the MACs a guest
// invents. A MAC shares its set with at most three others; when a fifth
// arrives, the bucket with the most credit goes, which costs its MAC
// nothing: a new bucket starts full, as the evicted one nearly was. The
// set a MAC falls in depends on a random key, so a guest cannot pick MACs
// that push a neighbour's bucket out on purpose. Not safe for concurrent
// use: the Server calls it under its mu.
type rateLimiter struct {
	key      uint64
	interval int64 // rateInterval; benchmarks set 0: never empty
	t        [1 << rateSetBits][rateWays]rateEntry
}

type rateEntry struct {
	mac  pkt.MAC
	used bool
	tat  int64 // when the bucket is full again, unix ns (GCRA's theoretical arrival time)
}

func newRateLimiter() *rateLimiter {
	return &rateLimiter{key: rand.Uint64() | 1, interval: rateInterval}
}

// allow takes one message from m at now (unix ns); false when its bucket
// is empty.
func (l *rateLimiter) allow(m pkt.MAC, now int64) bool {
	h := (m.Uint64() ^ l.key) * 0x9e3779b97f4a7c15
	set := &l.t[h>>(64-rateSetBits)]
	var e *rateEntry
	for i := range set {
		if set[i].used && set[i].mac == m {
			e = &set[i]
			break
		}
	}
	if e == nil {
		e = &set[0]
		for i := range set {
			if !set[i].used {
				e = &set[i]
				break
			}
			if set[i].tat < e.tat {
				e = &set[i]
			}
		}
		*e = rateEntry{mac: m, used: true, tat: now}
	}
	tat := max(e.tat, now)
	if tat-now > (rateBurst-1)*l.interval {
		return false
	}
	e.tat = tat + l.interval
	return true
}

// RateLimiter is the per-MAC limit for another of the gateway's DHCP
// servers (dhcp6): the same table and rate. Not safe for concurrent use.
type RateLimiter struct{ l *rateLimiter }

// NewRateLimiter returns an empty table.
func NewRateLimiter() RateLimiter { return RateLimiter{newRateLimiter()} }

// Allow takes one message from m at now (unix ns); false when its
// bucket is empty.
func (r RateLimiter) Allow(m pkt.MAC, now int64) bool { return r.l.allow(m, now) }
