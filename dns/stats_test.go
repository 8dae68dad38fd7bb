package dns

import (
	"testing"
	"time"
)

// TestLatencyBuckets: the bounds a caller gets are a copy (changing them
// moves nothing), and an observation falls in the first bucket whose
// upper bound it does not pass, or in the last, above every bound.
func TestLatencyBuckets(t *testing.T) {
	b := LatencyBuckets()
	if len(b) != 11 || b[0] != 0.001 || b[10] != 2.5 {
		t.Fatalf("bounds %v", b)
	}
	b[0] = 100
	if LatencyBuckets()[0] != 0.001 {
		t.Fatal("a caller moved the server's bounds")
	}
	var h histogram
	for _, d := range []time.Duration{time.Millisecond, time.Millisecond + 1, 2500 * time.Millisecond, 3 * time.Second} {
		h.observe(d)
	}
	want := map[int]uint64{0: 1, 1: 1, 10: 1, 11: 1}
	for i := range h.counts {
		if got := h.counts[i].Load(); got != want[i] {
			t.Errorf("bucket %d: %d, want %d", i, got, want[i])
		}
	}
	if got, want := time.Duration(h.sumNs.Load()), 5502*time.Millisecond+1; got != want {
		t.Errorf("sum %v, want %v", got, want)
	}
}
