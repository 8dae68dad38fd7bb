package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vswitch/vswitch/internal/aio"
)

// Lease is one client's address, as stored and as shown by `show leases`.
type Lease struct {
	Network  string     `json:"network"`
	ClientID string     `json:"client_id"` // option 61 in hex, or "mac:" + chaddr
	MAC      string     `json:"mac"`
	IP       netip.Addr `json:"ip"`
	Hostname string     `json:"hostname,omitempty"`
	Expiry   time.Time  `json:"expiry"`
	State    string     `json:"state"` // bound | released
	Static   bool       `json:"static,omitempty"`
}

// BoundAt reports whether l is bound and unexpired at now: a lease its
// client holds (what the leases gauge counts, and what DNS names and the
// guard's bindings come from).
func (l *Lease) BoundAt(now time.Time) bool { return l.State == "bound" && l.Expiry.After(now) }

// Store keeps every network's leases in one JSON file, rewritten
// atomically (temp file, fsync, rename, fsync of the directory) on every
// change, so a crash at any point leaves either the old or the new file.
//
// A server without Config.Deliver writes through Save on its caller's
// goroutine. A server with Deliver hands its writes to the store
// goroutine, which starts with the first of them and ends with Close: it
// writes everything pending when it wakes as one file, then completes
// each REQUEST in that write.
type Store struct {
	path string
	mu   sync.Mutex // nets and the file
	nets map[string][]Lease
	sync func(*os.File) error // fsync; tests make it fail or block
	all  []Lease              // write's scratch, under mu
	enc  []byte               // the file as written last, under mu: its buffer is reused

	qmu     sync.Mutex // the fields below
	dirty   []Batcher  // servers with leases to write, each once (Server.queued)
	spare   []Batcher  // dirty's other backing array
	running bool       // the store goroutine was started
	closed  bool       // Close was called: nothing more is queued
	wake    chan struct{}
	stop    chan struct{}
	exited  chan struct{}
}

// OpenStore reads dir/leases.json (absent: empty) and creates dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lease store: %w", err)
	}
	s := &Store{path: filepath.Join(dir, "leases.json"), nets: map[string][]Lease{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
	s.sync = aio.Sync // without holding a thread
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lease store: %w", err)
	}
	var all []Lease
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("lease store %s: %w (move it aside to start with no leases)", s.path, err)
	}
	for _, l := range all {
		k := l.Network
		if l.IP.Is6() {
			k = Key6(l.Network)
		}
		s.nets[k] = append(s.nets[k], l)
	}
	return s, nil
}

// SyncErr is nil when the store's fsyncs wait without holding a thread
// (Linux AIO), and otherwise says why they hold one (package aio).
func (s *Store) SyncErr() error { return aio.Err() }

// Key6 is where a network's DHCPv6 leases live in the store: Load and
// Batcher.StoreKey take it in place of the network's name, so each
// family's server replaces only its own leases. A lease's family is its
// address's, so the file needs no field for it.
func Key6(network string) string { return network + "\x00v6" }

// Batcher is a lease server whose writes the store goroutine batches
// into one synced file: the DHCPv4 Server here and the DHCPv6 one
// (package dhcp6). Both follow the same contract (commit.go).
type Batcher interface {
	// StoreKey names its leases in the store: the network, or Key6.
	StoreKey() string
	// TakeBatch hands over the replies waiting for the disk and returns
	// a snapshot of its leases that holds every change they made.
	TakeBatch() []Lease
	// Complete ends the write: err nil, each reply whose lease was
	// written goes out; otherwise none does and the leases go back to
	// what is on disk.
	Complete(err error)
}

// Load returns the stored leases of a network (or of Key6(network)).
func (s *Store) Load(network string) []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Lease(nil), s.nets[network]...)
}

// Save replaces a network's leases and writes the file durably. If the
// write fails, the network's leases are what they were, so no later write
// (of any network) stores what this one could not.
func (s *Store) Save(network string, leases []Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, had := s.nets[network]
	s.nets[network] = leases
	if err := s.write(); err != nil {
		s.restore(network, prev, had)
		return err
	}
	return nil
}

func (s *Store) restore(network string, prev []Lease, had bool) {
	if had {
		s.nets[network] = prev
	} else {
		delete(s.nets, network)
	}
}

// write stores every network's leases; s.mu is held.
func (s *Store) write() error {
	all := s.all[:0]
	for _, ls := range s.nets {
		all = append(all, ls...)
	}
	slices.SortFunc(all, func(a, b Lease) int {
		if c := strings.Compare(a.Network, b.Network); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	s.enc = appendLeases(s.enc[:0], all)
	clear(all) // no strings kept alive past the write
	s.all = all[:0]
	return s.writeAtomic(s.enc)
}

func (s *Store) writeAtomic(data []byte) error {
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, ".leases-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := s.sync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return s.sync(d)
}
