//go:build linux

package tap

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// vxPort is a UDP port for this test process: two test binaries running
// at once must not collide on 4789.
func vxPort() uint16 { return uint16(20000 + os.Getpid()%20000) }

func openVX(t testing.TB, local string, vnis map[uint16]uint32, remotes ...string) *VXLAN {
	t.Helper()
	cfg := VXLANConfig{Name: "vx-" + local, Local: netip.MustParseAddr(local), Port: vxPort(), VNIs: vnis}
	for _, r := range remotes {
		cfg.Remotes = append(cfg.Remotes, netip.MustParseAddr(r))
	}
	v, err := OpenVXLAN(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// taggedFrame is an 802.1Q frame on vid with a payload that names it.
func taggedFrame(dst, src pkt.MAC, vid uint16, payload string) []byte {
	b := make([]byte, 18, 18+len(payload))
	copy(b[0:], dst[:])
	copy(b[6:], src[:])
	binary.BigEndian.PutUint16(b[12:], pkt.TypeVLAN)
	binary.BigEndian.PutUint16(b[14:], vid)
	binary.BigEndian.PutUint16(b[16:], 0x88b5) // local experimental ethertype
	return append(b, payload...)
}

// untag is what the frame looks like inside the tunnel.
func untag(b []byte) []byte { return append(append([]byte(nil), b[:12]...), b[16:]...) }

func sendFrames(t *testing.T, v *VXLAN, frames ...[]byte) int {
	t.Helper()
	fs := make([]*vswitch.Frame, len(frames))
	for i, b := range frames {
		fs[i] = vswitch.NewFrame()
		fs[i].SetData(b)
	}
	n, err := v.WriteBatch(fs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		f.Release()
	}
	return n
}

// recvOne reads the next inner frame and its out-of-band VLAN.
func recvOne(t *testing.T, v *VXLAN) ([]byte, uint16) {
	t.Helper()
	v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	fs := newFrames(1)
	n, err := v.ReadBatch(fs)
	if err != nil || n != 1 {
		t.Fatalf("ReadBatch: %d, %v", n, err)
	}
	tci, ok := fs[0].RxTCI()
	if !ok {
		t.Fatal("no out-of-band tag on a tunnel frame")
	}
	return append([]byte(nil), fs[0].Bytes()...), tci
}

func TestVXLANBetweenTwoPorts(t *testing.T) {
	// The VNI is what both ends share; each maps it to its own VLAN.
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010, 20: 1020}, "127.0.0.2")
	b := openVX(t, "127.0.0.2", map[uint16]uint32{10: 1010, 30: 1020}, "127.0.0.1")
	macA := pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}
	macB := pkt.MAC{0x52, 0x54, 0, 0, 0, 0xb}

	bc := taggedFrame(pkt.Broadcast, macA, 20, "hello from a")
	if n := sendFrames(t, a, bc); n != 1 {
		t.Fatalf("WriteBatch sent %d, want 1", n)
	}
	got, vid := recvOne(t, b)
	if vid != 30 || !bytes.Equal(got, untag(bc)) {
		t.Fatalf("b got VLAN %d %x, want VLAN 30 %x", vid, got, untag(bc))
	}
	if e := b.Remotes(); len(e) != 1 || e[0].MAC != macA || e[0].VLAN != 30 || e[0].VTEP != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("b learned %+v, want macA on VLAN 30 behind 127.0.0.1", e)
	}

	// Unicast back to the learned MAC, with the PCP bits set: the tag's
	// VID alone picks the VNI.
	uc := taggedFrame(macA, macB, 30|5<<13, "unicast from b")
	if n := sendFrames(t, b, uc); n != 1 {
		t.Fatalf("WriteBatch sent %d, want 1", n)
	}
	got, vid = recvOne(t, a)
	if vid != 20 || !bytes.Equal(got, untag(uc)) {
		t.Fatalf("a got VLAN %d %x, want VLAN 20 %x", vid, got, untag(uc))
	}

	// An untagged frame and one on a VLAN without a VNI are not sent; the
	// frame after them is.
	untagged := untag(taggedFrame(pkt.Broadcast, macA, 10, "untagged"))
	if n := sendFrames(t, a, untagged, taggedFrame(pkt.Broadcast, macA, 99, "no vni"), taggedFrame(pkt.Broadcast, macA, 10, "vlan 10")); n != 1 {
		t.Fatalf("WriteBatch sent %d, want 1", n)
	}
	if d := a.Drops(); d[VXLANNotCarried] != 2 {
		t.Fatalf("not_carried = %d, want 2", d[VXLANNotCarried])
	}
	got, vid = recvOne(t, b)
	if vid != 10 || !bytes.Contains(got, []byte("vlan 10")) {
		t.Fatalf("b got VLAN %d %q, want the VLAN 10 frame", vid, got)
	}
}

func TestVXLANRefusesStrangers(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	port := int(vxPort())
	dgram := func(vni uint32, flags byte, inner []byte) []byte {
		h := make([]byte, pkt.VXLANLen)
		pkt.VXLAN(h).Encode(vni)
		h[0] = flags
		return append(h, inner...)
	}
	inner := untag(taggedFrame(pkt.Broadcast, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xc}, 10, "payload"))
	send := func(from string, b []byte) {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(from)}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	send("127.0.0.3", dgram(1010, 0x08, inner))           // not a remote
	send("127.0.0.2", dgram(1010, 0x00, inner))           // no I flag
	send("127.0.0.2", dgram(1011, 0x08, inner))           // a VNI not mapped
	send("127.0.0.2", dgram(1010, 0x08, inner[:13]))      // shorter than an Ethernet header
	send("127.0.0.2", dgram(1010, 0x08, []byte("x")[:0])) // header only
	sentinel := append(append([]byte(nil), inner...), "sentinel"...)
	send("127.0.0.2", dgram(1010, 0x08|0x80, sentinel)) // other flag bits are ignored
	got, vid := recvOne(t, a)
	if vid != 10 || !bytes.Equal(got, sentinel) {
		t.Fatalf("first frame read: VLAN %d %q, want the sentinel", vid, got)
	}
	want := [NumVXLANDrops]uint64{VXLANUnknownVTEP: 1, VXLANMalformed: 3, VXLANUnknownVNI: 1}
	if d := a.Drops(); d != want {
		t.Fatalf("drops %v, want %v", d, want)
	}
}

func TestVTEPTableBounded(t *testing.T) {
	tb := newVTEPTable(2, 300)
	m := func(i byte) pkt.MAC { return pkt.MAC{0x52, 0, 0, 0, 0, i} }
	if !tb.learn(1, m(1), 7, 1000) || !tb.learn(1, m(2), 7, 1000) {
		t.Fatal("learning under the bound failed")
	}
	if tb.learn(1, m(3), 7, 1000) {
		t.Fatal("learned a third MAC into a table of two")
	}
	if vt, ok := tb.lookup(1, m(1), 1300); !ok || vt != 7 {
		t.Fatalf("lookup at the ageing edge: %d %v", vt, ok)
	}
	if _, ok := tb.lookup(1, m(1), 1301); ok {
		t.Fatal("an aged entry still resolves")
	}
	tb.learn(1, m(2), 9, 1200) // moved and refreshed
	if !tb.learn(1, m(3), 7, 1301) {
		t.Fatal("a full table with an aged entry did not make room")
	}
	if vt, ok := tb.lookup(1, m(2), 1301); !ok || vt != 9 {
		t.Fatalf("moved MAC: %d %v, want VTEP 9", vt, ok)
	}
	if _, ok := tb.lookup(2, m(2), 1301); ok {
		t.Fatal("a MAC resolved on another VLAN")
	}
	if tb.count.Load() != 2 {
		t.Fatalf("count %d, want 2", tb.count.Load())
	}
}

// ipv4Frame is a tagged frame carrying a UDP/IPv4 header with the ports.
func ipv4Frame(vid, sport, dport uint16) []byte {
	b := taggedFrame(pkt.Broadcast, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, vid, "")
	binary.BigEndian.PutUint16(b[16:], pkt.TypeIPv4)
	ip := make([]byte, pkt.IPv4MinLen+pkt.UDPLen)
	pkt.IPv4(ip).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(ip)), TTL: 64, Protocol: pkt.ProtoUDP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	binary.BigEndian.PutUint16(ip[24:], pkt.UDPLen)
	return append(b, ip...)
}

// srcPort is the UDP source port of the last datagram read into slot 0.
func srcPort(v *VXLAN) uint16 {
	p := v.rd.name[0].Port
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p))[:])
}

// TestVXLANSourcePorts: as root the outer headers are ours and each inner
// flow keeps one source port from the dynamic range; without the raw
// socket every datagram leaves from the VXLAN port itself.
func TestVXLANSourcePorts(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	b := openVX(t, "127.0.0.2", map[uint16]uint32{10: 1010}, "127.0.0.1")
	if a.raw == nil {
		t.Skip("no CAP_NET_RAW: raw sends not available")
	}
	ports := map[uint16]bool{}
	for i := range 8 {
		var first uint16
		for j := range 2 {
			sendFrames(t, a, ipv4Frame(10, 1000+uint16(i), 53))
			recvOne(t, b)
			p := srcPort(b)
			if p < 49152 {
				t.Fatalf("source port %d outside 49152-65535", p)
			}
			if j == 1 && p != first {
				t.Fatalf("flow %d moved from source port %d to %d", i, first, p)
			}
			first = p
			ports[p] = true
		}
	}
	// 8 flows sent twice each: the same flow keeps its port, so at most 8;
	// 8 flows landing on fewer than 4 ports would be a poor hash.
	if len(ports) > 8 || len(ports) < 4 {
		t.Fatalf("8 flows used %d source ports: %v", len(ports), ports)
	}
	a.raw.Close()
	a.raw, a.wc = nil, a.rc
	sendFrames(t, a, ipv4Frame(10, 1, 2))
	recvOne(t, b)
	if p := srcPort(b); p != vxPort() {
		t.Fatalf("UDP-socket send from port %d, want %d", p, vxPort())
	}
}

// TestVXLANControlPlane: a VTEP a control plane adds for a VNI is flooded
// to and heard from; a pinned MAC gets unicast to its VTEP and frames from
// elsewhere do not move it; withdrawn, the VTEP is a stranger again.
func TestVXLANControlPlane(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010, 20: 1020}, "127.0.0.2")
	b := openVX(t, "127.0.0.2", map[uint16]uint32{10: 1010}, "127.0.0.1")
	c := openVX(t, "127.0.0.3", map[uint16]uint32{10: 1010}, "127.0.0.1")
	macC := pkt.MAC{0x52, 0x54, 0, 0, 0, 0xc}
	a.SetFlood(1010, []netip.Addr{netip.MustParseAddr("127.0.0.3")})
	bc := taggedFrame(pkt.Broadcast, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, 10, "to all")
	sendFrames(t, a, bc)
	for _, v := range []*VXLAN{b, c} {
		if got, vid := recvOne(t, v); vid != 10 || !bytes.Equal(got, untag(bc)) {
			t.Fatalf("%s: VLAN %d %q", v.name, vid, got)
		}
	}
	// VLAN 20 has no control-plane VTEPs: only the static remote.
	if n := len(a.peers.Load().flood[20]); n != 1 {
		t.Fatalf("VLAN 20 floods to %d VTEPs, want 1", n)
	}
	// c is heard now: its frame arrives and is not a stranger's.
	fromC := taggedFrame(pkt.Broadcast, macC, 10, "from c")
	sendFrames(t, c, fromC)
	if got, _ := recvOne(t, a); !bytes.Equal(got, untag(fromC)) {
		t.Fatalf("a got %q", got)
	}
	// Pinned behind b, the MAC stays there although c's frame came from c.
	a.SetRemoteMAC(1010, macC, netip.MustParseAddr("127.0.0.2"))
	sendFrames(t, c, fromC)
	recvOne(t, a)
	if vt, ok := a.RemoteOf(10, macC); !ok || vt != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("pinned MAC resolves to %v %v", vt, ok)
	}
	uc := taggedFrame(macC, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, 10, "unicast")
	sendFrames(t, a, uc)
	if got, _ := recvOne(t, b); !bytes.Equal(got, untag(uc)) {
		t.Fatalf("b got %q", got)
	}
	a.DelRemoteMAC(1010, macC)
	if vt, ok := a.RemoteOf(10, macC); ok {
		t.Fatalf("unpinned MAC still resolves to %v", vt)
	}
	a.SetFlood(1010, nil)
	if a.isRemote(addr4(netip.MustParseAddr("127.0.0.3"))) {
		t.Fatal("a withdrawn VTEP is still heard")
	}
}

// TestVXLANTxError: a datagram the socket refuses (longer than IPv4
// allows) is counted as tx_error and skipped; the frames after it in the
// batch still go, in order, on both the raw and the UDP-socket path.
func TestVXLANTxError(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	b := openVX(t, "127.0.0.2", map[uint16]uint32{10: 1010}, "127.0.0.1")
	src := pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}
	for round, name := range []string{"raw", "udp"} {
		if name == "udp" && a.raw != nil {
			a.raw.Close()
			a.raw, a.wc = nil, a.rc
		}
		huge := taggedFrame(pkt.Broadcast, src, 10, strings.Repeat("x", 65600))
		fs := []*vswitch.Frame{vswitch.NewBigFrame(), vswitch.NewFrame(), vswitch.NewFrame()}
		fs[0].SetData(huge)
		fs[1].SetData(taggedFrame(pkt.Broadcast, src, 10, "after"))
		fs[2].SetData(taggedFrame(pkt.Broadcast, src, 10, "sentinel"))
		onOneCPU(func() {
			if n, err := a.WriteBatch(fs); n != 3 || err != nil {
				t.Errorf("%s: WriteBatch: %d, %v", name, n, err)
			}
		})
		for _, f := range fs {
			f.Release()
		}
		for _, want := range []string{"after", "sentinel"} {
			if got, _ := recvOne(t, b); !bytes.Equal(got, untag(taggedFrame(pkt.Broadcast, src, 10, want))) {
				t.Fatalf("%s: got % x, want %q", name, got[:min(len(got), 32)], want)
			}
		}
		if d := a.Drops(); d[VXLANTxError] != uint64(round+1) {
			t.Fatalf("%s: tx_error %d, want %d", name, d[VXLANTxError], round+1)
		}
	}
}
