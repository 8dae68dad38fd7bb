package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// floodFrame is the i-th frame of a conntrack flood from src: a TCP SYN
// (even i) or a UDP datagram (odd i) from a random port to a random port
// of 198.18.0.0/15 + i, so each is a new flow, and nothing answers (the
// outside host does not forward, and drops them silently).
func floodFrame(i int, rnd *rand.Rand, gw, mac pkt.MAC, src netip.Addr) []byte {
	proto, l4len := uint8(pkt.ProtoTCP), pkt.TCPMinLen
	if i%2 == 1 {
		proto, l4len = pkt.ProtoUDP, pkt.UDPLen+4
	}
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen+l4len)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: gw, Src: mac, Type: pkt.TypeIPv4})
	ip := pkt.IPv4(b[pkt.EthernetLen:])
	dst := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
	ip.Encode(&pkt.IPv4Fields{TotalLen: uint16(len(ip)), ID: uint16(i), TTL: 64, Protocol: proto, Src: src, Dst: dst})
	l4 := ip[pkt.IPv4MinLen:]
	sp, dp := uint16(1024+rnd.IntN(60000)), uint16(1+rnd.IntN(65535))
	pseudo := ip.PseudoHeaderChecksum(proto, uint16(l4len))
	if proto == pkt.ProtoTCP {
		pkt.TCP(l4).Encode(&pkt.TCPFields{SrcPort: sp, DstPort: dp, Seq: rnd.Uint32(), Flags: pkt.TCPFlagSYN, Window: 64240})
		pkt.TCP(l4).SetChecksum(pseudo)
	} else {
		binary.BigEndian.PutUint16(l4[0:], sp)
		binary.BigEndian.PutUint16(l4[2:], dp)
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		copy(l4[8:], "ping")
		pkt.UDP(l4).SetChecksum(pseudo)
	}
	return b
}

// plainMetric reads a sample without labels from a scrape.
func plainMetric(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in the scrape", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestConntrackFlood: a guest floods the NAT with 60000 new flows (TCP
// SYNs and UDP datagrams from two of its addresses to random outside
// addresses that never answer) into a table of 2048 with a per-source
// limit of 1200 (three quarters of the flood from one address). Before early drop, the flood filled the table and every
// other guest's new connection failed until the lone SYNs timed out (120
// s). Here another guest's new connection, during the flood and right
// after it, connects at once, and a 20 MB download that spans the flood
// finishes with the right SHA-256. The table stays at its bound, each
// flooding source within its limit, and nothing was refused for a full
// table: the flood's own unanswered flows made the room.
func TestConntrackFlood(t *testing.T) {
	requireE2E(t, "python3", "curl", "sha256sum", "dd")
	out := newHost(t, "co")
	upDev, outDev := testnet.Veth(t, "c", out.Netns)
	out.addr(outDev, "10.251.0.1/24")
	flooder, pf := newHost(t, "cf"), testnet.Name("c")
	guest, pg := newHost(t, "cg"), testnet.Name("c")
	addr := freeAddr(t)
	const maxEntries, perSource, floodN = 2048, 1200, 60000
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - {name: lab, address: 192.168.251.1/24, mode: nat, uplink: wan}
uplinks:
  - {name: wan, device: %s, address: 10.251.0.5/24, gateway: 10.251.0.1}
conntrack: {max_entries: %d, max_per_source: %d}
`, addr, pf, flooder.Name, pg, guest.Name, upDev, maxEntries, perSource))
	guest.addr(pg, "192.168.251.10/24")
	guest.Run("ip", "route", "add", "default", "via", "192.168.251.1")

	dir := t.TempDir()
	testnet.Run(t, "dd", "if=/dev/urandom", "of="+dir+"/blob", "bs=1M", "count=20", "status=none")
	testnet.Run(t, "dd", "if=/dev/urandom", "of="+dir+"/small", "bs=1k", "count=4", "status=none")
	want := strings.Fields(testnet.Run(t, "sha256sum", dir+"/blob"))[0]
	out.Start("python3", "-m", "http.server", "--bind", "10.251.0.1", "--directory", dir, "8000")
	// connect fetches the small file on a new connection; it returns
	// curl's connect time, or an error.
	connect := func() (time.Duration, error) {
		o, err := guest.Output("curl", "-sf", "--max-time", "5", "-o", "/dev/null", "-w", "%{time_connect}", "http://10.251.0.1:8000/small")
		s, perr := strconv.ParseFloat(strings.TrimSpace(o), 64)
		if err != nil || perr != nil {
			return 0, fmt.Errorf("curl: %v %q", err, o)
		}
		return time.Duration(s * float64(time.Second)), nil
	}
	testnet.WaitFor(t, 10*time.Second, "the guest's first connection through the NAT", func() bool {
		_, err := connect()
		return err == nil
	})

	var gwMAC pkt.MAC
	for _, e := range vs.fdb() {
		if e.Port == "gw-lab" {
			gwMAC, _ = pkt.ParseMAC(e.MAC)
		}
	}
	flooder.Run("ip", "link", "set", pf, "up")
	fmac, _ := pkt.ParseMAC(flooder.mac(pf))
	raw := testnet.OpenRaw(t, flooder.Netns, pf)
	rnd := rand.New(rand.NewPCG(1, 2))
	srcs := []netip.Addr{netip.MustParseAddr("192.168.251.50"), netip.MustParseAddr("192.168.251.51")}
	frames := make([][]byte, floodN)
	for i := range frames {
		frames[i] = floodFrame(i, rnd, gwMAC, fmac, srcs[i%4/3]) // three of four from .50
	}

	// The download, limited to 1 MiB/s (curl lets it run ahead): ten
	// seconds or less, the flood in the middle.
	got := dir + "/got"
	dl := guest.Command(context.Background(), "curl", "-sSf", "--max-time", "30", "--limit-rate", "1M", "-o", got,
		"-w", "%{size_download} bytes in %{time_total} s", "http://10.251.0.1:8000/blob")
	var dlOut bytes.Buffer
	dl.Stdout, dl.Stderr = &dlOut, &dlOut
	dlStart := time.Now()
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	dlDone, waited := make(chan error, 1), make(chan struct{})
	go func() {
		dlDone <- dl.Wait()
		close(waited)
	}()
	t.Cleanup(func() { // only this goroutine waits for it, also when the test fails early
		dl.Process.Kill()
		<-waited
	})
	sleep(1000)
	// Paced at 20000 a second (three seconds), so the TAP's queue takes
	// them rather than dropping most; the new connection goes mid-way.
	floodDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(floodDone)
		for i, f := range frames {
			raw.Send(f)
			if i%200 == 199 {
				time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / 20000)))
			}
		}
	}()
	sleep(1500)
	during, err := connect()
	if err != nil {
		t.Fatalf("a new connection during the flood: %v", err)
	}
	<-floodDone
	floodTime := time.Since(start)
	select {
	case err := <-dlDone:
		t.Fatalf("the download ended (%v: %s) %v after it started, before the flood did (%v): it must span it", err, dlOut.String(), time.Since(dlStart), floodTime)
	default:
	}
	after, err := connect()
	if err != nil {
		t.Fatalf("a new connection right after the flood: %v", err)
	}
	// The table as the flood left it (before the guest's reset flows
	// time out, 10 s): at its bound, each flooding source within its
	// limit.
	var conns []struct{ Inside, State string }
	if o := vs.mustCLI("show", "conntrack", "--json"); json.Unmarshal([]byte(o), &conns) != nil {
		t.Fatalf("show conntrack --json:\n%s", o)
	}
	per := map[string]int{}
	for _, c := range conns {
		per[strings.Split(c.Inside, ":")[0]+" "+c.State]++
	}
	flood50, flood51 := per["192.168.251.50 new"], per["192.168.251.51 new"]
	if len(conns) != maxEntries || flood50 > perSource || flood51 > perSource {
		t.Errorf("%d flows listed (want %d), by source and state %v", len(conns), maxEntries, per)
	}
	// A dropped SYN is retried after a second: under that, it connected
	// at once.
	if after > time.Second {
		t.Errorf("connecting right after the flood took %v", after)
	}
	select {
	case err := <-dlDone:
		if err != nil {
			t.Fatalf("the download across the flood: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the download across the flood did not finish")
	}
	if sum := strings.Fields(testnet.Run(t, "sha256sum", got))[0]; sum != want {
		t.Fatalf("SHA-256 %s, want %s", sum, want)
	}

	text := scrape(t, addr)
	entries := plainMetric(t, text, "vswitch_conntrack_entries")
	early := plainMetric(t, text, "vswitch_conntrack_early_drops_total")
	limited := metric(t, text, "vswitch_uplink_drops_total", `reason="conntrack_source_limit",uplink="wan"`)
	full := metric(t, text, "vswitch_uplink_drops_total", `reason="conntrack_full",uplink="wan"`)
	rx := vs.ports()[pf].RxPackets
	t.Logf("flood: %d frames in %v, %d reached the switch; %v early drops, %v refused at the source limit; flows after it from .50 %d, .51 %d; new connection during it %v, after it %v",
		floodN, floodTime.Round(time.Millisecond), rx, early, limited, flood50, flood51, during, after)
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "vswitch_") && strings.Contains(l, "drops_total{") && !strings.HasSuffix(l, " 0") {
			t.Logf("  %s", l)
		}
	}
	if entries > maxEntries || full != 0 {
		t.Errorf("%v flows (bound %d), %v refused as conntrack_full (want 0)", entries, maxEntries, full)
	}
	if early == 0 || limited == 0 {
		t.Errorf("the flood reached neither limit: %v early drops, %v at the source limit", early, limited)
	}
}
