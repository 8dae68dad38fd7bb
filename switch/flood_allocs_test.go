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
