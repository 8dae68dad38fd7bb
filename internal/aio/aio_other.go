//go:build !linux

package aio

import (
	"errors"
	"os"
)

// Syncer is File.Sync where there is no Linux AIO.
type Syncer struct{}

// New returns a Syncer that uses File.Sync, and says so.
func New() (*Syncer, error) { return &Syncer{}, errors.New("aio: not on this system") }

// Async is false: every fsync holds its thread.
func (*Syncer) Async() bool { return false }

// Sync is f.Sync().
func (*Syncer) Sync(f *os.File) error { return f.Sync() }

// Close does nothing.
func (*Syncer) Close() error { return nil }

// Sync is f.Sync().
func Sync(f *os.File) error { return f.Sync() }

// Err says there is no AIO here.
func Err() error { return errors.New("aio: not on this system") }
