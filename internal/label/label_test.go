package label

import (
	"sync/atomic"
	"testing"
)

type small uint8
type signed int

func TestOf(t *testing.T) {
	names := []string{"a", "b", "c"}
	for _, c := range []struct {
		got, want string
	}{
		{Of(names, small(0)), "a"},
		{Of(names, small(2)), "c"},
		{Of(names, small(3)), "unknown"},
		{Of(names, small(255)), "unknown"},
		{Of(names, signed(1)), "b"},
		{Of(names, signed(-1)), "unknown"},
		{Of(nil, signed(0)), "unknown"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Of(names, small(1)) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func TestLoadAndCounts(t *testing.T) {
	var src [3]atomic.Uint64
	src[0].Store(7)
	src[1].Store(1)
	src[2].Store(2)
	var d [3]uint64
	Load(d[:], src[:])
	if d != [3]uint64{7, 1, 2} {
		t.Fatalf("Load: %v", d)
	}
	short := make([]uint64, 2)
	Load(short, src[:])
	if short[0] != 7 || short[1] != 1 {
		t.Fatalf("Load into a shorter table: %v", short)
	}
	got := Counts([]string{"", "a", "b"}, src[:])
	if len(got) != 2 || got["a"] != 1 || got["b"] != 2 {
		t.Fatalf("Counts: %v", got)
	}
	if n := testing.AllocsPerRun(100, func() { Load(d[:], src[:]) }); n != 0 {
		t.Errorf("Load: %v allocs", n)
	}
}
