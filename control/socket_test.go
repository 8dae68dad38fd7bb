package control

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestSameMomentServers: servers that Listen at the same moment on one
// path, over a crashed vswitch's stale socket: exactly one gets it, every
// other is told another vswitch is running, and the winner answers there
// after the losers are closed (a loser never removes the winner's file).
func TestSameMomentServers(t *testing.T) {
	for round := range 10 {
		path := filepath.Join(t.TempDir(), "vswitch.sock")
		testnet.StaleSocket(t, path)

		const n = 6
		servers := make([]*Server, n)
		errs := make([]error, n)
		var wg, start sync.WaitGroup
		start.Add(1)
		for i := range n {
			servers[i] = NewServer(&fakeBackend{}, quiet())
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				errs[i] = servers[i].Listen(path)
			}()
		}
		start.Done()
		wg.Wait()
		var winner *Server
		for i, err := range errs {
			switch {
			case err == nil && winner != nil:
				t.Fatalf("round %d: two servers listen on %s", round, path)
			case err == nil:
				winner = servers[i]
			case err.Error() != "another vswitch is running on "+path:
				t.Fatalf("round %d: a loser's error: %v", round, err)
			}
		}
		if winner == nil {
			t.Fatalf("round %d: no server got %s: %v", round, path, errs)
		}
		for _, s := range servers {
			if s != winner {
				s.Close()
			}
		}
		done := make(chan error, 1)
		go func() { done <- winner.Serve() }()
		if err := NewClient(path).Health(context.Background()); err != nil {
			t.Fatalf("round %d: the winner after the losers closed: %v", round, err)
		}
		winner.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
