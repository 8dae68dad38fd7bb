package tap

import (
	"bytes"
	"testing"

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
