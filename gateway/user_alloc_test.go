//go:build !race

package gateway

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// The gateway's side of a user uplink allocates nothing: a guest's
// packet to the stack, and the stack's packet onto the network (the
// stack's own per-packet costs are gVisor's; see usernet's benchmark).
func TestUserPathAllocs(t *testing.T) {
	query := frameOf(guestUDP(remoteIP, 64, 5353, 53, "query"))
	answer := udpFrame(pkt.MAC{}, pkt.MAC{}, remoteIP, guestIP, 64, 53, 5353, []byte("answer"))[pkt.EthernetLen:]
	userRoundTrips(t, query, answer, pkt.VirtioNetHdr{})
}

// Super-frames each way allocate nothing on the gateway's side either: a
// guest's TSO frame routed whole to the stack, and the stack's super-frame
// onto the network.
func TestUserGSOPathAllocs(t *testing.T) {
	g, rem := netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(remoteIP, 80)
	up := gsoTCP(pkt.MAC{}, guestMAC, g, rem, 64, pkt.TCPFlagACK, 30000, 1448, true)
	down := gsoTCP(pkt.MAC{}, pkt.MAC{}, rem, g, 64, pkt.TCPFlagACK, 60000, 1448, true)
	userRoundTrips(t, up, down.Bytes()[pkt.EthernetLen:], ipHdr(down.VNet))
}

// userRoundTrips sends the guest's frame up (its destination MAC set
// here) to a user uplink's stack and the stack's packet down (with header
// h) to the guest, 500 times, and fails unless each way allocates nothing
// and every packet arrives.
func userRoundTrips(t *testing.T, up *vswitch.Frame, down []byte, h pkt.VirtioNetHdr) {
	t.Helper()
	st := &discardUser{}
	u, l := newUserUplink(st)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	p.neigh.learn(guestIP, guestMAC, t0)
	pkt.Ethernet(up.Bytes()).SetDst(p.MAC())
	egress := u.tx.(ringEgress).q
	out := []*vswitch.Frame{nil}
	read := []*vswitch.Frame{vswitch.NewFrame()}
	in, sent := 0, int64(0)
	const runs = 500
	if allocs := testing.AllocsPerRun(runs, func() {
		p.WriteBatch([]*vswitch.Frame{up}) // to the port's queue, then its writer
		egress.Take(out)
		l.WriteBatch(out)
		out[0].Release()
		for sent++; st.n.Load() != sent; { // the link's injector hands it over
			runtime.Gosched()
		}
		u.DeliverUser(down, h) // to the link's queue, then the port's reader
		l.ReadBatch(read)
		(*uplinkRouter)(u).Deliver(read)
		in += drain(p.q)
	}); allocs != 0 {
		t.Fatalf("%v allocs per packet each way", allocs)
	}
	if sent != runs+1 || in != runs+1 {
		t.Fatalf("%d packets to the stack and %d to the guest, want %d each", sent, in, runs+1)
	}
}
