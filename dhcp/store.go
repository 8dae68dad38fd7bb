package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
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

// Store keeps every network's leases in one JSON file, rewritten
// atomically (temp file, fsync, rename, fsync of the directory) on every
// change, so a crash at any point leaves either the old or the new file.
type Store struct {
	path string
	mu   sync.Mutex
	nets map[string][]Lease
	sync func(*os.File) error // fsync; tests make it fail
}

// OpenStore reads dir/leases.json (absent: empty) and creates dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lease store: %w", err)
	}
	s := &Store{path: filepath.Join(dir, "leases.json"), nets: map[string][]Lease{}, sync: (*os.File).Sync}
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
		s.nets[l.Network] = append(s.nets[l.Network], l)
	}
	return s, nil
}

// Load returns the stored leases of a network.
func (s *Store) Load(network string) []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Lease(nil), s.nets[network]...)
}

// Save replaces a network's leases and writes the file durably.
func (s *Store) Save(network string, leases []Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nets[network] = leases
	var all []Lease
	for _, ls := range s.nets {
		all = append(all, ls...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Network != all[j].Network {
			return all[i].Network < all[j].Network
		}
		return all[i].IP.Less(all[j].IP)
	})
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return s.writeAtomic(data)
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
