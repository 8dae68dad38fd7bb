package gateway

import (
	"sync"
	"sync/atomic"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// userLink is a user uplink's switch port, the stack seen as a device:
// what guests send out is written to it (WriteBatch hands each packet to
// the stack), what the stack sends guests is read from it. So the switch
// runs, counts and captures a user uplink as it does an AF_PACKET one
// (a routed port named after the uplink), with its own bounded queues.
type userLink struct {
	st   UserStack
	mac  pkt.MAC // the uplink's: the destination of what the stack sends
	peer pkt.MAC // the stack's side, as captures show it
	in   *ring.Queue[vswitch.Frame]
	done chan struct{}
	once sync.Once
	full atomic.Uint64 // packets of the stack dropped on a full queue
	// badOffload counts guests' super-frames that could not be cut for
	// the stack (the gateway checks them first: never seen yet).
	badOffload atomic.Uint64
	inject     func(*vswitch.Frame) // injectFrame
	add        func(*vswitch.Frame) // fair.add: method values made once, so the path allocates nothing
	fair       userFair             // the queues in front of the stack (user_fair.go)
	served     chan struct{}        // closed once the injector is gone
	// batch is ReadBatch's: only the port's reader uses it.
	batch [vswitch.BatchSize]*vswitch.Frame
}

// userQueueLen bounds what the stack has sent and the port has not read:
// as a device's ring, 1024 frames (about 1.5 MiB).
const userQueueLen = 1024

var _ vswitch.Port = (*userLink)(nil)

func newUserLink(st UserStack) *userLink {
	l := &userLink{st: st, in: ring.NewQueue[vswitch.Frame](userQueueLen), done: make(chan struct{}), served: make(chan struct{})}
	l.inject, l.add = l.injectFrame, l.fair.add
	l.fair.init()
	go func() {
		defer close(l.served)
		l.fair.serve(l.done, l.inject)
	}()
	return l
}

// push queues a packet the stack sends (not kept), with its virtio-net
// header (offsets from the IP header), as a frame from the stack to the
// uplink; it runs on the stack's goroutines.
func (l *userLink) push(ip pkt.IPv4, h pkt.VirtioNetHdr) {
	n := pkt.EthernetLen + ip.TotalLen()
	f := vswitch.NewFrameFor(n + 2*pkt.VLANTagLen) // room for the tags a trunk's egress may push
	b := f.RxBuf()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: l.mac, Src: l.peer, Type: pkt.TypeIPv4})
	copy(b[pkt.EthernetLen:], ip[:ip.TotalLen()])
	f.SetLen(n)
	h.Shift(pkt.EthernetLen)
	f.VNet = h
	if !l.in.Put(f) {
		l.full.Add(1)
		f.Release()
	}
}

// ReadBatch takes what the stack sent, swapping its frames into frames.
func (l *userLink) ReadBatch(frames []*vswitch.Frame) (int, error) {
	select {
	case <-l.done: // what is still queued goes with the link
		return 0, vswitch.ErrClosed
	default:
	}
	n := l.in.Wait(l.batch[:min(len(frames), len(l.batch))], l.done)
	if n == 0 {
		return 0, vswitch.ErrClosed // Wait returns 0 only once done is closed
	}
	for i, f := range l.batch[:n] {
		frames[i].Release()
		frames[i], l.batch[i] = f, nil
	}
	return n, nil
}

// WriteBatch queues each frame's IPv4 packet for the stack by its source
// (user_fair.go), with its virtio-net header, which the stack takes as it
// is for a TCP super-frame or a partial checksum; a super-frame of
// another kind (UDP segmentation offload) is cut into segments first.
func (l *userLink) WriteBatch(frames []*vswitch.Frame) (int, error) {
	select {
	case <-l.done:
		return 0, vswitch.ErrClosed
	default:
	}
	for _, f := range frames {
		if f.Len() <= pkt.EthernetLen {
			continue
		}
		if f.VNet.IsGSO() && f.VNet.GSOType&^pkt.VirtioNetHdrGSOECN != pkt.VirtioNetHdrGSOTCPv4 {
			if !vswitch.Complete(f, l.add) {
				l.badOffload.Add(1)
			}
			continue
		}
		l.fair.add(f)
	}
	return len(frames), nil
}

// injectFrame hands f's packet to the stack.
func (l *userLink) injectFrame(f *vswitch.Frame) {
	h := f.VNet
	h.Shift(-pkt.EthernetLen)
	l.st.Inject(f.Bytes()[pkt.EthernetLen:], h)
}

// Features: the link takes the virtio-net header, so the switch hands it
// guests' super-frames whole.
func (l *userLink) Features() vswitch.Features { return vswitch.FeatVNetHdr }

// Counters are the link's own, for show ports and metrics.
func (l *userLink) Counters() map[string]uint64 {
	return map[string]uint64{"queue_full": l.full.Load(), "bad_offload": l.badOffload.Load(), "source_queue_full": l.fair.full.Load()}
}

// Close stops the link and its stack.
func (l *userLink) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		<-l.served // no Inject once the stack closes
		err = l.st.Close()
	})
	return err
}
