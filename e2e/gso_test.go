package e2e

import "testing"

// TestVethGSOWhole: TCP between two hosts behind veths (AF_PACKET ports;
// the sender's veth has TSO on, so it hands the switch 64 KiB GSO
// super-frames). Both ports take a virtio-net header, so the super-frames
// must leave whole: the egress port's bytes per frame are far above a
// full 1514-byte Ethernet frame. A switch that cut them to MTU-sized
// segments would send at most 1514 bytes per frame.
func TestVethGSOWhole(t *testing.T) {
	requireE2E(t, "ping", "iperf3")
	vs, h1, h2 := afpacketPair(t, "o", "10.209.0.1/24", "10.209.0.2/24")
	if !h1.ping("10.209.0.2", 2) {
		t.Fatal("the veth hosts cannot ping each other")
	}
	before := vs.ports()
	gbps := iperfTCP(t, h2, h1, "10.209.0.2", 2) // h1 -> h2: the data leaves through v2
	after := vs.ports()
	frames := after["v2"].TxPackets - before["v2"].TxPackets
	bytes := after["v2"].TxBytes - before["v2"].TxBytes
	if frames == 0 {
		t.Fatal("no frames left through v2")
	}
	per := bytes / frames
	t.Logf("iperf3 TCP veth -> veth: %.2f Gbit/s, %d frames of %d bytes on average out of v2 (race: %v)", gbps, frames, per, raceEnabled)
	if per <= 1514 {
		t.Errorf("%d bytes per frame out of v2 (%d frames, %d bytes): GSO super-frames were cut to MTU size", per, frames, bytes)
	}
	for _, p := range []string{"v1", "v2"} {
		for _, r := range []string{"tx_error", "bad_offload", "oversize", "queue_full"} {
			if d := after[p].Drops[r]; d != 0 {
				t.Errorf("%s: %d %s drops", p, d, r)
			}
		}
	}
}
