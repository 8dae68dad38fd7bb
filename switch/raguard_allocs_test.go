//go:build !race

package vswitch

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestRAGuardAllocs: the IPv6 screen (an extension-header walk, the RA
// guard and the gateway-address check) allocates nothing.
func TestRAGuardAllocs(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	if err := s.AddLocalAddr6(1, gwLL6); err != nil {
		t.Fatal(err)
	}
	p := &swPort{raGuard: true}
	target := gwLL6.As16()
	for _, c := range []struct {
		name string
		b    []byte
		want DropReason
	}{
		{"RA", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6RouterAdvert, nil), DropRAGuard},
		{"NA", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6NeighAdvert, target[:]), DropSpoofedNA},
		{"ping", icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6EchoRequest, nil), NumDropReasons},
	} {
		f := frameOf(c.b)
		f.vid = 1
		if n := testing.AllocsPerRun(1000, func() {
			if r := s.screen6(p, f); r != c.want {
				t.Fatalf("%s: %v, want %v", c.name, r, c.want)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs", c.name, n)
		}
		f.Release()
	}
}

func BenchmarkScreen6(b *testing.B) {
	s := New(Config{})
	defer s.Close()
	s.AddLocalAddr6(1, gwLL6)
	p := &swPort{raGuard: true}
	f := frameOf(icmp6Frame(mac(1), pkt.ProtoICMPv6, nil, pkt.ICMPv6EchoRequest, nil))
	f.vid = 1
	b.ReportAllocs()
	for b.Loop() {
		s.screen6(p, f)
	}
}
