//go:build linux

package tap

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// tcpSeg is the reference: one TCP/IPv4 segment built by gopacket, with
// complete checksums, untagged.
func tcpSeg(t testing.TB, id uint16, seq uint32, psh bool, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0xa},
		DstMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0xb}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, Id: id, Flags: layers.IPv4DontFragment, TTL: 64,
		Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 10, 1}, DstIP: net.IP{192, 168, 10, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: seq, Ack: 7, ACK: true, PSH: psh, Window: 500,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tsoFrame is a guest's TSO super-frame of payload on VLAN vid, as a TAP
// hands it over: tagged, its checksum partial, the virtio-net header
// asking for mss-byte segments.
func tsoFrame(t testing.TB, vid uint16, mss int, payload []byte) *vswitch.Frame {
	t.Helper()
	b := tcpSeg(t, 100, 1000, true, payload)
	tagged := append(append(append([]byte(nil), b[:12]...), 0x81, 0, byte(vid>>8), byte(vid)), b[12:]...)
	const l4 = pkt.EthernetLen + pkt.VLANTagLen + pkt.IPv4MinLen
	tagged[l4+16], tagged[l4+17] = 0xde, 0xad // partial: the segmenter must not trust it
	f := vswitch.NewBigFrame()
	f.SetData(tagged)
	f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4,
		GSOSize: uint16(mss), HdrLen: l4 + 32, CsumStart: l4, CsumOffset: 16}
	return f
}

// refSegments is what the tunnel must carry for tsoFrame: every segment
// of mss bytes, the last shorter, PSH on the last only.
func refSegments(t testing.TB, mss int, payload []byte) [][]byte {
	var out [][]byte
	for i, off := 0, 0; off < len(payload); i, off = i+1, off+mss {
		end := min(off+mss, len(payload))
		out = append(out, tcpSeg(t, 100+uint16(i), 1000+uint32(off), end == len(payload), payload[off:end]))
	}
	return out
}

// groSocket is a plain UDP socket with UDP_GRO on: a UDP-GSO send over
// loopback reaches it whole, with its gso_size, so a test sees how the
// datagrams were grouped.
func groSocket(t *testing.T, addr string) int {
	t.Helper()
	fd := udpSock(t, addr)
	err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1)
	testnet.RequireKernel(t, err == nil, fmt.Sprintf("UDP_GRO (%v)", err))
	return fd
}

// recvRun reads one (possibly coalesced) datagram and cuts it at its
// gso_size into the datagrams that were sent.
func recvRun(t *testing.T, fd int) [][]byte {
	t.Helper()
	buf, oob := make([]byte, 1<<17), make([]byte, 256)
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	size := n
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_UDP && m.Header.Type == unix.UDP_GRO {
			size = int(binary.NativeEndian.Uint32(m.Data))
		}
	}
	var out [][]byte
	for b := buf[:n]; len(b) > 0; {
		k := min(size, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

// innerOf decodes a datagram as gopacket sees VXLAN and returns the inner
// frame's bytes and the VNI.
func innerOf(t *testing.T, d []byte) ([]byte, uint32) {
	t.Helper()
	p := gopacket.NewPacket(d, layers.LayerTypeVXLAN, gopacket.Default)
	vx, ok := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
	if !ok || !vx.ValidIDFlag {
		t.Fatalf("not a VXLAN datagram: % x", d[:min(len(d), 16)])
	}
	if p.Layer(layers.LayerTypeTCP) == nil {
		t.Fatalf("no TCP inside: %v", p)
	}
	return vx.Payload, vx.VNI
}

// gsoPair is two tunnel ports on loopback, each the other's remote, with
// UDP GSO (the test skips on a kernel without it).
func gsoPair(t testing.TB) (a, b *VXLAN) {
	t.Helper()
	a = openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	b = openVX(t, "127.0.0.2", map[uint16]uint32{10: 1010}, "127.0.0.1")
	testnet.RequireKernel(t, a.gso && b.gso, "UDP_SEGMENT")
	return a, b
}

// TestVXLANGSORuns: a TSO super-frame leaves as UDP-GSO sends whose
// datagrams are, byte for byte, the reference segments, each behind its
// own VXLAN header; a send ends at the kernel's 64 KiB bound, and all its
// datagrams but the last are exactly gso_size long.
func TestVXLANGSORuns(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	testnet.RequireKernel(t, a.gso, "UDP_SEGMENT")
	if a.Features()&vswitch.FeatVNetHdr == 0 {
		t.Fatal("a port with UDP GSO does not take super-frames")
	}
	fd := groSocket(t, "127.0.0.2")
	payload := make([]byte, 63000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		mss  int
		runs []int // datagrams per send
	}{
		// 1462-byte datagrams: 44 fit under 65507 bytes; 45 segments.
		{"mss1400", 1400, []int{44, 1}},
		// 86-byte datagrams: the segment bound, 64 a send; 630 segments.
		{"mss100", 100, []int{64, 64, 64, 64, 64, 64, 64, 64, 64, 54}},
		{"one segment", 63000, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := refSegments(t, tc.mss, payload)
			f := tsoFrame(t, 10, tc.mss, payload)
			onOneCPU(func() {
				if n, err := a.WriteBatch([]*vswitch.Frame{f}); n != 1 || err != nil {
					t.Errorf("WriteBatch: %d, %v", n, err)
				}
			})
			f.Release()
			var got [][]byte
			for r, want := range tc.runs {
				run := recvRun(t, fd)
				if len(run) != want {
					t.Fatalf("send %d carried %d datagrams, want %d", r, len(run), want)
				}
				for i, d := range run[:len(run)-1] {
					if len(d) != len(run[0]) {
						t.Fatalf("send %d datagram %d: %d bytes, want gso_size %d", r, i, len(d), len(run[0]))
					}
				}
				got = append(got, run...)
			}
			if len(got) != len(ref) {
				t.Fatalf("%d datagrams, want %d", len(got), len(ref))
			}
			for i, d := range got {
				inner, vni := innerOf(t, d)
				if vni != 1010 || !slices.Equal(inner, ref[i]) {
					t.Fatalf("datagram %d: VNI %d, inner\n% x\nwant\n% x", i, vni, inner[:min(len(inner), 80)], ref[i][:80])
				}
			}
		})
	}
	if d := a.Drops(); d != ([NumVXLANDrops]uint64{}) {
		t.Fatalf("drops %v", d)
	}
}

// TestVXLANGSOThroughPort: super-frames and a partial checksum reach the
// far tunnel port as complete inner frames, in order, after a plain frame
// and before a sentinel; a super-frame that does not parse is dropped as
// bad_offload, and the flow keeps one source port on both paths.
func TestVXLANGSOThroughPort(t *testing.T) {
	a, b := gsoPair(t)
	payload := []byte(strings.Repeat("vxlan-gso", 1000))
	ref := refSegments(t, 1400, payload)
	partial := tcpSeg(t, 5, 77, true, []byte("partial checksum"))
	pf := vswitch.NewFrame()
	pf.SetData(append(append(append([]byte(nil), partial[:12]...), 0x81, 0, 0, 10), partial[12:]...))
	const l4 = pkt.EthernetLen + pkt.VLANTagLen + pkt.IPv4MinLen
	pb := pf.Bytes()
	binary.BigEndian.PutUint16(pb[l4+16:], pkt.PseudoHeaderChecksum(pkt.ProtoTCP, pb[18+12:18+16], pb[18+16:18+20],
		uint16(len(pb)-l4)))
	pf.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: l4, CsumOffset: 16}
	bad := tsoFrame(t, 10, 1400, payload)
	bad.Bytes()[16], bad.Bytes()[17] = 0x88, 0xb5 // not IP: nothing to segment
	// A complete segment of the same flow: it takes the plain path.
	plainRef := tcpSeg(t, 1, 1, false, []byte("plain"))
	plain, sentinel := vswitch.NewFrame(), vswitch.NewFrame()
	plain.SetData(append(append(append([]byte(nil), plainRef[:12]...), 0x81, 0, 0, 10), plainRef[12:]...))
	sentinel.SetData(taggedFrame(pkt.Broadcast, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, 10, "sentinel"))
	tso := tsoFrame(t, 10, 1400, payload)
	batch := []*vswitch.Frame{plain, tso, bad, pf, sentinel}
	onOneCPU(func() {
		if n, err := a.WriteBatch(batch); n != len(batch) || err != nil {
			t.Errorf("WriteBatch: %d, %v", n, err)
		}
	})
	for _, f := range batch {
		f.Release()
	}
	want := [][]byte{plainRef}
	want = append(want, ref...)
	want = append(want, partial, untag(taggedFrame(pkt.Broadcast, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, 10, "sentinel")))
	var sport uint16
	for i, w := range want {
		got, vid := recvOne(t, b)
		if vid != 10 || !slices.Equal(got, w) {
			t.Fatalf("frame %d: VLAN %d\n% x\nwant\n% x", i, vid, got[:min(len(got), 64)], w[:min(len(w), 64)])
		}
		// All but the sentinel are one TCP flow: one source port, on the
		// raw path (the plain frame) and the UDP-GSO one alike.
		if i == 0 {
			sport = srcPort(b)
		} else if i < len(want)-1 && a.raw != nil && srcPort(b) != sport {
			t.Fatalf("frame %d from source port %d, the flow's is %d", i, srcPort(b), sport)
		}
	}
	if d := a.Drops(); d[VXLANBadOffload] != 1 || d[VXLANTxError] != 0 {
		t.Fatalf("drops %v, want bad_offload 1", d)
	}
}

// TestVXLANRunShape: whatever lengths the segmenter emits, a run never
// holds a datagram longer than its first, nor one after a shorter one:
// UDP_SEGMENT cuts a send at gso_size and only the last may be short.
func TestVXLANRunShape(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	a.arena = vxArenas.Get().(*vxArena)
	defer a.releaseArena()
	a.g.dests, a.g.sock, a.g.segs = []uint32{0x7f000002}, 0, 0
	for _, n := range []int{100, 100, 60, 100, 120, 120} {
		f := vswitch.NewFrame()
		f.SetData(make([]byte, n))
		a.emitSeg(f)
		f.Release()
	}
	a.closeRun()
	want := []uint16{3, 1, 2} // 100 100 60 | 100 | 120 120
	if a.wn != len(want) {
		t.Fatalf("%d sends, want %d", a.wn, len(want))
	}
	for i, w := range want {
		if a.wsegs[i] != w {
			t.Fatalf("send %d: %d datagrams, want %d (all %v)", i, a.wsegs[i], w, a.wsegs[:a.wn])
		}
	}
	a.wn = 0
}

// TestVXLANNoGSO: on a kernel without UDP_SEGMENT the port takes complete
// frames only (the switch segments for it) and holds no flow sockets; its
// raw sends still spread flows over 49152-65535.
func TestVXLANNoGSO(t *testing.T) {
	noUDPGSO = true
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	noUDPGSO = false
	if a.gso || a.Features() != 0 {
		t.Fatalf("gso %v, features %v: want neither", a.gso, a.Features())
	}
	for i, s := range a.fsocks {
		if s.f != nil {
			t.Fatalf("flow socket %d open without UDP GSO", i)
		}
	}
	if p := a.flowSource(12345); p != 49152+12345%16384 {
		t.Fatalf("flow source port %d", p)
	}
}

// onOneCPU runs fn on a thread held on one CPU. Loopback delivers a
// datagram through the sending CPU's backlog; under load that backlog
// waits for ksoftirqd, and datagrams sent from two CPUs (the goroutine
// moved between two sends) may arrive out of order. Tests that expect
// one order send from one CPU.
func onOneCPU(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, one unix.CPUSet
	if unix.SchedGetaffinity(0, &all) == nil {
		for c := range 1024 {
			if all.IsSet(c) {
				one.Set(c)
				break
			}
		}
		if unix.SchedSetaffinity(0, &one) == nil {
			defer unix.SchedSetaffinity(0, &all)
		}
	}
	fn()
}
