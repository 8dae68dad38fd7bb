package e2e

import (
	"fmt"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestNATOffloads: a guest on a TAP (TSO on) behind a nat network, and a
// host outside the uplink's veth, whose vswitch end has GRO on (in the
// fraglist form, so the AF_PACKET uplink reads GRO'd super-frames marked
// DATA_VALID) while the outside host sends without offloads (its segments
// are merged by that GRO). 50 MiB go each way through the NAT, checked by
// SHA-256: the guest downloads from the outside host, and the outside
// host downloads from the guest through a port forward (the guest's TSO
// super-frames go out). Both ways the NAT translates super-frames whole:
// the translations counted during each transfer are far fewer than its
// MTU-sized segments (a NAT that translated segments would count at
// least one per 1448 bytes), and GSO translations are among them. No
// port drops a frame as bad_offload, tx_error or oversize.
func TestNATOffloads(t *testing.T) {
	requireE2E(t, "ethtool", "busybox", "curl", "sha256sum", "dd")
	out, upDev, outDev := outsideHost(t, "zo", "10.237.0.1/24")
	testnet.Run(t, "ethtool", "-K", upDev, "gro", "on", "rx-gro-list", "on")
	out.Run("ethtool", "-K", outDev, "tx", "off", "tso", "off", "gso", "off")
	guest, pg := newHost(t, "zg"), testnet.Name("zg")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", addr)+tapPorts([]string{pg}, guest)+
		uplinkedLab(237, "nat", upDev, `forwards: [{proto: tcp, port: 8000, to: "192.168.237.2:8000"}]`))
	guest.routedVia(pg, "192.168.237.2/24", "192.168.237.1")
	requireTAPOffloads(t, guest, pg)
	dir, sum := offloadBlob(t)
	serveBlob(out, "10.237.0.1", dir)
	serveBlob(guest, "192.168.237.2", dir)

	// segments is how many full-sized TCP segments one transfer makes at
	// the 1448-byte MSS (1500 MTU, timestamps): the count of translations
	// a per-segment NAT makes for the data alone.
	const segments = offloadMiB << 20 / 1448
	for _, tr := range []struct {
		what, dir string
		client    *host
		from      string
	}{
		{"download (inbound: GRO'd frames from the uplink)", "inbound", guest, "10.237.0.1"},
		{"upload (outbound: the guest's TSO frames)", "outbound", out, "10.237.0.5"},
	} {
		before := scrape(t, addr)
		fetchBlob(t, tr.client, tr.from, sum)
		after := scrape(t, addr)
		d := func(name string) float64 {
			l := `direction="` + tr.dir + `"`
			if name == "vswitch_nat_translations_total" {
				l += `,family="ipv4"`
			}
			return metric(t, after, name, l) - metric(t, before, name, l)
		}
		n, gso := d("vswitch_nat_translations_total"), d("vswitch_nat_gso_translations_total")
		t.Logf("%s: %v translations, %v of them GSO super-frames, for %d MTU-sized segments", tr.what, n, gso, segments)
		// Super-frames average over 8 segments even on a loaded machine
		// (TSO autosizing keeps them at 64 KiB from about 1 Gbit/s on).
		if n == 0 || n > segments/8 || gso == 0 || gso > n {
			t.Errorf("%s: %v translations (%v GSO) for %d segments: super-frames were not translated whole", tr.what, n, gso, segments)
		}
	}
	noOffloadDrops(t, vs)
}
