package e2e

import (
	"bytes"
	"context"
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

// flowFrame is an Ethernet frame from mac to dstMAC carrying a TCP SYN
// (proto TCP) or a small UDP datagram from src to dst.
func flowFrame(dstMAC, mac pkt.MAC, proto uint8, src, dst netip.AddrPort, seq uint32) []byte {
	ipf := pkt.IPv4Fields{ID: uint16(seq), TTL: 64, Src: src.Addr(), Dst: dst.Addr()}
	if proto == pkt.ProtoUDP {
		b := make([]byte, pkt.UDP4FrameHdrLen+4)
		copy(b[pkt.UDP4FrameHdrLen:], "ping")
		pkt.EncodeUDP4Frame(b, dstMAC, mac, ipf, src.Port(), dst.Port(), 4)
		return b
	}
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen+pkt.TCPMinLen)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dstMAC, Src: mac, Type: pkt.TypeIPv4})
	ip := pkt.IPv4(b[pkt.EthernetLen:])
	ipf.TotalLen, ipf.Protocol = uint16(len(ip)), proto
	ip.Encode(&ipf)
	l4 := pkt.TCP(ip[pkt.IPv4MinLen:])
	l4.Encode(&pkt.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Flags: pkt.TCPFlagSYN, Window: 64240})
	l4.SetChecksum(ip.PseudoHeaderChecksum(proto, pkt.TCPMinLen))
	return b
}

// sendPaced sends frames on raw at rate a second (so a TAP's queue takes
// them rather than dropping most) and closes the channel when done.
func sendPaced(raw *testnet.Raw, frames [][]byte, rate int) <-chan struct{} {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for i, f := range frames {
			raw.Send(f)
			if i%200 == 199 {
				time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / time.Duration(rate))))
			}
		}
	}()
	return done
}

// connectTime gets url from h on a new connection; it returns curl's connect
// time, or an error.
func connectTime(h *host, url string) (time.Duration, error) {
	o, err := h.Output("curl", "-sf", "--max-time", "5", "-o", "/dev/null", "-w", "%{time_connect}", url)
	s, perr := strconv.ParseFloat(strings.TrimSpace(o), 64)
	if err != nil || perr != nil {
		return 0, fmt.Errorf("curl %s: %v %q", url, err, o)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// logDrops logs the drop counters of a scrape that are not zero.
func logDrops(t *testing.T, text string) {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "vswitch_") && strings.Contains(l, "drops_total{") && !strings.HasSuffix(l, " 0") {
			t.Logf("  %s", l)
		}
	}
}

// settle waits until the switch has worked through a flood it was sent:
// its counters of new flows evicted or refused hold still for 300 ms. Under load (the race
// detector, a busy machine) frames wait in the devices' queues for a
// while after the sender is done.
func settle(t *testing.T, addr string) {
	t.Helper()
	last, still := "", 0
	testnet.WaitFor(t, 15*time.Second, "the switch to work through the flood", func() bool {
		text := scrape(t, addr)
		now := fmt.Sprint(plainMetric(t, text, "vswitch_conntrack_early_drops_total"), " ",
			metric(t, text, "vswitch_uplink_drops_total", `reason="conntrack_source_limit",uplink="wan"`))
		if now == last {
			still++
		} else {
			last, still = now, 0
		}
		sleep(100)
		return still == 3
	})
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
// SYNs and UDP datagrams from two of its addresses, three quarters from
// one, to random outside addresses that never answer) into a table of
// 2048 with a per-source limit of 1200. Before early drop, the flood
// filled the table and every other guest's new connection failed until
// the lone SYNs timed out (120 s). Here another guest's new connection,
// during the flood and right after it, connects, the second at once (no
// SYN retransmit), and a 20 MB download that spans the flood finishes
// with the right SHA-256. The table stays at its bound, each flooding
// source within its limit, and nothing was refused for a full table: the
// flood's own unassured flows made the room.
func TestConntrackFlood(t *testing.T) {
	requireE2E(t, "python3", "curl", "sha256sum", "dd")
	out, upDev, _ := outsideHost(t, "c", "10.251.0.1/24")
	flooder, pf := newHost(t, "cf"), testnet.Name("c")
	guest, pg := newHost(t, "cg"), testnet.Name("c")
	addr := freeAddr(t)
	const maxEntries, perSource, floodN = 2048, 1200, 60000
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\nconntrack: {max_entries: %d, max_per_source: %d}\n", addr, maxEntries, perSource)+
		tapPorts([]string{pf, pg}, flooder, guest)+uplinkedLab(251, "nat", upDev))
	guest.routedVia(pg, "192.168.251.10/24", "192.168.251.1")

	dir := t.TempDir()
	want := randomBlob(t, dir+"/blob", 20)
	testnet.Run(t, "dd", "if=/dev/urandom", "of="+dir+"/small", "bs=1k", "count=4", "status=none")
	serveHTTP(out, "10.251.0.1", dir)
	connect := func() (time.Duration, error) { return connectTime(guest, "http://10.251.0.1:8000/small") }
	testnet.WaitFor(t, 10*time.Second, "the guest's first connection through the NAT", func() bool {
		_, err := connect()
		return err == nil
	})

	gwMAC := vs.gatewayMAC("lab")
	flooder.Run("ip", "link", "set", pf, "up")
	fmac, _ := pkt.ParseMAC(flooder.mac(pf))
	raw := testnet.OpenRaw(t, flooder.Netns, pf)
	// Each frame a new flow, to 198.18.0.0/15 + i, which nothing answers
	// (the outside host does not forward, and drops them silently).
	rnd := rand.New(rand.NewPCG(1, 2))
	srcs := []netip.Addr{netip.MustParseAddr("192.168.251.50"), netip.MustParseAddr("192.168.251.51")}
	frames := make([][]byte, floodN)
	for i := range frames {
		proto := []uint8{pkt.ProtoTCP, pkt.ProtoUDP}[i%2]
		src := netip.AddrPortFrom(srcs[i%4/3], uint16(1024+rnd.IntN(60000))) // three of four from .50
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)}), uint16(1+rnd.IntN(65535)))
		frames[i] = flowFrame(gwMAC, fmac, proto, src, dst, rnd.Uint32())
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
	// Three seconds of it; the new connection goes mid-way.
	start := time.Now()
	floodDone := sendPaced(raw, frames, 20000)
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
	settle(t, addr)
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
	checkSHA256(t, got, want)

	text := scrape(t, addr)
	entries := metric(t, text, "vswitch_conntrack_entries", `family="ipv4"`)
	early := plainMetric(t, text, "vswitch_conntrack_early_drops_total")
	limited := metric(t, text, "vswitch_uplink_drops_total", `reason="conntrack_source_limit",uplink="wan"`)
	full := metric(t, text, "vswitch_uplink_drops_total", `reason="conntrack_full",uplink="wan"`)
	rx := vs.ports()[pf].RxPackets
	t.Logf("flood: %d frames in %v, %d reached the switch; %v early drops, %v refused at the source limit; flows after it from .50 %d, .51 %d; new connection during it %v, after it %v",
		floodN, floodTime.Round(time.Millisecond), rx, early, limited, flood50, flood51, during, after)
	logDrops(t, text)
	if entries > maxEntries || full != 0 {
		t.Errorf("%v flows (bound %d), %v refused as conntrack_full (want 0)", entries, maxEntries, full)
	}
	if early == 0 || limited == 0 {
		t.Errorf("the flood reached neither limit: %v early drops, %v at the source limit", early, limited)
	}
}

// TestConntrackForwardFlood: the outside floods a port forward with 20000
// TCP SYNs from random (spoofed) addresses, which the guest behind the
// forward answers with SYN-ACKs that nobody completes. When a SYN-ACK
// alone established a flow, the table (1024 here) filled with two-hour
// entries that early drop could not evict, and no per-source limit
// applies to spoofed sources: every guest's new flow was refused. Here
// those half-open flows stay unassured: right after the flood another
// guest connects out at once, and a real client still reaches the
// forward.
func TestConntrackForwardFlood(t *testing.T) {
	requireE2E(t, "python3", "curl", "ping")
	out := newHost(t, "po")
	upDev, outDev := testnet.Veth(t, "p", out.Netns)
	out.addr(outDev, "10.252.0.1/24")
	server, ps := newHost(t, "ps"), testnet.Name("p")
	guest, pg := newHost(t, "pg"), testnet.Name("p")
	addr := freeAddr(t)
	const maxEntries, floodN = 1024, 15000
	startVswitch(t, fmt.Sprintf("metrics: %q\nconntrack: {max_entries: %d}\n", addr, maxEntries)+
		tapPorts([]string{ps, pg}, server, guest)+
		uplinkedLab(252, "nat", upDev, `forwards: [{proto: tcp, port: 8080, to: "192.168.252.20:8000"}]`))
	for _, h := range []struct {
		h        *host
		dev, cid string
	}{{server, ps, "192.168.252.20/24"}, {guest, pg, "192.168.252.10/24"}} {
		h.h.addr(h.dev, h.cid)
	}
	dir := t.TempDir()
	testnet.Run(t, "dd", "if=/dev/urandom", "of="+dir+"/small", "bs=1k", "count=4", "status=none")
	server.Start("python3", "-m", "http.server", "--bind", "192.168.252.20", "--directory", dir, "8000")
	out.Start("python3", "-m", "http.server", "--bind", "10.252.0.1", "--directory", dir, "8000")
	// http.server looks its own name up before it listens: without a
	// route that fails at once, with one it waits for DNS through the NAT.
	testnet.WaitFor(t, 10*time.Second, "the server behind the forward", func() bool {
		_, err := server.Output("curl", "-sf", "-o", "/dev/null", "http://192.168.252.20:8000/small")
		return err == nil
	})
	for _, h := range []*host{server, guest} {
		h.Run("ip", "route", "add", "default", "via", "192.168.252.1")
	}
	// One SYN-ACK per SYN: the kernel's retransmits to 15000 spoofed
	// clients would flood the gateway's queue, which is not the table's
	// matter (the flood test above shows that).
	server.Run("sysctl", "-qw", "net.ipv4.tcp_synack_retries=0")
	for _, c := range []struct {
		h   *host
		url string
	}{{guest, "http://10.252.0.1:8000/small"}, {out, "http://10.252.0.5:8080/small"}} {
		testnet.WaitFor(t, 10*time.Second, c.url+" from "+c.h.Name, func() bool {
			_, err := connectTime(c.h, c.url)
			return err == nil
		})
	}

	// The uplink's MAC, as the outside host resolved it.
	var upMAC pkt.MAC
	for _, f := range strings.Fields(out.Run("ip", "neigh", "show", "10.252.0.5")) {
		if m, err := pkt.ParseMAC(f); err == nil {
			upMAC = m
		}
	}
	if upMAC == (pkt.MAC{}) {
		t.Fatalf("the outside host has not resolved the uplink:\n%s", out.Run("ip", "neigh"))
	}
	omac, _ := pkt.ParseMAC(out.mac(outDev))
	rnd := rand.New(rand.NewPCG(3, 4))
	frames := make([][]byte, floodN)
	for i := range frames {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}), uint16(1024+rnd.IntN(60000)))
		frames[i] = flowFrame(upMAC, omac, pkt.ProtoTCP, src, netip.MustParseAddrPort("10.252.0.5:8080"), rnd.Uint32())
	}
	before := scrape(t, addr)
	start := time.Now()
	<-sendPaced(testnet.OpenRaw(t, out.Netns, outDev), frames, 5000)
	floodTime := time.Since(start)
	settle(t, addr)
	after, err := connectTime(guest, "http://10.252.0.1:8000/small")
	if err != nil {
		logDrops(t, scrape(t, addr))
		t.Fatalf("a guest's new connection right after the flood: %v", err)
	}
	if _, err := connectTime(out, "http://10.252.0.5:8080/small"); err != nil {
		t.Fatalf("a real client through the forward after the flood: %v", err)
	}
	text := scrape(t, addr)
	delta := func(name string) float64 {
		return plainMetric(t, text, name) - plainMetric(t, before, name)
	}
	full := metric(t, text, "vswitch_uplink_drops_total", `reason="conntrack_full",uplink="wan"`)
	t.Logf("forward flood: %d SYNs in %v; %v early drops; a guest's new connection after it %v",
		floodN, floodTime.Round(time.Millisecond), delta("vswitch_conntrack_early_drops_total"), after)
	logDrops(t, text)
	if after > time.Second {
		t.Errorf("connecting right after the flood took %v", after)
	}
	if full != 0 || delta("vswitch_conntrack_early_drops_total") == 0 || metric(t, text, "vswitch_conntrack_entries", `family="ipv4"`) > maxEntries {
		t.Errorf("%v refused as conntrack_full (want 0), %v early drops, %v flows (bound %d)", full,
			delta("vswitch_conntrack_early_drops_total"), metric(t, text, "vswitch_conntrack_entries", `family="ipv4"`), maxEntries)
	}
}
