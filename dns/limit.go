package dns

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// limitSlots is the size of the rate limiter's table: a guest's slot is
// the low bits of its address, so on a /20 or smaller network every guest
// has its own; on a larger one guests whose addresses agree in those bits
// share one.
const limitSlots = 4096

// limiter is a per-client rate limit on the frame path (GCRA, the token
// bucket as one timestamp): each slot holds the theoretical arrival time
// of the client's next query. A query is allowed when that time is at
// most burst intervals ahead of now; allowing one moves it an interval on.
// One CAS, no lock, no allocation; the gateway's writer is its only user,
// but the CAS keeps it right for any number.
type limiter struct {
	interval int64 // ns between queries at the steady rate
	burst    int64 // ns of credit: burst queries at once
	tat      [limitSlots]atomic.Int64
}

func newLimiter(rate int) *limiter {
	iv := int64(time.Second) / int64(rate)
	return &limiter{interval: iv, burst: 2 * int64(rate) * iv}
}

func (l *limiter) allow(a netip.Addr, now int64) bool {
	b := a.As16()
	slot := &l.tat[(uint(b[14])<<8|uint(b[15]))%limitSlots]
	for {
		tat := slot.Load()
		t := max(tat, now)
		if t-now+l.interval > l.burst {
			return false
		}
		if slot.CompareAndSwap(tat, t+l.interval) {
			return true
		}
	}
}
