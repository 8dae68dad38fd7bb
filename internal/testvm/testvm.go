package testvm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed init.sh
var initScript []byte

//go:embed udhcpc.sh
var udhcpcScript []byte

// modules virtio_net needs, in load order (Debian ships no modules.dep
// with the package, and virtio_pci is needed to find the device although
// nothing depends on it by symbol).
var modules = []string{"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net"}

var (
	buildMu sync.Mutex
)

// Image is a bootable kernel and initramfs.
type Image struct{ Kernel, Initrd string }

func run(name string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// Build returns the guest image, building and caching it if needed.
func Build(t testing.TB) Image {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	for _, c := range []string{"qemu-system-x86_64", "apt-get", "dpkg-deb", "cpio", "iperf3"} {
		if _, err := exec.LookPath(c); err != nil {
			if os.Getenv("VSWITCH_E2E") == "1" {
				t.Fatalf("%s is not installed (make deps installs it)", c)
			}
			t.Skipf("%s is not installed", c)
		}
	}
	out, err := run("apt-cache", "depends", "linux-image-cloud-amd64")
	pkg := ""
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
		}
	}
	if err != nil || pkg == "" {
		t.Fatalf("cannot find the cloud kernel package (apt-get update?): %v\n%s", err, out)
	}
	h := sha256.New()
	h.Write([]byte(pkg))
	h.Write(initScript)
	h.Write(udhcpcScript)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "vswitch-testvm", key)
	img := Image{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	if _, err := os.Stat(img.Initrd); err == nil {
		return img
	}
	start := time.Now()
	work := t.TempDir()
	if out, err := runIn(work, "apt-get", "download", pkg); err != nil {
		t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(work, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("downloaded %v", debs)
	}
	x := filepath.Join(work, "x")
	if out, err := run("dpkg-deb", "-x", debs[0], x); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	kernels, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		t.Fatalf("kernel in package: %v", kernels)
	}
	root := filepath.Join(work, "root")
	for _, d := range []string{"bin", "lib/modules", "proc", "sys", "dev", "tmp", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	mustCopy(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"), 0o755)
	if ef, err := elf.Open("/bin/busybox"); err == nil {
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatal("/bin/busybox is dynamically linked: install busybox-static")
			}
		}
		ef.Close()
	}
	for _, m := range modules {
		found := ""
		filepath.Walk(filepath.Join(x, "lib", "modules"), func(p string, info os.FileInfo, err error) error {
			if err == nil && filepath.Base(p) == m+".ko" {
				found = p
			}
			return nil
		})
		if found != "" { // absent: built into this kernel
			mustCopy(t, found, filepath.Join(root, "lib", "modules", m+".ko"), 0o644)
		}
	}
	// iperf3 and the libraries ldd names.
	iperf, _ := exec.LookPath("iperf3")
	mustCopy(t, iperf, filepath.Join(root, "bin", "iperf3"), 0o755)
	ldd, _ := run("ldd", iperf)
	for _, l := range strings.Split(ldd, "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "/") {
				dst := filepath.Join(root, f)
				os.MkdirAll(filepath.Dir(dst), 0o755)
				mustCopy(t, f, dst, 0o755)
			}
		}
	}
	os.WriteFile(filepath.Join(root, "init"), initScript, 0o755)
	os.WriteFile(filepath.Join(root, "udhcpc.sh"), udhcpcScript, 0o755)
	os.MkdirAll(dir, 0o755)
	tmp := img.Initrd + ".tmp"
	if out, err := run("sh", "-c", fmt.Sprintf("cd %q && find . | cpio -o -H newc --quiet | gzip -1 > %q", root, tmp)); err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	mustCopy(t, kernels[0], img.Kernel, 0o644)
	if err := os.Rename(tmp, img.Initrd); err != nil {
		t.Fatal(err)
	}
	t.Logf("built guest image %s from %s in %v", dir, pkg, time.Since(start).Round(time.Millisecond))
	return img
}

func runIn(dir, name string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		// The package lists may be missing on a fresh machine.
		if out, uerr := run("apt-get", "update", "-qq"); uerr != nil {
			return b.String() + out, err
		}
		b.Reset()
		cmd = exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &b, &b
		err = cmd.Run()
		return b.String(), err
	}
	return b.String(), nil
}

func mustCopy(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Options for one guest.
type Options struct {
	MAC    string   // the NIC's MAC
	Netdev string   // QEMU -netdev argument, e.g. "stream,id=n0,server=off,addr.type=unix,addr.path=SOCK"
	Ping   []string // addresses the guest pings after its lease
	Iperf  string   // address the guest runs iperf3 -c against
}

// VM is a running guest.
type VM struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen chan struct{}
	done chan struct{}
}

// Start boots a guest; it is killed (by PID) at cleanup.
func Start(t testing.TB, img Image, o Options) *VM {
	t.Helper()
	return StartWith(t, img, o, nil)
}

// StartWith boots a guest with QEMU run through a wrapper command (such as
// setpriv to drop privileges).
func StartWith(t testing.TB, img Image, o Options, wrapper []string) *VM {
	t.Helper()
	// no_timer_check: under TCG on a loaded host the kernel may judge the
	// IO-APIC timer broken and panic.
	cmdline := "console=ttyS0 quiet panic=-1 no_timer_check"
	if len(o.Ping) > 0 {
		cmdline += " vst.ping=" + strings.Join(o.Ping, ",")
	}
	if o.Iperf != "" {
		cmdline += " vst.iperf=" + o.Iperf
	}
	args := []string{"-accel", "tcg", "-m", "128", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
		"-kernel", img.Kernel, "-initrd", img.Initrd, "-append", cmdline,
		"-netdev", o.Netdev, "-device", "virtio-net-pci,netdev=n0,romfile=,mac=" + o.MAC}
	argv := append(append(append([]string(nil), wrapper...), "qemu-system-x86_64"), args...)
	vm := &VM{t: t, cmd: exec.Command(argv[0], argv[1:]...), seen: make(chan struct{}, 1), done: make(chan struct{})}
	pr, pw := io.Pipe()
	vm.cmd.Stdout, vm.cmd.Stderr = pw, pw
	vm.cmd.Stdin = nil
	if err := vm.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		vm.cmd.Wait()
		pw.Close()
		close(vm.done)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			vm.mu.Lock()
			vm.out.WriteString(strings.TrimRight(sc.Text(), "\r") + "\n")
			vm.mu.Unlock()
			select {
			case vm.seen <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		vm.Kill()
		if t.Failed() {
			t.Logf("guest %s console:\n%s", o.MAC, vm.Output())
		}
	})
	return vm
}

// Output is what the guest printed so far.
func (vm *VM) Output() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.out.String()
}

// find returns the first console line containing prefix, from prefix on
// (the firmware's terminal escapes may share the line).
func (vm *VM) find(prefix string) (string, bool) {
	for _, l := range strings.Split(vm.Output(), "\n") {
		if i := strings.Index(l, prefix); i >= 0 {
			return l[i:], true
		}
	}
	return "", false
}

// Wait waits for a console line with prefix and returns it from there.
func (vm *VM) Wait(prefix string, timeout time.Duration) (string, bool) {
	deadline := time.After(timeout)
	for {
		if l, ok := vm.find(prefix); ok {
			return l, true
		}
		select {
		case <-vm.seen:
		case <-vm.done:
			return vm.find(prefix)
		case <-deadline:
			return "", false
		}
	}
}

// Kill ends the guest's QEMU by its PID and waits for it.
func (vm *VM) Kill() {
	select {
	case <-vm.done:
		return
	default:
	}
	vm.cmd.Process.Kill()
	<-vm.done
}
