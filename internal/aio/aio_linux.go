package aio

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// iocb is the kernel's struct iocb (linux/aio_abi.h). aio_key and
// aio_rw_flags swap places on big-endian machines; both stay 0 here, so
// the layout is the same on every one.
type iocb struct {
	data     uint64
	key      uint32
	rwFlags  uint32
	opcode   uint16
	reqprio  int16
	fildes   uint32
	buf      uint64
	nbytes   uint64
	offset   int64
	reserved uint64
	flags    uint32
	resfd    uint32
}

// ioEvent is the kernel's struct io_event.
type ioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

const (
	cmdFsync = 2 // IOCB_CMD_FSYNC
	flagRes  = 1 // IOCB_FLAG_RESFD: signal the eventfd in resfd
)

// Syncer flushes files through one AIO context. Its Sync calls take turns.
type Syncer struct {
	mu    sync.Mutex // one fsync in flight; the fields below
	ctx   uintptr    // aio_context_t; 0 after Close or when AIO is refused
	ev    *os.File   // the eventfd, non-blocking, in Go's poller
	evfd  int        // its descriptor (ev.Fd would make it blocking)
	cb    iocb
	cbp   [1]*iocb
	evs   [1]ioEvent
	buf   [8]byte
	async atomic.Bool
}

// shared is the process's Syncer, made at its first use and never
// closed: a context reserves part of the system-wide aio-max-nr (16
// events on 2 CPUs, of 65536), so each store of a test opening its own
// and not closing it would run the machine out.
var shared struct {
	once sync.Once
	s    *Syncer
	err  error
}

func process() *Syncer {
	shared.once.Do(func() { shared.s, shared.err = New() })
	return shared.s
}

// Sync flushes f through the process's Syncer: at most one fsync is in
// flight at a time, as one lease store writes one file at a time.
func Sync(f *os.File) error { return process().Sync(f) }

// Err is nil when Sync goes through AIO, and otherwise says why not.
func Err() error {
	s := process()
	if shared.err == nil && !s.Async() {
		return errors.New("aio: the kernel refused an fsync through AIO")
	}
	return shared.err
}

// New sets up an AIO context. When the kernel refuses one, the Syncer
// still works, through File.Sync; err says why, for the log.
func New() (*Syncer, error) {
	s := &Syncer{}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return s, fmt.Errorf("aio: eventfd: %w", err)
	}
	var ctx uintptr
	if _, _, errno := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0); errno != 0 {
		unix.Close(fd)
		return s, fmt.Errorf("aio: io_setup: %w", errno)
	}
	s.ctx, s.evfd = ctx, fd
	s.ev = os.NewFile(uintptr(fd), "aio-eventfd") // non-blocking: the poller takes it
	s.async.Store(true)
	return s, nil
}

// Async reports whether fsyncs go through AIO: false before New succeeded,
// after Close, or once the kernel refused a submission.
func (s *Syncer) Async() bool { return s.async.Load() }

// Sync flushes f to disk (a regular file or a directory) and returns the
// fsync's error. Through AIO the calling goroutine waits parked, holding
// no thread.
func (s *Syncer) Sync(f *os.File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == 0 {
		return f.Sync()
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var submitErr error
	if err := rc.Control(func(fd uintptr) { submitErr = s.submit(fd) }); err != nil {
		return err
	}
	switch {
	case errors.Is(submitErr, unix.ENOSYS) || errors.Is(submitErr, unix.EPERM):
		// AIO is gone or refused (seccomp): the blocking call from now on.
		return s.fallBack(f)
	case errors.Is(submitErr, unix.EINVAL):
		// A file that takes no fsync at all (a pipe) gets its error from
		// fsync(2) too; one that does was refused by a kernel without AIO
		// fsync (before 4.18).
		if err := f.Sync(); err != nil {
			return err
		}
		s.fallBack(nil)
		return nil
	}
	if submitErr != nil {
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: submitErr}
	}
	res, err := s.wait()
	if err != nil {
		return err
	}
	if res < 0 {
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: unix.Errno(-res)}
	}
	return nil
}

// fallBack turns AIO off for good and syncs f (if any) with File.Sync;
// s.mu is held.
func (s *Syncer) fallBack(f *os.File) error {
	s.async.Store(false)
	s.destroy()
	if f == nil {
		return nil
	}
	return f.Sync()
}

// submit hands the kernel one fsync of fd; the kernel holds its own
// reference to the file from here on.
func (s *Syncer) submit(fd uintptr) error {
	s.cb = iocb{opcode: cmdFsync, fildes: uint32(fd), flags: flagRes, resfd: uint32(s.evfd)}
	s.cbp[0] = &s.cb
	for {
		n, _, errno := unix.Syscall(unix.SYS_IO_SUBMIT, s.ctx, 1, uintptr(unsafe.Pointer(&s.cbp[0])))
		switch {
		case errno == unix.EINTR || errno == unix.EAGAIN:
			continue
		case errno != 0:
			return errno
		case n != 1:
			return fmt.Errorf("aio: io_submit took %d of 1", n)
		}
		return nil
	}
}

// wait parks until the eventfd counts a completion, then reaps it.
func (s *Syncer) wait() (int64, error) {
	for {
		if _, err := s.ev.Read(s.buf[:]); err != nil {
			return 0, fmt.Errorf("aio: eventfd: %w", err)
		}
		ts := unix.Timespec{} // the event is there: do not wait in the kernel
		n, _, errno := unix.Syscall6(unix.SYS_IO_GETEVENTS, s.ctx, 1, 1,
			uintptr(unsafe.Pointer(&s.evs[0])), uintptr(unsafe.Pointer(&ts)), 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, fmt.Errorf("aio: io_getevents: %w", errno)
		}
		if n == 1 {
			return s.evs[0].res, nil
		}
	}
}

// Close releases the AIO context and the eventfd. Sync after Close uses
// File.Sync.
func (s *Syncer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.async.Store(false)
	return s.destroy()
}

// destroy ends the context; s.mu is held.
func (s *Syncer) destroy() error {
	if s.ctx == 0 {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_IO_DESTROY, s.ctx, 0, 0)
	s.ctx = 0
	err := s.ev.Close()
	if errno != 0 {
		return fmt.Errorf("aio: io_destroy: %w", errno)
	}
	return err
}
