package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// pyCsum is the Internet checksum for the Python scripts that build raw
// frames; a script starts with it.
const pyCsum = `import struct
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b)//2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
`

// randomBlob writes mib MiB of random bytes to path and returns their
// SHA-256.
func randomBlob(t testing.TB, path string, mib int) string {
	t.Helper()
	testnet.Run(t, "dd", "if=/dev/urandom", "of="+path, "bs=1M", fmt.Sprintf("count=%d", mib), "status=none")
	return sha256File(t, path)
}

// sha256File returns the SHA-256 of the file at path, in hex.
func sha256File(t testing.TB, path string) string {
	t.Helper()
	return strings.Fields(testnet.Run(t, "sha256sum", path))[0]
}

// checkSHA256 fails the test unless the file at path has the SHA-256 want.
func checkSHA256(t testing.TB, path, want string) {
	t.Helper()
	if sum := sha256File(t, path); sum != want {
		t.Fatalf("SHA-256 %s, want %s", sum, want)
	}
}

// serveHTTP serves dir over HTTP (python3 http.server) on addr:8000 in h.
func serveHTTP(h *host, addr, dir string) {
	h.Start("python3", "-m", "http.server", "--bind", addr, "--directory", dir, "8000")
}

// downloadChecked fetches url into the file got from client, retrying
// for up to timeout (each try limited to maxTime seconds), and fails the
// test unless the file's SHA-256 is want.
func downloadChecked(t testing.TB, client *host, url, got, want string, timeout time.Duration, maxTime, what string) {
	t.Helper()
	testnet.WaitFor(t, timeout, what, func() bool {
		_, err := client.Output("curl", "-sf", "--max-time", maxTime, "-o", got, url)
		return err == nil
	})
	checkSHA256(t, got, want)
}

// peerExchange runs the one-shot peerServer in srv on bind:port and
// connects peerClient from cli to dst:dstPort until it gets through. It
// fails the test unless the line comes back, and returns the address the
// server saw. An IPv6 bind address gets the IPv6 server.
func peerExchange(t testing.TB, srv, cli *host, bind, port, dst, dstPort, what string) string {
	t.Helper()
	script := peerServer
	if strings.Contains(bind, ":") {
		script = peerServer6
	}
	s := srv.Start("python3", "-u", "-c", script, bind, port)
	var reply string
	// A connection may be taken before the server listens (a port
	// forward accepts, then dials the guest): try until the echo comes.
	testnet.WaitFor(t, 10*time.Second, what, func() bool {
		o, err := cli.Output("python3", "-c", peerClient, dst, dstPort)
		reply = o
		return err == nil && strings.TrimSpace(o) == "ping"
	})
	if strings.TrimSpace(reply) != "ping" {
		t.Fatalf("%s: echo %q", what, reply)
	}
	s.Wait()
	return strings.TrimSpace(fmt.Sprint(s.Stdout))
}

// requirePortGone fails the test unless port is in neither show ports
// nor the FDB.
func (in *instance) requirePortGone(port string) {
	in.t.Helper()
	if _, ok := in.ports()[port]; ok {
		in.t.Fatalf("deleted port %s still in show ports", port)
	}
	for _, e := range in.fdb() {
		if e.Port == port {
			in.t.Fatalf("deleted port %s still in the FDB: %+v", port, e)
		}
	}
}

// captureLines pipes `vswitch capture PORT --count n` into tcpdump -r and
// returns tcpdump's lines, failing the test unless there are exactly n.
func (in *instance) captureLines(port string, n int) []string {
	t := in.t
	t.Helper()
	capture := exec.Command(vswitchBin(t), "--control", in.sock, "capture", port, "--count", fmt.Sprint(n))
	tcpdump := exec.Command("tcpdump", "-nr", "-")
	pipe, err := capture.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tcpdump.Stdin = pipe
	var dump, dumpErr strings.Builder
	tcpdump.Stdout, tcpdump.Stderr = &dump, &dumpErr
	if err := tcpdump.Start(); err != nil {
		t.Fatal(err)
	}
	if err := capture.Run(); err != nil {
		t.Fatalf("vswitch capture %s: %v", port, err)
	}
	if err := tcpdump.Wait(); err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, dumpErr.String())
	}
	lines := strings.Split(strings.TrimSpace(dump.String()), "\n")
	if len(lines) != n {
		t.Fatalf("tcpdump read %d frames from a %d-frame capture of %s:\n%s%s", len(lines), n, port, dump.String(), dumpErr.String())
	}
	return lines
}

// captureEchoes captures exactly k frames on port while guest pings dst
// every 50 ms: each must be an echo request from src to dst or its reply
// (as the port sees them, so src is the translated address behind a NAT),
// and both directions must be there.
func (in *instance) captureEchoes(guest *host, port string, k int, src, dst string) {
	t := in.t
	t.Helper()
	pinger := guest.Start("ping", "-i", "0.05", dst)
	defer pinger.Process.Kill()
	lines := in.captureLines(port, k)
	dirs := map[string]int{}
	for _, l := range lines {
		switch {
		case strings.Contains(l, src+" > "+dst+": ICMP echo request"):
			dirs["out"]++
		case strings.Contains(l, dst+" > "+src+": ICMP echo reply"):
			dirs["in"]++
		default:
			t.Fatalf("not an echo between %s and %s in %s's capture: %q", src, dst, port, l)
		}
	}
	if dirs["out"] == 0 || dirs["in"] == 0 {
		t.Fatalf("%s's capture saw only one direction: %v\n%s", port, dirs, strings.Join(lines, "\n"))
	}
}

// afpacketPair starts a vswitch with two AF_PACKET ports (v1, v2) on
// veths to two hosts, whose ends get cidr1 and cidr2.
func afpacketPair(t testing.TB, tag, cidr1, cidr2 string) (vs *instance, h1, h2 *host) {
	t.Helper()
	h1, h2 = newHost(t, tag+"1"), newHost(t, tag+"2")
	r1, p1 := testnet.Veth(t, tag, h1.Netns)
	r2, p2 := testnet.Veth(t, tag, h2.Netns)
	vs = startVswitch(t, fmt.Sprintf("ports:\n  - {name: v1, type: afpacket, device: %s}\n  - {name: v2, type: afpacket, device: %s}\n", r1, r2))
	h1.addr(p1, cidr1)
	h2.addr(p2, cidr2)
	return vs, h1, h2
}

// startProcess starts cmd with its output in a new buffer and kills and
// reaps it at cleanup, where a failed test shows the output under name.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) *lockedBuffer {
	t.Helper()
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, log.String())
		}
	})
	return log
}
