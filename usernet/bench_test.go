package usernet

import (
	"io"
	"net"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// BenchmarkTCPUpload: a guest (a second gVisor stack, so its cost is in
// the figure too) sends 64 KiB writes through the Stack to a loopback
// server that discards them, as MTU-sized segments with complete
// checksums, or as TSO super-frames with partial checksums.
func BenchmarkTCPUpload(b *testing.B) {
	l := testnet.Serve(b, "tcp", "127.0.0.1:0", func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
	for _, gso := range []bool{false, true} {
		name := "segments"
		if gso {
			name = "super-frames"
		}
		b.Run(name, func(b *testing.B) {
			_, g := newPairGSO(b, Config{}, l.Addr().String(), gso)
			c, err := g.dialTCP(80)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
