//go:build !race

package vswitch

import "testing"

// TestSharedFrameReturnsOnce: a frame shared by three owners stays out of
// the pool until the third lets go, and then goes back. (The race
// detector drops pool items at random; hence the build tag.)
func TestSharedFrameReturnsOnce(t *testing.T) {
	f := NewFrame()
	f.refs.Store(2)
	f.Release()
	f.Release()
	if g := NewFrame(); g == f {
		t.Fatal("the pool gave out a frame two owners still hold")
	} else {
		g.Release()
		NewFrame() // take g back out of the per-P slot
	}
	f.Release()
	if g := NewFrame(); g != f {
		t.Fatal("the frame did not go back with its last owner")
	}
}

// TestFillBatchAllocs: a reader whose batch shrinks and grows with the
// traffic moves frames to and from the pool without allocating, and holds
// exactly the frames it offers.
func TestFillBatchAllocs(t *testing.T) {
	frames := make([]*Frame, BatchSize)
	cycle := func() {
		for _, want := range []int{BatchSize, 2, 1, 16, BatchSize} {
			fillBatch(frames, want)
		}
	}
	cycle()
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("%v allocations per cycle, want 0", a)
	}
	fillBatch(frames, 2)
	for i, f := range frames {
		if (f != nil) != (i < 2) {
			t.Fatalf("slot %d holds %v with 2 offered", i, f)
		}
	}
}
