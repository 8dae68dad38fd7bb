package vswitch

import (
	"bytes"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestTagKeepsPriority checks the exact TCI of every egress tag: the PCP
// and DEI bits of the ingress tag (in the buffer or out of band) survive
// pop and push, a priority tag's PCP carries over to a trunk, and a frame
// that came in untagged leaves with PCP 0.
func TestTagKeepsPriority(t *testing.T) {
	untagged := frame(pkt.Broadcast, mac(1))
	tests := []struct {
		name   string
		in     string // ingress port
		send   memFrame
		want   map[string][]byte // exact frame on each port that must get one
		silent []string          // ports that must get nothing
	}{
		{
			name: "trunk to trunk keeps PCP and DEI",
			in:   "t1", send: memFrame{b: withTCI(untagged, 5<<13|1<<12|10)},
			want: map[string][]byte{"t2": withTCI(untagged, 5<<13|1<<12|10), "a10": untagged},
		},
		{
			name: "out-of-band tag to trunk keeps PCP and DEI",
			in:   "t1", send: memFrame{b: untagged, tci: 3<<13 | 1<<12 | 20, hasTCI: true},
			want:   map[string][]byte{"t2": withTCI(untagged, 3<<13|1<<12|20)},
			silent: []string{"a10"},
		},
		{
			name: "untagged access frame gets PCP 0",
			in:   "a10", send: memFrame{b: untagged},
			want: map[string][]byte{"t1": withTCI(untagged, 10), "t2": withTCI(untagged, 10)},
		},
		{
			name: "priority tag's PCP goes on the trunk tag",
			in:   "a10", send: memFrame{b: withTCI(untagged, 6<<13|1<<12)},
			want: map[string][]byte{"t1": withTCI(untagged, 6<<13|1<<12|10), "t2": withTCI(untagged, 6<<13|1<<12|10)},
		},
		{
			name: "access frame tagged with its own VLAN keeps its PCP",
			in:   "a10", send: memFrame{b: withTCI(untagged, 7<<13|10)},
			want: map[string][]byte{"t1": withTCI(untagged, 7<<13|10), "t2": withTCI(untagged, 7<<13|10)},
		},
		{
			name: "native VLAN leaves untagged, PCP 0 on the tagged trunk",
			in:   "t2", send: memFrame{b: untagged},
			want:   map[string][]byte{"t1": withTCI(untagged, 30)},
			silent: []string{"a10"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSwitch(t, Config{}, access("a10", 10), trunk("t1", 0, 10, 20, 30), trunk("t2", 30, 10, 20))
			s.ports[tt.in].inMeta <- tt.send
			for port, want := range tt.want {
				if got := s.ports[port].expect(t); !bytes.Equal(got, want) {
					t.Fatalf("%s got\n% x\nwant\n% x", port, got, want)
				}
			}
			for _, port := range append(tt.silent, tt.in) {
				s.ports[port].expectNone(t)
			}
		})
	}
}

// TestTagTCI pins the tag tag() pushes for every PCP/DEI combination.
func TestTagTCI(t *testing.T) {
	in := compileVLAN(VLANConfig{Trunk: true, Allowed: []uint16{100}})
	for prio := uint16(0); prio < 16; prio++ {
		tci := prio<<12 | 100
		f := NewFrame()
		f.SetData(withTCI(frame(mac(2), mac(1)), tci))
		if r := in.classify(f); r != NumDropReasons {
			t.Fatalf("tci %#04x: %v", tci, r)
		}
		if !bytes.Equal(f.Bytes(), frame(mac(2), mac(1))) {
			t.Fatalf("tci %#04x: classify left % x", tci, f.Bytes())
		}
		f.tag()
		if want := withTCI(frame(mac(2), mac(1)), tci); !bytes.Equal(f.Bytes(), want) {
			t.Fatalf("tci %#04x: retagged % x, want % x", tci, f.Bytes()[:18], want[:18])
		}
		f.Release()
	}
}
