package unixsock

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

func listen(t *testing.T, path string, o Options) *Socket {
	t.Helper()
	s, err := Listen(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// answers reports whether a connection to path reaches s.
func answers(t *testing.T, s *Socket) bool {
	t.Helper()
	got := make(chan bool, 1)
	go func() {
		c, err := s.Accept()
		if err == nil {
			c.Close()
		}
		got <- err == nil
	}()
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		s.UnixListener.Close()
		return false
	}
	c.Close()
	return <-got
}

func statOf(t *testing.T, path string) (fs.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), st.Uid, st.Gid
}

// TestModeAndOwner: the socket file has exactly the mode and owner asked
// (the owner only by default), and the directory holds nothing else.
func TestModeAndOwner(t *testing.T) {
	tests := []struct {
		name     string
		o        Options
		mode     fs.FileMode
		uid, gid uint32 // with -1 meaning ours
		root     bool
	}{
		{"default", Options{}, 0o600, ^uint32(0), ^uint32(0), false},
		{"group", Options{Mode: 0o660}, 0o660, ^uint32(0), ^uint32(0), false},
		{"owner", Options{Mode: 0o600, Owner: &Owner{UID: 65534, GID: -1}}, 0o600, 65534, ^uint32(0), true},
		{"owner and group", Options{Mode: 0o660, Owner: &Owner{UID: 65534, GID: 65533}}, 0o660, 65534, 65533, true},
		{"group only", Options{Mode: 0o660, Owner: &Owner{UID: -1, GID: 65533}}, 0o660, ^uint32(0), 65533, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "vm.sock")
			s := listen(t, path, tt.o)
			mode, uid, gid := statOf(t, path)
			wantUID, wantGID := tt.uid, tt.gid
			if wantUID == ^uint32(0) {
				wantUID = uint32(os.Geteuid())
			}
			if wantGID == ^uint32(0) {
				wantGID = uint32(os.Getegid())
			}
			if mode != fs.ModeSocket|tt.mode || uid != wantUID || gid != wantGID {
				t.Fatalf("socket %v %d:%d, want %v %d:%d", mode, uid, gid, fs.ModeSocket|tt.mode, wantUID, wantGID)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("the directory holds %v, want only the socket", ents)
			}
			if !answers(t, s) {
				t.Fatal("the socket does not answer")
			}
		})
	}
	if _, err := Listen(filepath.Join(t.TempDir(), "x.sock"), Options{Mode: 0o4600}); err == nil {
		t.Fatal("a setuid mode was accepted")
	}
}

// TestNeverLooser: a watcher that stats the path as fast as it can, while
// sockets are made and closed there again and again, never sees the file
// with another mode or owner than asked.
func TestNeverLooser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	path := filepath.Join(t.TempDir(), "vm.sock")
	var stop atomic.Bool
	var seen, bad atomic.Int64
	var badMode atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		var st syscall.Stat_t
		for !stop.Load() {
			if syscall.Lstat(path, &st) != nil {
				continue
			}
			seen.Add(1)
			if st.Mode&0o7777 != 0o640 || st.Uid != 65534 {
				bad.Add(1)
				badMode.Store(st)
			}
		}
	}()
	for range 300 {
		s, err := Listen(path, Options{Mode: 0o640, Owner: &Owner{UID: 65534, GID: -1}})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	stop.Store(true)
	<-done
	if bad.Load() != 0 {
		st := badMode.Load().(syscall.Stat_t)
		t.Fatalf("%d of %d looks at the socket saw mode %#o uid %d, want 0640 uid 65534", bad.Load(), seen.Load(), st.Mode&0o7777, st.Uid)
	}
	if seen.Load() == 0 {
		t.Fatal("the watcher never saw the socket")
	}
}

// TestWhatIsThere: a stale socket is replaced; a live socket, a regular
// file, a directory and a symlink are refused with the reason, and stay
// exactly as they were.
func TestWhatIsThere(t *testing.T) {
	dir := t.TempDir()

	stale := filepath.Join(dir, "stale.sock")
	testnet.StaleSocket(t, stale)
	if s := listen(t, stale, Options{}); !answers(t, s) {
		t.Fatal("the socket that replaced a stale one does not answer")
	}

	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(live, Options{})
	if !errors.Is(err, ErrInUse) || err.Error() != "something already listens on "+live {
		t.Fatalf("over a live socket: %v", err)
	}
	c, err := net.Dial("unix", live)
	if err != nil {
		t.Fatalf("the live socket was touched: %v", err)
	}
	c.Close()

	file := filepath.Join(dir, "file.sock")
	os.WriteFile(file, []byte("precious"), 0o644)
	sub := filepath.Join(dir, "dir.sock")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "f"), []byte("inside"), 0o644)
	link := filepath.Join(dir, "link.sock")
	os.Symlink(stale, link)
	for _, tt := range []struct{ path, want string }{
		{file, file + " is a regular file: not a socket, refusing to replace it"},
		{sub, sub + " is a directory: not a socket, refusing to replace it"},
		{link, link + " is a symlink: not a socket, refusing to replace it"},
	} {
		_, err := Listen(tt.path, Options{})
		if !errors.Is(err, ErrNotSocket) || err.Error() != tt.want {
			t.Fatalf("got  %v\nwant %s", err, tt.want)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "precious" {
		t.Fatalf("the regular file was touched: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(sub, "f")); string(b) != "inside" {
		t.Fatalf("the directory was touched: %q", b)
	}
	if to, err := os.Readlink(link); err != nil || to != stale {
		t.Fatalf("the symlink was touched: %q %v", to, err)
	}
	// Nothing else is left behind by the refusals: no temporary directory.
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "dir.sock file.sock link.sock live.sock stale.sock" {
		t.Fatalf("the directory holds %s", got)
	}
}

// TestCloseKeepsOthers: Close removes its own socket, not one that
// replaced it.
func TestCloseKeepsOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.sock")
	s1, err := Listen(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path) // someone removed it; a new server took the path
	s2 := listen(t, path, Options{})
	s1.Close()
	if !answers(t, s2) {
		t.Fatal("the newer socket went with the old one")
	}
	s2.Close()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("own socket left after Close: %v", err)
	}
}

// TestSameMoment: servers that start at the same moment over a stale
// socket: exactly one wins, the others are told it is in use, and the
// winner's socket is the one at the path.
func TestSameMoment(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "vswitch.sock")
		testnet.StaleSocket(t, path)
		const n = 8
		var wg sync.WaitGroup
		var start sync.WaitGroup
		start.Add(1)
		socks := make([]*Socket, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				socks[i], errs[i] = Listen(path, Options{})
			}()
		}
		start.Done()
		wg.Wait()
		var won *Socket
		for i := range n {
			switch {
			case errs[i] == nil && won == nil:
				won = socks[i]
			case errs[i] == nil:
				t.Fatalf("round %d: two servers got %s", round, path)
			case !errors.Is(errs[i], ErrInUse):
				t.Fatalf("round %d: a loser's error: %v", round, errs[i])
			}
		}
		if won == nil {
			t.Fatalf("round %d: nobody won: %v", round, errs)
		}
		if !answers(t, won) {
			t.Fatalf("round %d: the winner's socket does not answer", round)
		}
		won.Close()
	}
}

// TestLongPath: a path whose temporary neighbour would be too long for a
// socket address is still bound the private way.
func TestLongPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, strings.Repeat("d", maxPath-len(dir)-len("/x.sock")-1), "x.sock")
	if len(path) > maxPath {
		t.Skipf("TempDir %s too long", dir)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	testnet.StaleSocket(t, path)
	s := listen(t, path, Options{Mode: 0o660})
	if mode, _, _ := statOf(t, path); mode != fs.ModeSocket|0o660 {
		t.Fatalf("mode %v", mode)
	}
	if !answers(t, s) {
		t.Fatal("no answer")
	}
	long := path + "x"
	if _, err := Listen(long, Options{}); err == nil || !strings.Contains(err.Error(), "longer than a socket address holds") {
		t.Fatalf("a path too long: %v", err)
	}
}

// TestWaitsForTheLock: while another process holds the directory's lock
// (another vswitch between its check and its bind), Listen waits and makes
// nothing; when the lock is released it goes on.
func TestWaitsForTheLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vm.sock")
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		s, err := Listen(path, Options{})
		if err == nil {
			s.Close()
		}
		got <- err
	}()
	if err, ok := testnet.Poll(got, 300*time.Millisecond); ok {
		t.Fatalf("Listen returned %v while the directory was locked", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Listen made %v while the directory was locked", ents)
	}
	unlock()
	if err := testnet.Recv(t, got, 5*time.Second, "Listen after the lock was released"); err != nil {
		t.Fatal(err)
	}
}
