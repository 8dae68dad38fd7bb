package testnet

import (
	"testing"
	"time"
)

// Recv is the next value on ch; the test fails if none comes within
// timeout, as WaitFor fails for a condition.
func Recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	v, ok := Poll(ch, timeout)
	if !ok {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
	return v
}

// Poll is the next value on ch if one comes within d: a "nothing
// arrived" check fails when ok.
func Poll[T any](ch <-chan T, d time.Duration) (v T, ok bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v = <-ch: // a closed channel's zero value counts as arrived, as in a select
		return v, true
	case <-timer.C:
		return v, false
	}
}

// Within runs f and fails the test unless it returns within timeout (f
// is left running then).
func Within(t testing.TB, timeout time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	Recv(t, done, timeout, what)
}
