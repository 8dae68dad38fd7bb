package gateway

import (
	"testing"

	vswitch "github.com/vswitch/vswitch/switch"
)

// BenchmarkRouteGSO: a guest's 60000-byte TCP super-frame routed out through
// the NAT whole, and the outside's GRO'd answer as long delivered back, on
// an established flow.
func BenchmarkRouteGSO(b *testing.B) {
	p, u, out, in := gsoFlow()
	frames := []*vswitch.Frame{out}
	b.Run("out/nat", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(out.Len()))
		for b.Loop() {
			p.WriteBatch(frames)
			if drain(u.tx.(ringEgress).q) != 1 {
				b.Fatal("not routed")
			}
		}
	})
	b.Run("in/nat", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(in.Len()))
		for b.Loop() {
			f := vswitch.NewBigFrame()
			f.SetData(in.Bytes())
			f.VNet = in.VNet
			if !u.handle(f, t0) {
				b.Fatal("not delivered")
			}
			drain(p.q)
		}
	})
}
