package gateway

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Fairness in front of the stack.
//
// Every guest's packets to the outside meet in one place, the stack, which
// takes them one at a time. Fed from the port's one FIFO, a guest that
// floods (many uploads of 64 KiB super-frames) fills it, and another
// guest's ACKs and SYNs wait behind a queue of its frames: measured, a
// download fell from 6.3 to 0.6 MiB/s and a ping took 83 ms. So the
// port's writer only sorts: it copies each packet into one of userBuckets
// queues by its source address, each bounded (userBucketBytes; over it
// the packet is dropped, counted as the link's source_queue_full), and
// one goroutine hands them to the stack round robin, a quantum of bytes
// from each non-empty queue per turn (deficit round robin). A guest then
// waits for at most one quantum of each other busy guest, and a flood
// fills only its own queue. Guests whose addresses hash alike share a
// queue (64 of them).

const (
	userBuckets     = 64
	userBucketBytes = 512 << 10 // what one queue holds: 8 super-frames
	userBucketLen   = 512       // and at most this many packets
	userQuantum     = 64 << 10  // bytes a queue hands the stack per turn
	// userEndBytes is room past userBucketBytes for segments that end a
	// TCP flow (FIN or RST): behind a guest's own full queue of data, a
	// lost RST leaves its flow open in the stack for good, holding a
	// host socket (a killed flooder's 256 flows did, under load).
	userEndBytes = 64 << 10
)

// userBucket is one source's queue: the port's writer puts, the injector
// takes.
type userBucket struct {
	q       *ring.Ring[vswitch.Frame]
	bytes   atomic.Int64 // held in q
	active  atomic.Bool  // on the link's active queue, or being served
	deficit int          // the injector's: bytes it may still hand over this turn
}

// userFair is the link's set of queues and the queue of those to serve.
type userFair struct {
	buckets [userBuckets]userBucket
	active  *ring.Queue[userBucket]
	full    atomic.Uint64 // packets dropped on a full source queue
	// take is the injector's: frames taken from a bucket.
	take [1]*vswitch.Frame
}

func (u *userFair) init() {
	for i := range u.buckets {
		u.buckets[i].q = ring.New[vswitch.Frame](userBucketLen)
	}
	u.active = ring.NewQueue[userBucket](userBuckets)
}

// bucketOf is the queue of f's source address.
func (u *userFair) bucketOf(f *vswitch.Frame) *userBucket {
	b := f.Bytes()
	var src uint32
	if len(b) >= pkt.EthernetLen+pkt.IPv4MinLen {
		src = binary.BigEndian.Uint32(b[pkt.EthernetLen+12:])
	}
	return &u.buckets[(src*0x9e3779b1)>>(32-6)] // 64 buckets: the hash's top 6 bits
}

// add copies f (the caller keeps it) into its source's queue, or drops it
// on a full one; it runs on the port's writer.
func (u *userFair) add(f *vswitch.Frame) {
	b := u.bucketOf(f)
	n := int64(f.Len())
	// Counted before it is queued, so the injector never sees a bucket
	// empty by its count that holds a packet. A frame is looked into
	// (endsFlow) only once the queue is over its bound.
	if held := b.bytes.Add(n); held > userBucketBytes &&
		(held > userBucketBytes+userEndBytes || !endsFlow(f.Bytes())) {
		b.bytes.Add(-n)
		u.full.Add(1)
		return
	}
	c := vswitch.NewFrameFor(f.Len())
	c.SetData(f.Bytes())
	c.VNet = f.VNet
	if !b.q.Put(c) {
		b.bytes.Add(-n)
		c.Release()
		u.full.Add(1)
		return
	}
	if b.active.CompareAndSwap(false, true) {
		u.active.Put(b) // never full: each bucket is on it at most once
	}
}

// serve hands the stack what the queues hold, round robin, until done
// closes; inject gets each frame, which serve releases after.
func (u *userFair) serve(done <-chan struct{}, inject func(*vswitch.Frame)) {
	var turn [userBuckets]*userBucket
	for {
		n := u.active.Wait(turn[:], done)
		if n == 0 {
			return
		}
		for _, b := range turn[:n] {
			u.turn(b, inject)
		}
	}
}

// turn serves one bucket for a quantum; one that still holds packets goes
// back on the active queue, behind the others' turns.
func (u *userFair) turn(b *userBucket, inject func(*vswitch.Frame)) {
	b.deficit += userQuantum
	for b.deficit > 0 {
		if b.q.Take(u.take[:]) == 0 {
			// Empty: no deficit is kept for later. A packet the writer
			// added after the Take found the flag up and did not queue
			// the bucket: its count says so, and it is queued here.
			b.deficit = 0
			b.active.Store(false)
			if b.bytes.Load() > 0 && b.active.CompareAndSwap(false, true) {
				u.active.Put(b)
			}
			return
		}
		f := u.take[0]
		u.take[0] = nil
		b.deficit -= f.Len()
		b.bytes.Add(-int64(f.Len()))
		inject(f)
		f.Release()
	}
	u.active.Put(b)
}

// endsFlow reports whether frame b is an IPv4 TCP segment with FIN or RST.
func endsFlow(b []byte) bool {
	if len(b) < pkt.EthernetLen || pkt.Ethernet(b).Type() != pkt.TypeIPv4 {
		return false
	}
	ip := pkt.IPv4(b[pkt.EthernetLen:])
	if !ip.Valid() || ip.Protocol() != pkt.ProtoTCP || ip.IsFragment() {
		return false
	}
	t := pkt.TCP(ip.Payload())
	return t.Valid() && t.Flags()&(pkt.TCPFlagFIN|pkt.TCPFlagRST) != 0
}
