package label

import "testing"

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
