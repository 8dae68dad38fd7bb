package ring

import (
	"sync"
	"testing"
)

type Frame struct{ n int }

func TestRingConcurrentProducers(t *testing.T) {
	r := New[Frame](64)
	const producers, each = 4, 5000
	var wg sync.WaitGroup
	frames := make([]*Frame, producers*each)
	for i := range frames {
		frames[i] = &Frame{n: i}
	}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for !r.Put(frames[p*each+i]) {
				}
			}
		}(p)
	}
	seen := make([]bool, len(frames))
	lastPer := make([]int, producers)
	for i := range lastPer {
		lastPer[i] = -1
	}
	out := make([]*Frame, 16)
	for got := 0; got < len(frames); {
		n := r.Take(out)
		for _, f := range out[:n] {
			if seen[f.n] {
				t.Fatalf("frame %d taken twice", f.n)
			}
			seen[f.n] = true
			p, i := f.n/each, f.n%each
			if i <= lastPer[p] {
				t.Fatalf("producer %d: %d after %d", p, i, lastPer[p])
			}
			lastPer[p] = i
		}
		got += n
	}
	wg.Wait()
}

func TestRingFull(t *testing.T) {
	r := New[Frame](10) // rounds up to 16
	if r.Cap() != 16 {
		t.Fatalf("cap %d", r.Cap())
	}
	for i := 0; i < 16; i++ {
		if !r.Put(&Frame{}) {
			t.Fatalf("put %d refused", i)
		}
	}
	if r.Put(&Frame{}) {
		t.Fatal("full ring took a frame")
	}
	out := make([]*Frame, 4)
	if n := r.Take(out); n != 4 || r.Len() != 12 {
		t.Fatalf("took %d, len %d", n, r.Len())
	}
	if !r.Put(&Frame{}) {
		t.Fatal("ring with room refused")
	}
}
