package gateway

import (
	"bytes"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// discardUser is a user stack that takes packets and keeps nothing.
type discardUser struct{ n atomic.Int64 }

func (d *discardUser) Inject([]byte, pkt.VirtioNetHdr) { d.n.Add(1) }
func (d *discardUser) Close() error                    { return nil }

// userGSO is a user uplink on a fakeUser with a nat network whose guest
// is known.
func userGSO() (*Port, *Uplink, *userLink, *fakeUser) {
	st := &fakeUser{}
	u, l := newUserUplink(st)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	p.neigh.learn(guestIP, guestMAC, t0)
	return p, u, l, st
}

// ipHdr is h with its offsets counted from the IP header, as the stack
// takes and gives them.
func ipHdr(h pkt.VirtioNetHdr) pkt.VirtioNetHdr {
	h.Shift(-pkt.EthernetLen)
	return h
}

// TestUserSuperFrames: a guest's TCP super-frame reaches the stack whole
// (routed with its virtio-net header, TTL decremented once; the link
// takes the header, so the switch would not cut it), the header's offsets
// counted from the IP header. A UDP super-frame (USO), which the stack
// cannot take whole, reaches it as its segments with complete checksums.
// A super-frame the stack sends reaches the guest's network whole, its
// header counted from the Ethernet header again.
func TestUserSuperFrames(t *testing.T) {
	p, u, l, st := userGSO()
	if l.Features()&vswitch.FeatVNetHdr == 0 {
		t.Fatal("the user link does not take the virtio-net header: the switch would cut super-frames")
	}
	g, rem := netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(remoteIP, 80)
	f := gsoTCP(p.MAC(), guestMAC, g, rem, 64, pkt.TCPFlagACK|pkt.TCPFlagPSH, 10000, 1448, true)
	defer f.Release()
	wantIP := bytes.Clone(f.Bytes()[pkt.EthernetLen:])
	pkt.IPv4(wantIP).DecTTL()
	wantHdr := ipHdr(f.VNet)
	p.WriteBatch([]*vswitch.Frame{f})
	out := takeFrames(u.tx.(ringEgress).q)
	if len(out) != 1 || out[0].VNet != f.VNet {
		t.Fatalf("%d frames to the stack's port, want the super-frame with %+v", len(out), f.VNet)
	}
	l.WriteBatch(out)
	out[0].Release()
	if got, hdrs := st.take(t, 1); !bytes.Equal(got[0], wantIP) || hdrs[0] != wantHdr {
		t.Fatalf("the stack got %+v; want the super-frame whole with %+v", hdrs[0], wantHdr)
	}
	if wantHdr.CsumStart != 20 || wantHdr.HdrLen != 40 {
		t.Fatalf("offsets %+v, want csum_start 20 and hdr_len 40 from the IP header", wantHdr)
	}

	// USO: three segments of 1000 bytes, complete.
	data := bytes.Repeat([]byte("uso!"), 750)
	uso := frameOf(append(ethHdr(p.MAC(), guestMAC, pkt.TypeIPv4), ip4(guestIP, remoteIP, 64, pkt.ProtoUDP, 7, 0, udp4(guestIP, remoteIP, 5000, 53, data))...))
	defer uso.Release()
	uso.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOUDPL4, GSOSize: 1000, CsumStart: 34, CsumOffset: 6, HdrLen: 42}
	p.WriteBatch([]*vswitch.Frame{uso})
	out = takeFrames(u.tx.(ringEgress).q)
	if len(out) != 1 || !out[0].VNet.IsGSO() {
		t.Fatalf("%d frames to the stack's port, want the USO super-frame whole", len(out))
	}
	l.WriteBatch(out)
	out[0].Release()
	var got []byte
	segs, hdrs := st.take(t, 3)
	for i, ip := range segs {
		seg := checkIPv4(t, append(ethHdr(pkt.MAC{}, pkt.MAC{}, pkt.TypeIPv4), ip...))
		if hdrs[i] != (pkt.VirtioNetHdr{}) || seg.TTL() != 63 || len(seg.Payload()) != 8+1000 {
			t.Fatalf("segment %d: header %+v, TTL %d, %d bytes", i, hdrs[i], seg.TTL(), len(seg.Payload()))
		}
		got = append(got, seg.Payload()[8:]...)
	}
	if !bytes.Equal(got, data) || l.Counters()["bad_offload"] != 0 {
		t.Fatalf("%d bytes, counters %v; want the datagram's 3000", len(got), l.Counters())
	}

	// Back: the stack's super-frame to the guest.
	back := gsoTCP(pkt.MAC{}, pkt.MAC{}, rem, g, 64, pkt.TCPFlagACK, 20000, 1448, true)
	defer back.Release()
	u.DeliverUser(back.Bytes()[pkt.EthernetLen:], ipHdr(back.VNet))
	readUser(t, u, l)
	in := takeFrames(p.q)
	want := append(ethHdr(guestMAC, p.MAC(), pkt.TypeIPv4), back.Bytes()[pkt.EthernetLen:]...)
	if len(in) != 1 || !bytes.Equal(in[0].Bytes(), want) || in[0].VNet != back.VNet {
		t.Fatalf("%d frames to the guest; want the super-frame whole with %+v", len(in), back.VNet)
	}
	in[0].Release()
	if u.Drops() != [NumUplinkDrops]uint64{} || p.Drops() != [NumDrops]uint64{} {
		t.Fatalf("drops %v %v", u.Drops(), p.Drops())
	}
}

// BenchmarkUserSuperFrame: per op, a guest's 30000-byte TSO super-frame
// routed to a user uplink's stack (through the fair queues and the
// injector goroutine), and the stack's 60000-byte super-frame delivered
// onto the guest's network: the gateway's and the link's share of the
// user path, the stack's own (gVisor's) left out.
func BenchmarkUserSuperFrame(b *testing.B) {
	st := &discardUser{}
	u, l := newUserUplink(st)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	p.neigh.learn(guestIP, guestMAC, t0)
	g, rem := netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(remoteIP, 80)
	up := gsoTCP(p.MAC(), guestMAC, g, rem, 64, pkt.TCPFlagACK, 30000, 1448, true)
	down := gsoTCP(pkt.MAC{}, pkt.MAC{}, rem, g, 64, pkt.TCPFlagACK, 60000, 1448, true)
	downIP, downHdr := down.Bytes()[pkt.EthernetLen:], ipHdr(down.VNet)
	egress := u.tx.(ringEgress).q
	out := []*vswitch.Frame{nil}
	read := []*vswitch.Frame{vswitch.NewFrame()}
	batch := []*vswitch.Frame{up}
	b.SetBytes(int64(up.Len() + len(downIP)))
	b.ReportAllocs()
	for i := range b.N {
		p.WriteBatch(batch)
		egress.Take(out)
		l.WriteBatch(out)
		out[0].Release()
		for st.n.Load() != int64(i+1) { // the link's injector hands it over
			runtime.Gosched()
		}
		u.DeliverUser(downIP, downHdr)
		l.ReadBatch(read)
		(*uplinkRouter)(u).Deliver(read)
		drain(p.q)
	}
}
