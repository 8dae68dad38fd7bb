package gateway

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// fairFrame is a frame from src of n bytes (only its source matters).
func fairFrame(src netip.Addr, n int) *vswitch.Frame {
	b := make([]byte, n)
	ip := pkt.IPv4(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv4Fields{TotalLen: uint16(n - pkt.EthernetLen), TTL: 64, Protocol: pkt.ProtoUDP, Src: src, Dst: remoteIP})
	return frameOf(b)
}

// TestUserFair: a flooding source holds at most userBucketBytes in front
// of the stack (the rest dropped and counted exactly), and another
// source's packet, queued behind the whole flood, goes to the stack after
// at most one quantum of it, not after all of it.
func TestUserFair(t *testing.T) {
	var u userFair
	u.init()
	flooder, honest := netip.MustParseAddr("192.168.122.10"), netip.MustParseAddr("192.168.122.11")
	if u.bucketOf(fairFrame(flooder, 100)) == u.bucketOf(fairFrame(honest, 100)) {
		t.Fatal("the two sources share a queue: pick others")
	}
	const big, n = 60000, 20
	for range n {
		f := fairFrame(flooder, big)
		u.add(f)
		f.Release()
	}
	kept := userBucketBytes / big
	if got := u.full.Load(); got != uint64(n-kept) {
		t.Fatalf("%d of the flood dropped, want %d (%d kept in %d bytes)", got, n-kept, kept, userBucketBytes)
	}
	f := fairFrame(honest, 100)
	u.add(f)
	f.Release()

	var order []netip.Addr
	inject := func(f *vswitch.Frame) { order = append(order, pkt.IPv4(f.Bytes()[pkt.EthernetLen:]).Src()) }
	var turn [userBuckets]*userBucket
	for rounds := 0; ; rounds++ {
		k := u.active.Take(turn[:])
		if k == 0 {
			break
		}
		if rounds > 2*kept {
			t.Fatalf("still serving after %d rounds: %v", rounds, order)
		}
		for _, b := range turn[:k] {
			u.turn(b, inject)
		}
	}
	at := -1
	for i, a := range order {
		if a == honest {
			at = i
		}
	}
	// The flooder's first turn takes one quantum: its first frame, and a
	// second (the deficit is checked before a frame, as no frame can be
	// looked at before it is taken).
	if len(order) != kept+1 || at != 2 {
		t.Fatalf("injected %v: want %d frames, the honest one third", order, kept+1)
	}
	for i := range u.buckets {
		if b := &u.buckets[i]; b.bytes.Load() != 0 || b.active.Load() {
			t.Fatalf("a bucket left with %d bytes, active %v", b.bytes.Load(), b.active.Load())
		}
	}
}
