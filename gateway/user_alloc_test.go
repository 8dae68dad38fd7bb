//go:build !race

package gateway

import (
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// discardUser is a user stack that takes packets and keeps nothing.
type discardUser struct{ n int }

func (d *discardUser) Inject([]byte) { d.n++ }
func (d *discardUser) Close() error  { return nil }

// The gateway's side of a user uplink allocates nothing: a guest's
// packet to the stack, and the stack's packet onto the network (the
// stack's own per-packet costs are gVisor's; see usernet's benchmark).
func TestUserPathAllocs(t *testing.T) {
	st := &discardUser{}
	u, l := newUserUplink(st)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	p.neigh.learn(guestIP, guestMAC, t0)
	query := guestUDP(remoteIP, 64, 5353, 53, "query")
	answer := udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, guestIP, 64, 53, 5353, []byte("answer"))[pkt.EthernetLen:]
	in := 0
	egress := u.tx.(ringEgress).q
	out := []*vswitch.Frame{nil}
	read := []*vswitch.Frame{vswitch.NewFrame()}
	if allocs := testing.AllocsPerRun(1000, func() {
		p.handle(query, t0) // to the port's queue, then its writer
		egress.Take(out)
		l.WriteBatch(out)
		out[0].Release()
		u.DeliverUser(answer) // to the link's queue, then the port's reader
		l.ReadBatch(read)
		(*uplinkRouter)(u).Deliver(read)
		in += drain(p.q)
	}); allocs != 0 {
		t.Fatalf("%v allocs per packet each way", allocs)
	}
	if st.n != 1001 || in != 1001 {
		t.Fatalf("%d packets to the stack and %d to the guest, want 1001 each", st.n, in)
	}
}
