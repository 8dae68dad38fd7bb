package autoconf6

import (
	"testing"
	"time"
)

// BenchmarkHandle: what Handle costs for an ordinary advertisement (the
// lock, the checksum, the option walk) and for a frame that is not
// autoconfiguration (the common case on an uplink).
func BenchmarkHandle(b *testing.B) {
	h := newHarness(&testing.T{})
	h.at(-time.Microsecond)
	h.at(0)
	h.at(time.Second)
	ra := slaacRA()
	h.c.Handle(ra)
	h.at(3 * time.Second)
	ipv4 := append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 20)
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"ra", ra}, {"ipv4", ipv4}, {"dhcp6_not_ours", h.dhcpFrame(reply(7, testXID+1))}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.c.Handle(c.frame)
			}
		})
	}
	b.Run("state", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = h.c.State()
		}
	})
}
