package tap

import (
	"bytes"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// TestAFPacketWithoutVNetHdr: a port opened as on a kernel without
// PACKET_VNET_HDR says it takes complete frames only (so the switch
// segments for it) and moves frames byte for byte both ways with a port
// that has the header: no virtio-net header is read from or written into
// the frame.
func TestAFPacketWithoutVNetHdr(t *testing.T) {
	testnet.RequireRoot(t)
	a, b := testnet.Veth(t, "av", nil)
	noVNetHdr = true
	pa := openAF(t, a)
	noVNetHdr = false
	pb := openAF(t, b)
	if pa.Features() != 0 || pb.Features() != vswitch.FeatVNetHdr {
		t.Fatalf("features %v without the header, %v with it", pa.Features(), pb.Features())
	}
	for _, dir := range []struct {
		name     string
		from, to *AFPacket
	}{{"without -> with", pa, pb}, {"with -> without", pb, pa}} {
		frame := make([]byte, 100)
		pkt.Ethernet(frame).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: ourMAC, Type: 0x88b5})
		copy(frame[14:], dir.name)
		if got := exchange(t, dir.from, dir.to, frame); !bytes.Equal(got.Bytes(), frame) || got.VNet != (pkt.VirtioNetHdr{}) {
			t.Fatalf("%s: got %+v % x, want % x", dir.name, got.VNet, got.Bytes(), frame)
		}
	}
}

// TestAFPacketTryWrite: the switch writes an AF_PACKET port directly
// (TryWriteBatch): a batch goes out whole, done and sent counting every
// frame; a frame the kernel refuses (longer than the link's MTU) counts
// as done but not sent, and the frames after it still go.
func TestAFPacketTryWrite(t *testing.T) {
	testnet.RequireRoot(t)
	pa, pb := afpacketPair(t, "aw")
	var _ vswitch.TryWriter = pa
	mk := func(n int, b byte) *vswitch.Frame {
		d := make([]byte, n)
		pkt.Ethernet(d).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: ourMAC, Type: 0x88b5})
		d[14] = b
		f := vswitch.NewBigFrame()
		f.SetData(d)
		return f
	}
	batch := []*vswitch.Frame{mk(100, 1), mk(3000, 2), mk(100, 3)}
	done, sent, err := pa.TryWriteBatch(batch)
	if done != 3 || sent != 2 || err != nil {
		t.Fatalf("TryWriteBatch: done %d, sent %d, %v; want 3, 2, nil", done, sent, err)
	}
	var got []byte
	in := newFrames(vswitch.BatchSize)
	for deadline := time.Now().Add(3 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		n, err := pb.ReadBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range in[:n] {
			if b := f.Bytes(); pkt.Ethernet(b).Src() == ourMAC {
				got = append(got, b[14])
			}
		}
	}
	if string(got) != "\x01\x03" {
		t.Fatalf("the other end read frames %v, want [1 3]", got)
	}
}
