package slowfs

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted slow filesystem.
type FS struct {
	Dir     string       // where it is mounted
	waiting atomic.Int32 // fsyncs that reached the filesystem
	fail    atomic.Int32 // the errno fsyncs return once let through; 0: they sync
	once    sync.Once
	release chan struct{}
}

// node is a loopback node whose fsync waits for FS.Release.
type node struct {
	fs.LoopbackNode
	fs *FS
}

var _ = (fs.NodeFsyncer)((*node)(nil))

// Fsync waits for Release, then syncs the file underneath.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	n.fs.waiting.Add(1)
	<-n.fs.release
	if e := n.fs.fail.Load(); e != 0 {
		return syscall.Errno(e)
	}
	if s, ok := f.(fs.FileFsyncer); ok {
		return s.Fsync(ctx, flags)
	}
	return 0
}

// dirStream is what a loopback directory handle does.
type dirStream interface {
	fs.FileReaddirenter
	fs.FileReleasedirer
	fs.FileSeekdirer
	fs.FileFsyncdirer
}

// dir is a loopback directory handle whose fsync waits for FS.Release.
type dir struct {
	dirStream
	fs *FS
}

// Fsyncdir waits for Release, then syncs the directory underneath.
func (d *dir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	d.fs.waiting.Add(1)
	<-d.fs.release
	if e := d.fs.fail.Load(); e != 0 {
		return syscall.Errno(e)
	}
	return d.dirStream.Fsyncdir(ctx, flags)
}

var _ = (fs.NodeOpendirHandler)((*node)(nil))

// OpendirHandle opens the loopback directory, its fsync slowed.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, ff, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return h, ff, errno
	}
	ds, ok := h.(dirStream)
	if !ok {
		return nil, 0, syscall.ENOTSUP
	}
	return &dir{dirStream: ds, fs: n.fs}, ff, 0
}

// Mount mounts a slow filesystem on a temporary directory of t (its
// files live in another) and unmounts it when t ends.
func Mount(t testing.TB) *FS {
	t.Helper()
	return MountAt(t, t.TempDir())
}

// MountAt is Mount at dir, which it creates if need be.
func MountAt(t testing.TB, dir string) *FS {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &FS{Dir: dir, release: make(chan struct{})}
	back := t.TempDir()
	var st syscall.Stat_t
	if err := syscall.Stat(back, &st); err != nil {
		t.Fatal(err)
	}
	root := &fs.LoopbackRoot{Path: back, Dev: uint64(st.Dev)}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, fs: f}
	}
	root.RootNode = root.NewNode(root, nil, "", &st)
	srv, err := fs.Mount(f.Dir, root.RootNode, &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, FsName: "vsslowfs", Name: "vsslowfs"}})
	if err != nil {
		t.Fatalf("slowfs: mount: %v", err)
	}
	t.Cleanup(func() {
		f.Release() // nothing may still wait in the filesystem
		srv.Unmount()
	})
	return f
}

// Waiting is how many fsyncs have reached the filesystem so far (those
// waiting for Release, and those let through).
func (f *FS) Waiting() int { return int(f.waiting.Load()) }

// Release lets every fsync through, now and from now on.
func (f *FS) Release() { f.once.Do(func() { close(f.release) }) }

// Fail makes every fsync let through from now on fail with errno, as a
// disk that lost the data does (EIO); 0 makes them sync again.
func (f *FS) Fail(errno syscall.Errno) { f.fail.Store(int32(errno)) }

// WaitFsync waits up to 5 s for an fsync to reach the filesystem, and
// fails t if none does.
func (f *FS) WaitFsync(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("slowfs: no fsync reached the filesystem in 5 s")
		}
	}
}

// Dump is a dump of every goroutine of this process, as SIGQUIT prints.
func Dump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// State is the state ("IO wait", "syscall", ...) of the first goroutine in
// dump whose stack holds fn, or "" when none does: how a test sees
// whether a goroutine waiting for the disk holds its thread.
func State(dump, fn string) string {
	for _, g := range strings.Split(dump, "\n\n") {
		if !strings.Contains(g, fn) {
			continue
		}
		head := strings.SplitN(strings.TrimSpace(g), "\n", 2)[0] // goroutine 7 [IO wait]:
		if i, j := strings.Index(head, "["), strings.LastIndex(head, "]"); i >= 0 && j > i {
			return head[i+1 : j]
		}
	}
	return ""
}
