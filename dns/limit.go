package dns

import (
	"net/netip"
	"time"
)

// maxClients bounds the rate limiter's table: a prefix as large as /8
// cannot grow it past this; when full, it starts over.
const maxClients = 4096

// limiter is a token bucket per client address, refilled at rate a second
// up to twice that. The server's goroutine owns it.
type limiter struct {
	rate float64
	m    map[netip.Addr]bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (l *limiter) allow(a netip.Addr, now time.Time) bool {
	b, ok := l.m[a]
	if !ok {
		if len(l.m) >= maxClients {
			clear(l.m)
		}
		b = bucket{tokens: 2 * l.rate, last: now}
	}
	b.tokens = min(2*l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	ok = b.tokens >= 1
	if ok {
		b.tokens--
	}
	l.m[a] = b
	return ok
}
