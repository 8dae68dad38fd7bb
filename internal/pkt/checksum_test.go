package pkt

import (
	"bytes"
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

// fold is the naive end-around-carry fold of a wide sum.
func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// FuzzChecksum checks Checksum against the naive reference, with a running
// initial sum and split at an even offset; ChecksumCombine and the
// pseudo-header sum against naive sums; and the RFC 1624 update against a
// full recomputation.
func FuzzChecksum(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint16(0), uint16(0), uint16(0), uint8(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff}, uint16(0xffff), uint16(1), uint16(0xffff), uint8(4))
	f.Add(make([]byte, 20), uint16(0), uint16(7), uint16(0), uint8(2))
	f.Add([]byte{0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0xf7, 9}, uint16(0x1234), uint16(3), uint16(0xfffe), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, initial, split, nw uint16, proto uint8) {
		ref := checksumRef(b)
		if got := Checksum(b, 0); got != ref {
			t.Fatalf("Checksum % x: %#04x, reference %#04x", b, got, ref)
		}
		if got, want := Checksum(b, initial), fold(uint64(initial)+uint64(ref)); got != want {
			t.Fatalf("Checksum from %#04x: %#04x, want %#04x", initial, got, want)
		}
		if len(b) > 0 {
			k := int(split) % (len(b) + 1) &^ 1 // only the last piece may be odd
			if got := Checksum(b[k:], Checksum(b[:k], 0)); got != ref {
				t.Fatalf("split at %d: %#04x, want %#04x", k, got, ref)
			}
		}
		if got, want := ChecksumCombine(initial, nw), fold(uint64(initial)+uint64(nw)); got != want {
			t.Fatalf("ChecksumCombine(%#04x, %#04x) = %#04x, want %#04x", initial, nw, got, want)
		}

		// Pseudo-header over the first 8 (IPv4) or 32 (IPv6) bytes.
		for _, n := range []int{4, 16} {
			if len(b) < 2*n {
				break
			}
			ph := append(append([]byte(nil), b[:2*n]...), 0, proto)
			ph = binary.BigEndian.AppendUint16(ph, split)
			if got, want := PseudoHeaderChecksum(proto, b[:n], b[n:2*n], split), checksumRef(ph); got != want {
				t.Fatalf("pseudo-header (%d-byte addresses): %#04x, want %#04x", n, got, want)
			}
		}

		// Change one 16-bit word of an even-length copy and update the
		// stored checksum incrementally.
		if len(b) < 2 {
			return
		}
		c := append([]byte(nil), b[:len(b)&^1]...)
		i := int(split) % (len(c) / 2) * 2
		hc := ^Checksum(c, 0)
		old := binary.BigEndian.Uint16(c[i:])
		binary.BigEndian.PutUint16(c[i:], nw)
		got, want := ChecksumUpdate16(hc, old, nw), ^checksumRef(c)
		// RFC 1624 never yields 0xffff; all-zero data sums to +0, so a full
		// recomputation stores 0xffff where the update stores 0 (-0).
		allZero := checksumRef(c) == 0
		if allZero {
			want = 0
		}
		if got != want {
			t.Fatalf("update word %d %#04x -> %#04x of checksum %#04x: %#04x, full %#04x", i, old, nw, hc, got, want)
		}
		// Stored next to the data, the updated checksum verifies.
		if !allZero && checksumRef(binary.BigEndian.AppendUint16(c, got)) != 0xffff {
			t.Fatalf("updated checksum %#04x does not verify", got)
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

func TestChecksumExact(t *testing.T) {
	for _, c := range []struct {
		name    string
		b       []byte
		initial uint16
		want    uint16
	}{
		{"empty", nil, 0, 0},
		{"empty keeps the initial sum", nil, 0x1234, 0x1234},
		{"one byte is the high half", []byte{0xab}, 0, 0xab00},
		{"three bytes", []byte{0x12, 0x34, 0x56}, 0, 0x6834},
		{"five bytes", []byte{1, 2, 3, 4, 5}, 0, 0x0906},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, 0, 0x100c},
		{"nine bytes", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 0x1914},
		{"fifteen bytes: every step", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 0, 0x4038},
		{"carry folds back in", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{"carry from the initial sum", []byte{0x00, 0x01}, 0xffff, 0x0001},
		{"all ones stays all ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0xffff, 0xffff},
		{"many carries", bytes.Repeat([]byte{0xff, 0xfe}, 9), 0, 0xfff6},
		{"odd byte with carry", []byte{0xff, 0xff, 0x80}, 0x8000, 0x0001},
	} {
		if got := Checksum(c.b, c.initial); got != c.want {
			t.Errorf("%s: %#04x, want %#04x", c.name, got, c.want)
		}
	}
}

func TestChecksumCombine(t *testing.T) {
	for _, c := range []struct{ a, b, want uint16 }{
		{0, 0, 0},
		{0x1234, 0x1111, 0x2345},
		{0xffff, 0x0001, 0x0001},
		{0xffff, 0xffff, 0xffff},
		{0x8000, 0x8000, 0x0001},
	} {
		if got := ChecksumCombine(c.a, c.b); got != c.want {
			t.Errorf("ChecksumCombine(%#04x, %#04x) = %#04x, want %#04x", c.a, c.b, got, c.want)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	// 0a00+0001 + 0a00+0002 + 0011 + 001c = 0x1430.
	if got := PseudoHeaderChecksum(ProtoUDP, []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}, 28); got != 0x1430 {
		t.Fatalf("IPv4: %#04x", got)
	}
	// fe80::1 -> ff02::2, TCP, 40 bytes: fe80+0001 + ff02+0002 + 0006 + 0028 = 0x1fdb3 -> 0xfdb4.
	src := []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	dst := []byte{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	if got := PseudoHeaderChecksum(ProtoTCP, src, dst, 40); got != 0xfdb4 {
		t.Fatalf("IPv6: %#04x", got)
	}
}

// TestChecksumUpdate16RFC1624 is the worked example of RFC 1624 section 4.
func TestChecksumUpdate16RFC1624(t *testing.T) {
	if got := ChecksumUpdate16(0xdd2f, 0x5555, 0x3285); got != 0x0000 {
		t.Fatalf("%#04x, want 0x0000", got)
	}
	// And one whose result is not the special case: a TTL decrement.
	if got := ChecksumUpdate16(0xb861, 0x4011, 0x3f11); got != 0xb961 {
		t.Fatalf("TTL decrement: %#04x, want 0xb961", got)
	}
}
