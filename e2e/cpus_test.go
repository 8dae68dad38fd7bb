package e2e

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestCPUs: cpus sets how many threads run vswitch's Go code (the
// scrape's go_sched_gomaxprocs_threads), frames still cross with one, a
// reload changes it live, and a GOMAXPROCS in the environment
// wins over the file.
func TestCPUs(t *testing.T) {
	requireE2E(t, "ping")
	h1, h2 := newHost(t, "cp1"), newHost(t, "cp2")
	p1, p2 := testnet.Name("cp"), testnet.Name("cp")
	addr := freeAddr(t)
	body := func(cpus string) string {
		return fmt.Sprintf("metrics: %s\ncpus: %s\nports:\n  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap, netns: %s}\n",
			addr, cpus, p1, h1.Name, p2, h2.Name)
	}
	threads := func() float64 {
		t.Helper()
		return metric(t, scrape(t, addr), "go_sched_gomaxprocs_threads", "")
	}
	// Not the test's own environment: the file's value must be in force.
	vs := startVswitchWrapped(t, body("1"), func(string) []string { return []string{"env", "-u", "GOMAXPROCS"} })
	h1.addr(p1, "10.225.0.1/24")
	h2.addr(p2, "10.225.0.2/24")
	if got := threads(); got != 1 {
		t.Fatalf("cpus: 1 runs %v threads of Go code, want 1", got)
	}
	if got := h1.pingCount("10.225.0.2", 3); got != 3 {
		t.Fatalf("with cpus: 1, h1 pinged h2: %d of 3 replies", got)
	}

	// Live: from 1 to the runtime's own choice, then to 3 (more than this
	// machine's CPUs, if it has 2: a count is taken as given).
	path := vs.dir + "/vswitch.yaml"
	head := fmt.Sprintf("control: %s\nstate_dir: %s\n", vs.sock, vs.dir+"/state")
	reload := func(cpus string, want float64) {
		t.Helper()
		if err := os.WriteFile(path, []byte(head+body(cpus)), 0o644); err != nil {
			t.Fatal(err)
		}
		vs.mustCLI("reload")
		if got := threads(); got != want {
			t.Fatalf("after a reload to cpus: %s, %v threads of Go code, want %v", cpus, got, want)
		}
	}
	all := runtime.GOMAXPROCS(0) // this process's is the runtime's default too...
	if os.Getenv("GOMAXPROCS") != "" {
		all = runtime.NumCPU() // ...unless the environment set it
	}
	if all < 2 {
		t.Fatalf("the runtime's default here is %d thread: this test needs a machine of 2 CPUs or more to tell all from 1", all)
	}
	reload("all", float64(all))
	reload("3", 3)
	testnet.WaitFor(t, 5*time.Second, "the log to say the count changed", func() bool {
		return strings.Contains(vs.log.String(), `msg="threads for Go code changed" cpus=3 threads=3 were=`+fmt.Sprint(all))
	})
	if got := h1.pingCount("10.225.0.2", 3); got != 3 {
		t.Fatalf("after the reloads, h1 pinged h2: %d of 3 replies", got)
	}
	vs.stop()

	// The environment wins, and the log says why the file's value is not
	// in force.
	vs = startVswitchWrapped(t, body("1"), func(string) []string { return []string{"env", "GOMAXPROCS=3"} })
	if got := threads(); got != 3 {
		t.Fatalf("GOMAXPROCS=3 and cpus: 1: %v threads of Go code, want 3", got)
	}
	testnet.WaitFor(t, 5*time.Second, "the log to say cpus is ignored", func() bool {
		return strings.Contains(vs.log.String(), "cpus ignored: GOMAXPROCS is set in the environment")
	})
}
