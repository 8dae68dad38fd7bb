package dns

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(100)
	a, b := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	count := func(ip netip.Addr, n int, at int64) int {
		ok := 0
		for range n {
			if l.allow(ip, at) {
				ok++
			}
		}
		return ok
	}
	if got := count(a, 500, now); got != 200 {
		t.Fatalf("burst: %d allowed, want 200", got)
	}
	if got := count(b, 500, now); got != 200 {
		t.Fatalf("another client's burst: %d, want 200", got)
	}
	// Half a second later: 50 more at the steady rate.
	if got := count(a, 500, now+int64(500*time.Millisecond)); got != 50 {
		t.Fatalf("after 0.5 s: %d allowed, want 50", got)
	}
	// Ten idle seconds refill the burst, no more.
	if got := count(a, 500, now+int64(11*time.Second)); got != 200 {
		t.Fatalf("after idling: %d allowed, want 200", got)
	}
}
