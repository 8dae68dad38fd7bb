package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// tcpSink accepts connections on ADDR PORT and holds them, never reading.
const tcpSink = `import socket,sys,resource
resource.setrlimit(resource.RLIMIT_NOFILE,(16384,16384))
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(4096)
cs=[]
while True:
    c,_=l.accept(); cs.append(c)`

// connFlood opens N connections to ADDR PORT, 60 at a time (fewer than
// the 64 half-open connections one guest may hold: TestHalfOpenFull and
// TestSynFloodOneGuest cover more), waiting up to
// 30 s for each batch to connect or fail; it then pushes data into the connected ones for
// 3 s (64 KiB send buffers), writes "connected refused pending bytes" to
// OUT and holds every socket until killed, when each is reset (linger 0:
// else the guest's kernel would keep sending what they hold).
const connFlood = `import socket,sys,time,select,resource,errno,struct
resource.setrlimit(resource.RLIMIT_NOFILE,(16384,16384))
dst=(sys.argv[1], int(sys.argv[2])); n=int(sys.argv[3])
socks={}; res={}
p=select.poll()
for b in range(0, n, 60):
    for i in range(b, min(n, b+60)):
        s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536); s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)) # killed: a RST each
        s.connect_ex(dst); socks[s.fileno()]=s; p.register(s, select.POLLOUT)
    end=time.time()+30
    while len(res)<min(n, b+60) and time.time()<end:
        for fd,ev in p.poll(1000):
            p.unregister(fd); res[fd]=socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
ok=[socks[fd] for fd,e in res.items() if e==0]
refused=sum(1 for e in res.values() if e==errno.ECONNREFUSED)
q=select.poll()
for s in ok: q.register(s, select.POLLOUT)
sent=0; chunk=b'x'*65536; end=time.time()+3
while time.time()<end:
    for fd,ev in q.poll(200):
        try: sent+=socks[fd].send(chunk); last=time.time()
        except OSError: q.unregister(fd)
open(sys.argv[4]+'.tmp','w').write('%d %d %d %d' % (len(ok), refused, n-len(res), sent))
import os; os.rename(sys.argv[4]+'.tmp', sys.argv[4])
time.sleep(3600)`

// floodLab is the lab of the flood tests: hostNS serves a random blob
// (sum its SHA-256) at http://10.243.0.1:8000/blob and holds connections
// to 10.243.0.1:9000 (tcpSink); the guests bad and good reach it through
// vswitch's user uplink, addr being its metrics address.
type floodLab struct {
	hostNS, bad, good *host
	vs                *instance
	addr, sum         string
}

// newFloodLab starts a floodLab: its namespaces are named after tag, its
// network is NET.0/24, its blob is mb MiB.
func newFloodLab(t *testing.T, tag, net string, mb int) floodLab {
	t.Helper()
	l := floodLab{hostNS: newHost(t, tag+"h"), bad: newHost(t, tag+"b"), good: newHost(t, tag+"g")}
	l.hostNS.Run("ip", "addr", "add", "10.243.0.1/32", "dev", "lo")
	dir := t.TempDir()
	l.sum = randomBlob(t, filepath.Join(dir, "blob"), mb)
	serveHTTP(l.hostNS, "10.243.0.1", dir)
	l.hostNS.Start("python3", "-c", tcpSink, "10.243.0.1", "9000")
	l.vs, l.addr = startUserLab(t, l.hostNS, net, "", "", l.bad, l.good)
	return l
}

var vmRSS = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`)

// procRSS is a process's resident memory in KiB.
func procRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := vmRSS.FindSubmatch(b)
	if err != nil || m == nil {
		t.Fatalf("VmRSS of %d: %v", pid, err)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// procFDs counts a process's open file descriptors.
func procFDs(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestUserUplinkFlood: a guest opens 5000 connections through
// the user uplink to a host server that accepts and never reads, and
// pushes data into those it gets. Exactly max_per_source (256) connect;
// every other one is refused with a RST and counted (user_source_limit),
// none left hanging. Meanwhile vswitch's memory stays bounded (256
// connections' fixed buffers) and an honest guest still downloads a file
// whole. When the flooder dies, vswitch is back to the descriptors it had.
func TestUserUplinkFlood(t *testing.T) {
	requireE2E(t, "python3", "udhcpc", "curl")
	l := newFloodLab(t, "f", "192.168.247", 4)
	hostNS, bad, good, vs, addr, sum := l.hostNS, l.bad, l.good, l.vs, l.addr, l.sum
	pid := vs.cmd.Process.Pid
	got := filepath.Join(t.TempDir(), "got")
	downloadChecked(t, good, "http://10.243.0.1:8000/blob", got, sum, 20*time.Second, "10", "the honest download before the flood")
	fds := procFDs(t, pid)
	rss := procRSS(t, pid)

	out := filepath.Join(t.TempDir(), "flood")
	const n, perSource = 5000, 256
	flood := bad.Start("python3", "-c", connFlood, "10.243.0.1", "9000", fmt.Sprint(n), out)
	defer flood.Process.Kill()
	var res []string
	testnet.WaitFor(t, 60*time.Second, "the flood's outcome", func() bool {
		b, err := os.ReadFile(out)
		res = strings.Fields(string(b))
		return err == nil
	})
	if fmt.Sprint(res[:3]) != fmt.Sprint([]int{perSource, n - perSource, 0}) {
		t.Fatalf("flood: %v connected, refused, pending; want %d %d 0", res[:3], perSource, n-perSource)
	}
	peak := procRSS(t, pid)
	t.Logf("vswitch RSS %d KiB before the flood, %d KiB once it pushed %s bytes into %d connections", rss, peak, res[3], perSource)
	downloadChecked(t, good, "http://10.243.0.1:8000/blob", got, sum, 45*time.Second, "20", "the honest download during the flood")
	peak = max(peak, procRSS(t, pid))
	t.Logf("and %d KiB after an honest download", procRSS(t, pid))
	// 256 connections hold at most 2 x 256 KiB in the stack and 64 KiB of
	// copy buffers each (144 MiB), plus their goroutines; with -race, the
	// growth measured is about 200 MiB. A lost bound (every flow to one
	// guest, 4096 connections) takes far more.
	if grow := peak - rss; grow > 384<<10 {
		t.Fatalf("vswitch grew %d KiB under the flood, over the bound", grow)
	}
	m := hostNS.Run("curl", "-sf", "http://"+addr+"/metrics")
	if v := metric(t, m, "vswitch_uplink_drops_total", `reason="user_source_limit",uplink="host"`); v != n-perSource {
		t.Fatalf("user_source_limit %v, want %d", v, n-perSource)
	}
	flood.Process.Kill()
	flood.Wait()
	testnet.WaitFor(t, 30*time.Second, "vswitch back to its descriptors", func() bool { return procFDs(t, pid) <= fds })
}
