package pkt

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// checksumRef is the obvious RFC 1071 loop, 16 bits at a time.
func checksumRef(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestChecksumAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		if got, want := Checksum(b, 0), checksumRef(b); got != want {
			t.Fatalf("len %d: %#04x, want %#04x", n, got, want)
		}
	}
	// The RFC 1071 example: 0001 f203 f4f5 f6f7 -> sum ddf2.
	if got := Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0); got != 0xddf2 {
		t.Fatalf("RFC 1071 example: %#04x", got)
	}
}

func TestChecksumUpdate16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 1000; n++ {
		b := make([]byte, 40)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		hc := ^Checksum(b, 0)
		i := 2 * int(r.UintN(20))
		old := binary.BigEndian.Uint16(b[i:])
		nw := uint16(r.UintN(65536))
		binary.BigEndian.PutUint16(b[i:], nw)
		want := ^Checksum(b, 0)
		got := ChecksumUpdate16(hc, old, nw)
		// 0x0000 and 0xffff are the same value in one's complement.
		if got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("incremental %#04x, full %#04x", got, want)
		}
	}
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if Checksum(b, 0) != checksumRef(b) {
			t.Fatal("differs from the reference")
		}
	})
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 1500, 65536} {
		buf := make([]byte, n)
		b.Run(itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				Checksum(buf, 0)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
