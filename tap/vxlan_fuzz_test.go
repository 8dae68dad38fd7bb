//go:build linux

package tap

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// udpSock is a plain UDP socket on addr:vxPort with a large receive
// buffer, closed with the test.
func udpSock(t testing.TB, addr string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<20)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	sa := &unix.SockaddrInet4{Port: int(vxPort())}
	copy(sa.Addr[:], net.ParseIP(addr).To4())
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

// sentinelFrame is a tagged frame no fuzz input makes: its payload counts.
func sentinelFrame(seq uint64) []byte {
	return taggedFrame(pkt.Broadcast, pkt.MAC{2, 0x73, 0x6e, 0, 0, 1}, 10, fmt.Sprintf("sentinel %d", seq))
}

// FuzzVXLANDecap sends any datagram from a configured remote, then a
// sentinel. The port delivers it, untouched after its 8-byte header and
// on its VNI's VLAN, exactly when the header has the I flag, a mapped
// VNI and an Ethernet header follows; otherwise one drop of the right
// reason is counted. The sentinel always comes next.
func FuzzVXLANDecap(f *testing.F) {
	v := openVX(f, "127.0.0.1", map[uint16]uint32{10: 1010, 20: 1020}, "127.0.0.2")
	src := udpSock(f, "127.0.0.2")
	to := &unix.SockaddrInet4{Port: int(vxPort()), Addr: [4]byte{127, 0, 0, 1}}
	hdr := func(flags byte, vni uint32) []byte {
		h := make([]byte, pkt.VXLANLen)
		h[0] = flags
		binary.BigEndian.PutUint32(h[4:], vni<<8)
		return h
	}
	inner := untag(taggedFrame(pkt.Broadcast, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, 10, "inner"))
	f.Add(append(hdr(0x08, 1010), inner...))
	f.Add(append(hdr(0x08, 1020), inner...))
	f.Add(append(hdr(0x00, 1010), inner...))
	f.Add(append(hdr(0x08, 1030), inner...))
	f.Add(append(hdr(0x08, 1010), inner[:13]...))
	f.Add(hdr(0x08, 1010)[:5])
	f.Add(append(hdr(0x08, 1010), make([]byte, 65000)...))
	var seq uint64
	frames := newFrames(1)
	f.Fuzz(func(t *testing.T, d []byte) {
		if len(d) > 65507 {
			return
		}
		before := v.Drops()
		seq++
		sentinel := sentinelFrame(seq)
		onOneCPU(func() {
			unix.Sendto(src, d, 0, to)
			unix.Sendto(src, append(hdr(0x08, 1010), untag(sentinel)...), 0, to)
		})
		var got [][]byte
		var vids []uint16
		for {
			v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := v.ReadBatch(frames)
			if err != nil || n != 1 {
				t.Fatalf("ReadBatch: %d, %v", n, err)
			}
			b := frames[0].Bytes()
			if slices.Equal(b, untag(sentinel)) {
				break
			}
			vid, _ := frames[0].RxTCI()
			got, vids = append(got, slices.Clone(b)), append(vids, vid)
		}
		reason := NumVXLANDrops
		vni := uint32(0)
		if len(d) >= pkt.VXLANLen {
			vni = pkt.VXLAN(d).VNI()
		}
		switch {
		case len(d) < pkt.VXLANLen+pkt.EthernetLen || d[0]&0x08 == 0:
			reason = VXLANMalformed
		case vni != 1010 && vni != 1020:
			reason = VXLANUnknownVNI
		}
		after := v.Drops()
		// Random source MACs fill the remote-MAC table: not this check's.
		after[VXLANTableFull] = before[VXLANTableFull]
		if reason != NumVXLANDrops {
			if len(got) != 0 || after[reason] != before[reason]+1 {
				t.Fatalf("% x: delivered %d, %s %d -> %d, want dropped as %s", d[:min(len(d), 16)], len(got),
					reason, before[reason], after[reason], reason)
			}
			return
		}
		wantVID := map[uint32]uint16{1010: 10, 1020: 20}[vni]
		if len(got) != 1 || !slices.Equal(got[0], d[pkt.VXLANLen:]) || vids[0] != wantVID {
			t.Fatalf("% x: delivered %d frames (VLAN %v), want the inner frame on VLAN %d", d[:min(len(d), 16)], len(got), vids, wantVID)
		}
		if after != before {
			t.Fatalf("drops %v -> %v for a good datagram", before, after)
		}
	})
}

// FuzzVXLANOffload writes a frame with any virtio-net header through the
// offload path. What arrives (one datagram each, as the receiving kernel
// cuts UDP-GSO sends) is exactly what the switch's segmenter makes of
// the frame, in order, each behind a VXLAN header of VNI 1010; a frame
// the segmenter refuses is one bad_offload and nothing. The sentinel
// after it always arrives.
func FuzzVXLANOffload(f *testing.F) {
	a := openVX(f, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	if !a.gso {
		f.Skip("no UDP_SEGMENT on this kernel")
	}
	dst := udpSock(f, "127.0.0.2")
	seed := func(mss int, n int) {
		fr := tsoFrame(f, 10, mss, make([]byte, n))
		h := fr.VNet
		b := fr.Bytes()
		f.Add(h.Flags, h.GSOType, h.HdrLen, h.GSOSize, h.CsumStart, h.CsumOffset, slices.Clone(b[16:]))
		fr.Release()
	}
	seed(1400, 63000)
	seed(100, 3000)
	seed(48, 60000)
	seed(1400, 1000)
	f.Add(uint8(1), uint8(0), uint16(0), uint16(0), uint16(38), uint16(16), []byte{8, 0, 0x45})
	buf := make([]byte, 1<<17)
	var seq uint64
	f.Fuzz(func(t *testing.T, flags, gsoType uint8, hdrLen, gsoSize, csumStart, csumOff uint16, rest []byte) {
		if len(rest) > 60000 {
			return
		}
		tagged := append(taggedFrame(pkt.MAC{0x52, 0x54, 0, 0, 0, 0xb}, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, 10, "")[:16], rest...)
		if len(tagged) < pkt.EthernetLen+pkt.VLANTagLen {
			return
		}
		vnet := pkt.VirtioNetHdr{Flags: flags, GSOType: gsoType, HdrLen: hdrLen, GSOSize: gsoSize,
			CsumStart: csumStart, CsumOffset: csumOff}
		if vnet == (pkt.VirtioNetHdr{}) {
			return // the plain path
		}
		// The oracle: the segmenter on the untagged frame, as the
		// switch would run it for a port without offloads.
		u := vswitch.NewBigFrame()
		u.SetData(untag(tagged))
		u.VNet = vnet
		u.VNet.Shift(-pkt.VLANTagLen)
		var want [][]byte
		ok := vswitch.Complete(u, func(s *vswitch.Frame) { want = append(want, slices.Clone(s.Bytes())) })
		u.Release()

		seq++
		sentinel := sentinelFrame(seq)
		fr, sf := vswitch.NewBigFrame(), vswitch.NewFrame()
		fr.SetData(tagged)
		fr.VNet = vnet
		sf.SetData(sentinel)
		before := a.Drops()
		onOneCPU(func() {
			if n, err := a.WriteBatch([]*vswitch.Frame{fr, sf}); n != 2 || err != nil {
				t.Errorf("WriteBatch: %d, %v", n, err)
			}
		})
		fr.Release()
		sf.Release()
		var got [][]byte
		for {
			n, _, err := unix.Recvfrom(dst, buf, 0)
			if err != nil {
				t.Fatalf("recv after %d datagrams: %v", len(got), err)
			}
			if n < pkt.VXLANLen || pkt.VXLAN(buf[:n]).VNI() != 1010 {
				t.Fatalf("datagram % x: not VNI 1010", buf[:min(n, 16)])
			}
			in := buf[pkt.VXLANLen:n]
			if slices.Equal(in, untag(sentinel)) {
				break
			}
			got = append(got, slices.Clone(in))
		}
		after := a.Drops()
		if !ok {
			if len(got) != 0 || after[VXLANBadOffload] != before[VXLANBadOffload]+1 {
				t.Fatalf("refused by the segmenter: %d datagrams, bad_offload %d -> %d", len(got),
					before[VXLANBadOffload], after[VXLANBadOffload])
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d datagrams, the segmenter makes %d (drops %v)", len(got), len(want), after)
		}
		for i := range got {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("datagram %d of %d differs from the segmenter's", i, len(got))
			}
		}
		if after != before {
			t.Fatalf("drops %v -> %v", before, after)
		}
	})
}
