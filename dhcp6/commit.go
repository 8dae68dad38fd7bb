package dhcp6

import (
	"github.com/vswitch/vswitch/dhcp"
)

// Durable replies, as the DHCPv4 server makes them (dhcp/commit.go): a
// reply that binds, extends, releases or declines a lease waits for the
// store goroutine to write this server's leases (under dhcp.Key6)
// together with every other server's pending ones, and leaves only after
// that write synced. Without Config.Deliver, Handle writes the file
// itself, on its caller's goroutine (tests and tools). Locks: s.mu, then
// the store's; the store goroutine calls TakeBatch and Complete holding
// none of its own.

// maxPending bounds the replies waiting for the disk (each holds a
// 1500-byte buffer); beyond it a message is dropped as store_busy.
const maxPending = 256

const replyLen = 1500

// commit is a reply waiting for its lease to be written.
type commit struct {
	rep Reply // Msg in buf
	buf []byte
}

var _ dhcp.Batcher = (*Server)(nil)

// commit queues rep (in the caller's buffer) for the next write, or,
// without Deliver, writes now and returns it. s.mu is held.
func (s *Server) commit(rep Reply) (Reply, bool) {
	if s.store == nil {
		return rep, true // memory only: nothing to wait for
	}
	if s.cfg.Deliver == nil {
		if err := s.store.Save(dhcp.Key6(s.cfg.Network), s.stored()); err != nil {
			return s.drop(DropStoreFailed)
		}
		return rep, true
	}
	var c *commit
	if n := len(s.free); n > 0 {
		c, s.free = s.free[n-1], s.free[:n-1]
	} else if s.commits < maxPending {
		s.commits++
		c = &commit{buf: make([]byte, replyLen)}
	} else {
		return s.drop(DropStoreBusy)
	}
	c.rep = rep
	c.rep.Msg = c.buf[:copy(c.buf, rep.Msg)]
	if !s.queued {
		if !s.store.Enqueue(s) {
			s.free = append(s.free, c)
			return s.drop(DropStoreFailed) // the store is closed
		}
		s.queued = true
	}
	s.pend = append(s.pend, c)
	return Reply{}, false
}

// StoreKey implements dhcp.Batcher.
func (s *Server) StoreKey() string { return dhcp.Key6(s.cfg.Network) }

// TakeBatch implements dhcp.Batcher: the snapshot holds every change
// the queued replies made, since they were made under s.mu before it.
func (s *Server) TakeBatch() []dhcp.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushing, s.pend = s.pend, s.flushing[:0]
	s.queued = false
	return s.stored()
}

// Complete implements dhcp.Batcher: on success every reply of the write
// goes out, in order; on failure none does (store_failed). The leases
// stay as they are in memory: the next write stores them, and no client
// was told about one that is not on disk.
func (s *Server) Complete(err error) {
	if err == nil {
		for _, c := range s.flushing {
			s.cfg.Deliver(c.rep) // without s.mu: Deliver may call Handle
		}
	} else {
		s.drops[DropStoreFailed].Add(uint64(len(s.flushing)))
	}
	s.mu.Lock()
	for i, c := range s.flushing {
		c.rep = Reply{}
		s.free = append(s.free, c)
		s.flushing[i] = nil
	}
	s.flushing = s.flushing[:0]
	s.mu.Unlock()
}
