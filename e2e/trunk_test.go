package e2e

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestTrunkBetweenSwitches joins two vswitches with a veth whose ends are
// AF_PACKET trunk ports carrying VLANs 10 and 20, each switch with an
// access host per VLAN. Hosts reach their VLAN's peer across the trunk and
// nothing else; the veth carries 802.1Q tags (tcpdump sees them); TCP
// crosses both switches. This exercises the tag push on AF_PACKET egress
// and the tag restore from PACKET_AUXDATA on ingress without needing the
// kernel's 802.1Q module.
func TestTrunkBetweenSwitches(t *testing.T) {
	requireE2E(t, "ping", "iperf3", "tcpdump")
	ta, tb := testnet.Veth(t, "k", nil)
	type side struct {
		h10, h20 *host
		p10, p20 string
		vs       *instance
	}
	var sides [2]*side
	for i, trunkDev := range []string{ta, tb} {
		s := &side{h10: newHost(t, fmt.Sprintf("k%d", i)), h20: newHost(t, fmt.Sprintf("k%d", i)),
			p10: testnet.Name("k"), p20: testnet.Name("k")}
		s.vs = startVswitch(t, fmt.Sprintf(`ports:
  - {name: trunk, type: afpacket, device: %s, trunk: [10, 20]}
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, vlan: 20}
`, trunkDev, s.p10, s.h10.Name, s.p20, s.h20.Name))
		s.h10.addr(s.p10, fmt.Sprintf("10.205.10.%d/24", i+1))
		s.h20.addr(s.p20, fmt.Sprintf("10.205.20.%d/24", i+1))
		sides[i] = s
	}
	a, b := sides[0], sides[1]
	// b's VLAN 20 host also takes an address in VLAN 10's subnet: reachable
	// from VLAN 10 only if frames crossed VLANs.
	b.h20.Run("ip", "addr", "add", "10.205.10.9/24", "dev", b.p20)

	// Watch the wire for tagged ICMP while VLAN 10 pings, and VLAN 20's
	// host on switch B for anything from VLAN 10's host on switch A.
	wire := watchRoot(t, ta, "vlan 10 and icmp")
	leak := b.h20.watch(b.p20, "ether src "+a.h10.mac(a.p10))
	if !a.h10.ping("10.205.10.2", 3) {
		t.Fatal("VLAN 10 host on switch A cannot reach VLAN 10 host on switch B")
	}
	if !b.h20.ping("10.205.20.1", 3) {
		t.Fatal("VLAN 20 host on switch B cannot reach VLAN 20 host on switch A")
	}
	if n := a.h10.pingCount("10.205.10.9", 2); n != 0 {
		t.Fatalf("VLAN 10 reached a host on VLAN 20 across the trunk: %d replies", n)
	}
	// The sentinel takes the leak's path: switch A, the trunk, switch B.
	leak.none(a.h20, a.p20, "VLAN 20 host on switch B saw VLAN 10 frames from switch A")
	wire.wait("vlan 10", 10*time.Second)
	for _, e := range a.vs.fdb() {
		if e.Port == "trunk" && e.VLAN != 10 && e.VLAN != 20 {
			t.Errorf("trunk learned on VLAN %d", e.VLAN)
		}
	}
	gbps := iperfTCP(t, b.h10, a.h10, "10.205.10.2", 3)
	t.Logf("iperf3 TCP across two vswitches and an AF_PACKET veth trunk: %.2f Gbit/s (race detector: %v)", gbps, raceEnabled)
}

// tagTestType is the EtherType (IEEE local experimental) of TestTrunkTags'
// frames.
const tagTestType = 0x88b6

// tagFrame is a broadcast test frame from 02:76:74:00:00:src, carrying id,
// with an 802.1Q tag when tagged (vid 0: a priority tag).
func tagFrame(src byte, tagged bool, vid uint16, pcp uint8, id byte) []byte {
	f := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x76, 0x74, 0, 0, src}
	if tagged {
		f = append(f, 0x81, 0x00, pcp<<5|byte(vid>>8), byte(vid))
	}
	f = append(f, tagTestType>>8, tagTestType&0xff, 'v', 's', 't', id)
	return append(f, make([]byte, 64-len(f))...)
}

// withTPID gives a tagged frame's tag another TPID.
func withTPID(f []byte, tpid uint16) []byte {
	binary.BigEndian.PutUint16(f[12:], tpid)
	return f
}

// doubleTag puts an outer 802.1Q tag of vid before a tagged frame's tag.
func doubleTag(f []byte, vid uint16) []byte {
	out := append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, byte(vid>>8), byte(vid)), f[12:]...)
	return out
}

// seenTag is a test frame as a receiver got it: its id and its tag (vid 0:
// untagged).
type seenTag struct {
	id   byte
	vid  uint16
	pcp  uint8
	tpid uint16
}

func (s seenTag) String() string {
	if s.vid == 0 && s.tpid == 0 {
		return fmt.Sprintf("#%d untagged", s.id)
	}
	return fmt.Sprintf("#%d vid %d pcp %d tpid %#x", s.id, s.vid, s.pcp, s.tpid)
}

// tagReceiver collects the test frames one raw socket gets.
type tagReceiver struct {
	name string
	raw  *testnet.Raw
	got  []seenTag
	want []seenTag
}

// until reads until frame id arrived, keeping every test frame read.
func (r *tagReceiver) until(t *testing.T, id byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range r.got {
		if s.id == id {
			return
		}
	}
	for time.Now().Before(deadline) {
		f, ok := r.raw.Recv(time.Until(deadline))
		if !ok {
			break
		}
		vid, pcp, tpid, tagged := f.VLAN()
		off := 12
		if tagged && !f.Tagged {
			off = 16 // the tag is still in the buffer
		}
		if len(f.Data) < off+6 || binary.BigEndian.Uint16(f.Data[off:]) != tagTestType || string(f.Data[off+2:off+5]) != "vst" {
			continue
		}
		s := seenTag{id: f.Data[off+5]}
		if tagged {
			s.vid, s.pcp, s.tpid = vid, pcp, tpid
		}
		r.got = append(r.got, s)
		if s.id == id {
			return
		}
	}
	t.Fatalf("%s: frame #%d never arrived; got %v", r.name, id, r.got)
}

// TestTrunkTags tests a trunk from its far end with raw AF_PACKET sockets
// that write tags and read them (from PACKET_AUXDATA, where Linux puts a
// received tag), so it needs no 802.1Q support in the kernel. vswitch has
// two veth trunks (VLANs 10 and 20, no native VLAN) and an access TAP per
// VLAN. A tagged frame crosses trunk to trunk with its VID and PCP, both
// ways; it leaves an access port untagged; an access port's frame leaves
// the trunks tagged with the port's VLAN, PCP 0, or the PCP of a priority
// tag; a tag outside the trunk's VLANs and an untagged frame on the trunk
// are dropped and counted. Each receiver gets exactly its frames: every
// send ends with receipts, and the last frames, which follow everything
// on every ingress path, must arrive.
func TestTrunkTags(t *testing.T) {
	vs, A, B, H10, H20, p10, p20 := trunkRig(t)
	type to struct {
		r        *tagReceiver
		vid      uint16 // 0: untagged
		pcp      uint8
		tpidWant uint16
	}
	trunk := func(r *tagReceiver, vid uint16, pcp uint8) to { return to{r, vid, pcp, 0x8100} }
	access := func(r *tagReceiver) to { return to{r: r} }
	steps := []struct {
		from  *tagReceiver
		frame []byte
		id    byte
		to    []to
	}{
		{A, tagFrame(srcA, true, 10, 5, 1), 1, []to{trunk(B, 10, 5), access(H10)}},
		{B, tagFrame(srcB, true, 20, 3, 2), 2, []to{trunk(A, 20, 3), access(H20)}},
		{A, tagFrame(srcA, true, 20, 7, 3), 3, []to{trunk(B, 20, 7), access(H20)}},
		{H10, tagFrame(src10, false, 0, 0, 4), 4, []to{trunk(A, 10, 0), trunk(B, 10, 0)}},
		{H20, tagFrame(src20, true, 0, 6, 5), 5, []to{trunk(A, 20, 6), trunk(B, 20, 6)}},
		{A, tagFrame(srcA, true, 30, 1, 6), 6, nil},                  // VLAN 30: not on the trunk
		{A, tagFrame(srcA, false, 0, 0, 7), 7, nil},                  // untagged: no native VLAN
		{H10, tagFrame(src10, true, 20, 2, 8), 8, nil},               // tagged on an access port
		{A, tagFrame(srcA, true, 4095, 0, 9), 9, nil},                // VID 4095: reserved
		{A, doubleTag(tagFrame(srcA, true, 20, 0, 11), 10), 11, nil}, // Q-in-Q: 10 outside, 20 inside
		// The last frames, one per ingress path and VLAN.
		{A, tagFrame(srcA, true, 10, 1, 100), 100, []to{trunk(B, 10, 1), access(H10)}},
		{A, tagFrame(srcA, true, 20, 2, 101), 101, []to{trunk(B, 20, 2), access(H20)}},
		{B, tagFrame(srcB, true, 10, 4, 102), 102, []to{trunk(A, 10, 4), access(H10)}},
		{B, tagFrame(srcB, true, 20, 6, 103), 103, []to{trunk(A, 20, 6), access(H20)}},
		{H10, tagFrame(src10, false, 0, 0, 104), 104, []to{trunk(A, 10, 0), trunk(B, 10, 0)}},
		{H20, tagFrame(src20, false, 0, 0, 105), 105, []to{trunk(A, 20, 0), trunk(B, 20, 0)}},
	}
	for _, st := range steps {
		st.from.raw.Send(st.frame)
		for _, d := range st.to {
			d.r.want = append(d.r.want, seenTag{id: st.id, vid: d.vid, pcp: d.pcp, tpid: d.tpidWant})
			d.r.until(t, st.id)
		}
	}
	// The switch takes each port's frames in order: a frame that leaked
	// from an earlier step would have come before the last ones.
	for _, r := range []*tagReceiver{A, B, H10, H20} {
		byID := func(a, b seenTag) int { return int(a.id) - int(b.id) }
		slices.SortFunc(r.got, byID)
		slices.SortFunc(r.want, byID)
		if !slices.Equal(r.got, r.want) {
			t.Errorf("%s got\n%v\nwant\n%v", r.name, r.got, r.want)
		}
	}
	// The FDB: each source on its port, in the VLANs it was accepted in.
	var fdb []string
	for _, e := range vs.fdb() {
		if strings.HasPrefix(e.MAC, "02:76:74:") {
			fdb = append(fdb, fmt.Sprintf("%s %s vlan %d", e.MAC, e.Port, e.VLAN))
		}
	}
	slices.Sort(fdb)
	wantFDB := []string{
		"02:76:74:00:00:0a ta vlan 10", "02:76:74:00:00:0a ta vlan 20",
		"02:76:74:00:00:0b tb vlan 10", "02:76:74:00:00:0b tb vlan 20",
		"02:76:74:00:00:10 " + p10 + " vlan 10", "02:76:74:00:00:20 " + p20 + " vlan 20",
	}
	if !slices.Equal(fdb, wantFDB) {
		t.Errorf("FDB\n%s\nwant\n%s", strings.Join(fdb, "\n"), strings.Join(wantFDB, "\n"))
	}
	ports := vs.ports()
	for _, c := range []struct {
		port, reason string
		want         uint64
	}{
		{"ta", "vlan_not_allowed", 1}, {"ta", "untagged_not_allowed", 1}, {p10, "vlan_not_allowed", 1},
		{"ta", "bad_vlan", 1}, {"ta", "qinq", 1},
	} {
		if got := ports[c.port].Drops[c.reason]; got != c.want {
			t.Errorf("%s %s drops = %d, want %d (all: %v)", c.port, c.reason, got, c.want, ports[c.port].Drops)
		}
	}
}

// Sources of the trunk tests' frames: 02:76:74:00:00:xx.
const (
	srcA, srcB, src10, src20 = 0x0a, 0x0b, 0x10, 0x20
)

// trunkRig starts vswitch with two veth trunks (VLANs 10 and 20, no
// native VLAN) whose far ends are in one namespace, and an access TAP per
// VLAN, and opens a raw socket on each far end and each TAP.
func trunkRig(t *testing.T) (vs *instance, A, B, H10, H20 *tagReceiver, p10, p20 string) {
	requireE2E(t)
	far := newHost(t, "tf")
	ra, fa := testnet.Veth(t, "ta", far.Netns)
	rb, fb := testnet.Veth(t, "tb", far.Netns)
	h10, h20 := newHost(t, "a10"), newHost(t, "a20")
	p10, p20 = testnet.Name("a"), testnet.Name("a")
	vs = startVswitch(t, fmt.Sprintf(`ports:
  - {name: ta, type: afpacket, device: %s, trunk: [10, 20]}
  - {name: tb, type: afpacket, device: %s, trunk: [10, 20]}
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, vlan: 20}
`, ra, rb, p10, h10.Name, p20, h20.Name))
	h10.Run("ip", "link", "set", p10, "up")
	h20.Run("ip", "link", "set", p20, "up")
	A = &tagReceiver{name: "trunk A's far end", raw: testnet.OpenRaw(t, far.Netns, fa)}
	B = &tagReceiver{name: "trunk B's far end", raw: testnet.OpenRaw(t, far.Netns, fb)}
	H10 = &tagReceiver{name: "VLAN 10 access host", raw: testnet.OpenRaw(t, h10.Netns, p10)}
	H20 = &tagReceiver{name: "VLAN 20 access host", raw: testnet.OpenRaw(t, h20.Netns, p20)}
	return vs, A, B, H10, H20, p10, p20
}

// TestTrunkSTag: a frame with an 802.1ad S-tag (TPID 0x88a8) is not a
// frame of the 802.1Q VLAN with the same number. vswitch drops it as qinq
// when the tag is in the buffer (TAP and QEMU trunks); on an AF_PACKET
// trunk the kernel strips it into PACKET_AUXDATA, with its TPID, and the
// frame must be dropped all the same, not forwarded into VLAN 10.
func TestTrunkSTag(t *testing.T) {
	vs, A, B, H10, _, _, _ := trunkRig(t)
	A.raw.Send(withTPID(tagFrame(srcA, true, 10, 0, 1), 0x88a8))
	A.raw.Send(tagFrame(srcA, true, 10, 0, 2)) // follows it through the switch
	B.until(t, 2)
	H10.until(t, 2)
	want := map[*tagReceiver][]seenTag{B: {{id: 2, vid: 10, tpid: 0x8100}}, H10: {{id: 2}}}
	for r, w := range want {
		if !slices.Equal(r.got, w) {
			t.Errorf("%s got %v, want %v: the S-tagged frame #1 crossed as VLAN 10", r.name, r.got, w)
		}
	}
	if d := vs.ports()["ta"].Drops["qinq"]; d != 1 {
		t.Errorf("ta qinq drops = %d, want 1", d)
	}
}

// TestCaptureTrunkTags: `vswitch capture` on an AF_PACKET trunk shows
// each frame as it is on the wire: a received frame's tag, which the
// kernel took out of band, is put back with its VID and PCP, and a frame
// sent out of the trunk carries the tag vswitch added.
func TestCaptureTrunkTags(t *testing.T) {
	requireE2E(t, "tcpdump")
	vs, A, _, H10, _, _, _ := trunkRig(t)
	file := filepath.Join(t.TempDir(), "trunk.pcap")
	capture := exec.Command(vswitchBin(t), "--control", vs.sock, "capture", "ta", "-w", file, "--count", "6")
	var capOut lockedBuffer
	capture.Stdout, capture.Stderr = &capOut, &capOut
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- capture.Wait() }()
	// Until the capture has its 6 frames: one in from the trunk (VLAN 10,
	// PCP 5) and one out to it (from VLAN 10's access host) at a time.
	deadline := time.After(30 * time.Second)
	for id := byte(1); ; id++ {
		A.raw.Send(tagFrame(srcA, true, 10, 5, id))
		H10.raw.Send(tagFrame(src10, false, 0, 0, id))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("vswitch capture: %v\n%s", err, capOut.String())
			}
		case <-deadline:
			capture.Process.Kill()
			t.Fatalf("the capture did not get 6 frames in 30s:\n%s", capOut.String())
		case <-time.After(200 * time.Millisecond):
			continue
		}
		break
	}
	out, err := exec.Command("tcpdump", "-r", file, "-e", "-n").Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	var lines []string // one per record: the hex dumps of the unknown EtherType left out
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			lines = append(lines, l)
		}
	}
	if len(lines) != 6 {
		t.Fatalf("%d records, want 6:\n%s", len(lines), out)
	}
	want := map[string]string{"02:76:74:00:00:0a": "vlan 10, p 5,", "02:76:74:00:00:10": "vlan 10, p 0,"}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 || want[f[1]] == "" || !strings.Contains(l, want[f[1]]) || !strings.Contains(l, "0x88b6") {
			t.Errorf("capture record %q: want a test frame from %v tagged %v", l, "02:76:74:00:00:0a or :10", want)
		}
	}
}
