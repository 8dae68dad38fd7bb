package tap

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNetns runs fn with the calling thread inside the named network
// namespace (/run/netns/NAME, as `ip netns add` makes them), then returns
// the thread to where it was. Sockets and TAP devices made by fn belong to
// that namespace, and their file descriptors keep working from ours, so no
// netlink is needed to move a device.
func inNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	target, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: own namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: setns: %w", name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: Go discards a locked thread when its
		// goroutine ends, so no other goroutine runs in the wrong netns.
		return fmt.Errorf("netns %s: returning to our namespace: %w", name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
