package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// sentinelType is the EtherType (IEEE local experimental) of the frames
// that close a negative check.
const sentinelType = 0x88b5

// sentinelPrefix starts the (locally administered) source MAC of every
// sentinel frame.
const sentinelPrefix = "02:73:6e:"

var sentinelSeq atomic.Uint32

// watch is tcpdump on one device of a host. A check that nothing arrived
// passes vacuously when tcpdump attaches late or stops early, so watch
// waits for tcpdump's "listening on", runs it in immediate mode, and a
// negative check ends with none: a sentinel frame sent after the traffic
// under test must show up before the capture stops.
type watch struct {
	h      *host
	dev    string
	cmd    *exec.Cmd
	out    lockedBuffer
	errOut lockedBuffer // tcpdump's stderr
	sawEnd chan struct{}
	done   bool
}

// watch starts tcpdump on dev in h, printing frames that match filter (a
// pcap filter) and sentinel frames.
func (h *host) watch(dev, filter string) *watch {
	h.t().Helper()
	full := fmt.Sprintf("(%s) or (ether proto 0x%04x)", filter, sentinelType)
	return startWatch(h, dev, h.Command(context.Background(), "tcpdump", "-l", "-n", "-e", "--immediate-mode", "-i", dev, full))
}

// watchRoot is watch on a device in the root namespace (a veth both of
// whose ends vswitch holds); it has no sentinel.
func watchRoot(t testing.TB, dev, filter string) *watch {
	t.Helper()
	return startWatch(&host{Netns: &testnet.Netns{Name: "root"}, tb: t}, dev,
		exec.Command("tcpdump", "-l", "-n", "-e", "--immediate-mode", "-i", dev, filter))
}

func startWatch(h *host, dev string, cmd *exec.Cmd) *watch {
	h.t().Helper()
	w := &watch{h: h, dev: dev, cmd: cmd}
	w.cmd.Stdout = &w.out
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		h.t().Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		h.t().Fatal(err)
	}
	h.t().Cleanup(w.stop)
	listening := make(chan bool, 1)
	errText := &w.errOut
	w.sawEnd = make(chan struct{})
	go func() {
		defer close(w.sawEnd)
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			errText.Write([]byte(sc.Text() + "\n"))
			if !said && strings.HasPrefix(sc.Text(), "listening on ") {
				said = true
				listening <- true
			}
		}
		if !said {
			listening <- false
		}
	}()
	select {
	case ok := <-listening:
		if !ok {
			h.t().Fatalf("tcpdump on %s in %s ended before listening:\n%s", dev, h.Name, errText.String())
		}
	case <-time.After(30 * time.Second):
		h.t().Fatalf("tcpdump on %s in %s did not say \"listening on\" within 30s:\n%s", dev, h.Name, errText.String())
	}
	return w
}

func (w *watch) stop() {
	if !w.done {
		w.done = true
		w.cmd.Process.Signal(syscall.SIGINT)
		select { // tcpdump's last words: its packet counts
		case <-w.sawEnd:
		case <-time.After(10 * time.Second):
		}
		w.cmd.Wait()
	}
}

var tcpdumpDropped = regexp.MustCompile(`(\d+) packets dropped by kernel`)

// lines returns the frames tcpdump printed so far, one line each
// (continuation lines, such as the hex dump of an unknown EtherType, are
// joined), sentinel frames left out.
func (w *watch) lines() []string {
	var out []string
	sentinel := false
	for _, l := range strings.Split(w.out.String(), "\n") {
		switch {
		case l == "":
		case l[0] == ' ' || l[0] == '\t':
			if !sentinel && len(out) > 0 {
				out[len(out)-1] += "\n" + l
			}
		default:
			sentinel = strings.Contains(l, sentinelPrefix)
			if !sentinel {
				out = append(out, l)
			}
		}
	}
	return out
}

// wait polls until some line other than a sentinel contains want.
func (w *watch) wait(want string, timeout time.Duration) {
	w.h.t().Helper()
	testnet.WaitFor(w.h.t(), timeout, fmt.Sprintf("tcpdump on %s to print %q", w.dev, want), func() bool {
		for _, l := range w.lines() {
			if strings.Contains(l, want) {
				return true
			}
		}
		return false
	})
}

// none ends a negative check: a broadcast sentinel frame goes out of dev
// in from (a host whose frames reach the watched device through vswitch),
// and must be seen; then tcpdump stops and none fails the test with
// every other frame it printed.
func (w *watch) none(from *host, dev, what string) {
	w.h.t().Helper()
	n := sentinelSeq.Add(1)
	src := fmt.Sprintf("%s%02x:%02x:%02x", sentinelPrefix, os.Getpid()%256, byte(n>>8), byte(n))
	sendSentinel(w.h.t(), from, dev, src)
	testnet.WaitFor(w.h.t(), 20*time.Second, fmt.Sprintf("the sentinel frame from %s on %s in %s", src, w.dev, w.h.Name), func() bool {
		return strings.Contains(w.out.String(), src)
	})
	w.stop()
	if m := tcpdumpDropped.FindStringSubmatch(w.errOut.String()); m == nil || m[1] != "0" {
		w.h.t().Errorf("tcpdump on %s in %s: the capture is not complete:\n%s", w.dev, w.h.Name, w.errOut.String())
	}
	if l := w.lines(); len(l) != 0 {
		w.h.t().Errorf("%s: %d frames on %s in %s:\n%s", what, len(l), w.dev, w.h.Name, strings.Join(l, "\n"))
	}
}

// sendSentinel writes one broadcast frame of sentinelType from src out of
// dev in h.
func sendSentinel(t testing.TB, h *host, dev, src string) {
	t.Helper()
	mac, err := net.ParseMAC(src)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]byte, 60)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], mac)
	f[12], f[13] = sentinelType>>8, sentinelType&0xff
	copy(f[14:], "vswitch e2e sentinel")
	testnet.OpenRaw(t, h.Netns, dev).Send(f)
}
