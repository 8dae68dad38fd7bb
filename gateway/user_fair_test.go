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

// tcpEndFrame is a TCP segment from src with flags and n bytes of payload.
func tcpEndFrame(src netip.Addr, flags uint8, n int) *vswitch.Frame {
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen+pkt.TCPMinLen+n)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Type: pkt.TypeIPv4})
	ip := pkt.IPv4(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv4Fields{TotalLen: uint16(len(b) - pkt.EthernetLen), TTL: 64, Protocol: pkt.ProtoTCP, Src: src, Dst: remoteIP})
	pkt.TCP(ip.Payload()).Encode(&pkt.TCPFields{SrcPort: 40000, DstPort: 80, Flags: flags})
	return frameOf(b)
}

// TestUserFairFlowEnds: behind a guest's full queue of data, its RST and
// FIN segments still go to the stack (up to userEndBytes more; a lost one
// leaves the flow open there for good), data and other TCP segments do
// not, and the room for ends is bounded too.
func TestUserFairFlowEnds(t *testing.T) {
	var u userFair
	u.init()
	src := netip.MustParseAddr("192.168.122.10")
	add := func(f *vswitch.Frame) { u.add(f); f.Release() }
	const chunk = 64 << 10
	for range userBucketBytes / chunk { // exactly full
		add(fairFrame(src, chunk))
	}
	if u.full.Load() != 0 {
		t.Fatalf("%d dropped while filling", u.full.Load())
	}
	add(fairFrame(src, 1000))                               // data: over the bound
	add(tcpEndFrame(src, pkt.TCPFlagACK, 0))                // a bare ACK ends nothing
	add(tcpEndFrame(src, pkt.TCPFlagRST, 0))                // kept
	add(tcpEndFrame(src, pkt.TCPFlagFIN|pkt.TCPFlagACK, 0)) // kept
	if got := u.full.Load(); got != 2 {
		t.Fatalf("dropped %d, want 2 (the data and the ACK; RST and FIN kept)", got)
	}
	// The room for ends is bounded: RSTs carrying 1400 bytes fill what
	// is left of userEndBytes, then are dropped.
	end := tcpEndFrame(src, pkt.TCPFlagRST, 1400)
	size := end.Len()
	end.Release()
	want := (userEndBytes - 2*(pkt.EthernetLen+pkt.IPv4MinLen+pkt.TCPMinLen)) / size
	kept := 0
	for range want + 10 {
		n := u.full.Load()
		add(tcpEndFrame(src, pkt.TCPFlagRST, 1400))
		if u.full.Load() == n {
			kept++
		}
	}
	if kept != want {
		t.Fatalf("%d RSTs of %d bytes kept past the bound, want %d", kept, size, want)
	}
	if endsFlow(fairFrame(src, 100).Bytes()) || endsFlow([]byte{1, 2, 3}) {
		t.Fatal("endsFlow true for UDP or a runt")
	}
}
