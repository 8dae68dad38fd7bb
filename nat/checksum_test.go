package nat

import (
	"encoding/binary"
	"testing"
)

// udpSumming builds a UDP packet (guest:5000 -> remote:53) whose last
// two payload bytes are x, with a complete checksum.
func udpSumming(x uint16) []byte {
	b := rawPacket(protoUDP, guest, remote, 5000, 53, false)
	b = binary.BigEndian.AppendUint16(b, x)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[24:], 10)
	normalize(b, false)
	return b
}

// TestUDPChecksumNeverZero: an incremental update can land on 0x0000,
// which in UDP means "no checksum" (RFC 768 sends a computed zero as
// 0xffff). The payload 0xd7b5 makes the translated sum come out zero.
func TestUDPChecksumNeverZero(t *testing.T) {
	tb := New(Config{})
	b := udpSumming(0xd7b5)
	if v, _ := tb.Outbound(Packet{IP: b}, uplink, now); v != Translated {
		t.Fatalf("verdict %v", v)
	}
	if f := binary.BigEndian.Uint16(b[26:]); f != 0xffff {
		t.Fatalf("UDP checksum %#04x, want 0xffff", f)
	}
	checkSums(t, b, false, false)

	// The same on the way in: a reply whose sum, once addressed to the
	// guest, is zero (payload 0xa707 sums to zero from the guest's side).
	g := udpSumming(0xa707)
	if binary.BigEndian.Uint16(g[26:]) != 0xffff {
		t.Fatal("test packet: the sum should be a computed zero")
	}
	r := append([]byte(nil), g...)
	copy(r[12:16], g[16:20])
	u := uplink.As4()
	copy(r[16:20], u[:])
	copy(r[20:22], g[22:24])
	copy(r[22:24], g[20:22])
	normalize(r, false)
	if v, _ := tb.Inbound(Packet{IP: r}, now); v != Translated {
		t.Fatalf("reply verdict %v", v)
	}
	if f := binary.BigEndian.Uint16(r[26:]); f != 0xffff {
		t.Fatalf("reply UDP checksum %#04x, want 0xffff", f)
	}
	checkSums(t, r, false, false)
}

// TestUDPNoChecksumStaysNone: a UDP packet without a checksum (0) is not
// given one by a rewrite.
func TestUDPNoChecksumStaysNone(t *testing.T) {
	tb := New(Config{})
	tb.Outbound(Packet{IP: rawPacket(protoUDP, guest2, remote, 5000, 53, false)}, uplink, now)
	b := rawPacket(protoUDP, guest, remote, 5000, 53, false)
	b[26], b[27] = 0, 0
	if v, _ := tb.Outbound(Packet{IP: b}, uplink, now); v != Translated {
		t.Fatalf("verdict %v", v)
	}
	if sp, _ := ports(b); b[26] != 0 || b[27] != 0 || sp != tb.cfg.PortMin {
		t.Fatalf("checksum % x, port %d", b[26:28], sp)
	}
	checkSums(t, b, false, true)
}
