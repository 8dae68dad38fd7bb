package testnet

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer that a process's output, a logger or a
// server goroutine writes while the test reads it. The zero value is
// ready to use.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
