package dhcp

import "github.com/vswitch/vswitch/internal/pkt"

// The store goroutine: durable writes off the callers' goroutines.
//
// A server with Config.Deliver changes its leases in memory at once and
// asks the store to write them (enqueue). The store goroutine takes every
// server asking, snapshots each one's leases with the REQUESTs they carry
// (takeBatch), writes the whole file once, and then hands each server the
// outcome (complete): delivered ACKs on success, reverted leases on
// failure. Locks are taken in one order: a Server's mu before the Store's
// qmu or mu, and the store goroutine holds neither of those while it takes
// a Server's mu.

// maxPending bounds one server's REQUESTs waiting for the disk (queued
// or being written); beyond it a REQUEST is dropped as store_busy. Each
// holds a reply buffer, so this is also the server's memory bound for
// them (1.5 MB). It is also the most one write can acknowledge: as the
// file grows, a write takes longer and more REQUESTs come due while it
// runs, so the bound must leave room for them (perfdhcp at 1500 DORA/s
// over 10k leases found 128 too few).
const maxPending = 1024

// replyLen is the size of the reply buffers the server owns: a DHCP
// message in a 1500-byte frame never needs more.
const replyLen = 1500

// commit is a REQUEST whose ACK waits for its lease to be written.
type commit struct {
	l       *lease
	seq     uint64 // l.seq once this REQUEST changed it
	covered bool   // the write under way holds l bound
	rep     Reply  // Msg in buf
	buf     []byte
}

// enqueue puts srv on the store goroutine's list, starting the goroutine
// the first time; false once the store is closed.
func (s *Store) enqueue(srv Batcher) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.closed {
		return false
	}
	s.dirty = append(s.dirty, srv)
	if !s.running {
		s.running = true
		go s.run()
	}
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return true
}

// Close writes what servers have queued, then stops the store goroutine;
// REQUESTs after it get no ACK (store_failed). Save still works.
func (s *Store) Close() {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return
	}
	s.closed = true
	running := s.running
	s.qmu.Unlock()
	if running {
		close(s.stop)
		<-s.exited
	}
}

func (s *Store) run() {
	defer close(s.exited)
	for {
		select {
		case <-s.wake:
		case <-s.stop:
		}
		s.qmu.Lock()
		batch, closed := s.dirty, s.closed
		s.dirty = s.spare[:0]
		s.qmu.Unlock()
		if len(batch) > 0 {
			s.flush(batch)
		}
		clear(batch)
		s.qmu.Lock()
		s.spare = batch[:0]
		s.qmu.Unlock()
		if closed {
			// closed was set before this batch was taken, so no server
			// was queued after it.
			return
		}
	}
}

// Enqueue is enqueue for a Batcher of another package (dhcp6).
func (s *Store) Enqueue(b Batcher) bool { return s.enqueue(b) }

// flush writes the leases of every server in batch as one file, then
// completes their REQUESTs.
func (s *Store) flush(batch []Batcher) {
	snaps := make([][]Lease, len(batch))
	for i, srv := range batch {
		snaps[i] = srv.TakeBatch()
	}
	type saved struct {
		leases []Lease
		had    bool
	}
	prev := make([]saved, len(batch))
	s.mu.Lock()
	for i, srv := range batch {
		k := srv.StoreKey()
		prev[i].leases, prev[i].had = s.nets[k]
		s.nets[k] = snaps[i]
	}
	err := s.write()
	if err != nil {
		for i := len(batch) - 1; i >= 0; i-- {
			s.restore(batch[i].StoreKey(), prev[i].leases, prev[i].had)
		}
	}
	s.mu.Unlock()
	for _, srv := range batch {
		srv.Complete(err)
	}
}

// The Server's side of Batcher.
var _ Batcher = (*Server)(nil)

func (s *Server) StoreKey() string   { return s.cfg.Network }
func (s *Server) TakeBatch() []Lease { return s.takeBatch() }
func (s *Server) Complete(err error) { s.complete(err) }

// schedule makes sure the store goroutine will write this server's leases
// after the current change; false once the store is closed. s.mu is held.
func (s *Server) schedule() bool {
	if s.queued {
		return true // the store has not taken this server's batch yet
	}
	if !s.store.enqueue(s) {
		return false
	}
	s.queued = true
	return true
}

// newCommit returns a free commit, or nil when maxPending are out.
func (s *Server) newCommit() *commit {
	if n := len(s.free); n > 0 {
		c := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		return c
	}
	if s.commits == maxPending {
		return nil
	}
	s.commits++
	return &commit{buf: make([]byte, replyLen)}
}

// takeBatch hands the store this server's queued REQUESTs and a snapshot
// of its leases, which holds every change they made.
func (s *Server) takeBatch() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushing, s.pend = s.pend, s.flushing[:0]
	s.queued = false
	for _, c := range s.flushing {
		l := c.l
		l.snap = l.leaseState
		// A RELEASE, DECLINE or newer binding since the REQUEST decides
		// what is written; only a lease written bound is acknowledged.
		c.covered = s.current(l) && !l.offered && l.State == "bound"
	}
	return s.stored()
}

// complete ends the REQUESTs of a write: err nil, each written one is
// acknowledged through Deliver, in order; otherwise none is, and each
// lease no newer REQUEST has changed since goes back to what is on disk.
func (s *Server) complete(err error) {
	s.mu.Lock()
	for _, c := range s.flushing {
		l := c.l
		l.pending--
		if err != nil {
			c.covered = false
			s.drops[DropStoreFailed].Add(1)
			// If l.seq moved on, a newer REQUEST of this client is
			// queued and its own write decides; l.undo stays what
			// is on disk.
			if l.seq == c.seq && s.current(l) {
				l.leaseState = l.undo // not acknowledged, so not bound either
				if l.offered {
					s.expiresAt(l.Expiry)
				}
			}
			continue
		}
		l.undo = l.snap // now on disk
	}
	s.mu.Unlock()
	// Without the lock: Deliver may call Handle.
	for _, c := range s.flushing {
		if c.covered {
			s.msgs[pkt.DHCPAck].Add(1)
			s.cfg.Deliver(c.rep)
		}
	}
	s.mu.Lock()
	for i, c := range s.flushing {
		c.l, c.rep = nil, Reply{}
		s.free = append(s.free, c)
		s.flushing[i] = nil
	}
	s.flushing = s.flushing[:0]
	s.mu.Unlock()
}

// current reports whether l is still its client's lease on its address.
func (s *Server) current(l *lease) bool {
	return s.byClient[l.ClientID] == l && s.byIP[l.IP] == l
}
