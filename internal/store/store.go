// Package store holds the database backends behind the server's queue: a
// pebble key-value store on disk, and a null backend that stores nothing.
//
// All access goes through a Batch: the server's single database worker
// opens one per round of queued operations, applies them in order (reads
// see the batch's own earlier writes), and commits the round at once.
package store

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble"
)

// ErrUnknownBackend is returned by Open for a backend this build lacks.
var ErrUnknownBackend = errors.New("store: unknown backend")

// Store is a database backend.
type Store interface {
	// NewBatch starts a batch of operations.
	NewBatch() Batch
	// Sync makes every write committed so far durable: written to the
	// operating system and synced to disk.
	Sync() error
	// Close flushes and closes the store.
	Close() error
}

// Batch is a group of operations applied in order and committed at once.
// Reads see the batch's own earlier writes on top of the store. A Batch is
// used by one goroutine.
type Batch interface {
	// Get appends the value of key to dst and reports whether key exists.
	Get(dst, key []byte) ([]byte, bool, error)
	// Set stores val under key.
	Set(key, val []byte) error
	// Delete removes key.
	Delete(key []byte) error
	// Next appends to dst the first key after the given one (the first key
	// of all when first is true) and reports whether there is one.
	Next(dst, after []byte, first bool) ([]byte, bool, error)
	// Writes reports whether the batch holds writes to commit.
	Writes() bool
	// Commit makes the batch's writes part of the store, durably on disk
	// before returning when sync is true.
	Commit(sync bool) error
	// Close releases the batch; its uncommitted writes are dropped.
	Close() error
}

// Backends returns the names of the backends this build has.
func Backends() []string { return []string{"pebble", "null"} }

// Options are the settings of Open. The zero value means defaults.
type Options struct {
	// Logger receives the backend's messages; nil discards them.
	Logger *slog.Logger
	// Pebble are pebble's options; nil means pebble's defaults. They are
	// copied, and their Logger is replaced (see OpenPebble).
	Pebble *pebble.Options
}

// Open opens the named backend ("" means pebble) at path.
func Open(backend, path string, o Options) (Store, error) {
	switch backend {
	case "", "pebble":
		return OpenPebble(path, o.Pebble, o.Logger)
	case "null":
		return Null{}, nil
	}
	return nil, fmt.Errorf("store: backend %q (this build has %v): %w",
		backend, Backends(), ErrUnknownBackend)
}

// Null is the backend that stores nothing: writes succeed and vanish, reads
// find nothing.
type Null struct{}

// NewBatch returns a batch that drops its writes.
func (Null) NewBatch() Batch { return nullBatch{} }

// Sync does nothing.
func (Null) Sync() error { return nil }

// Close does nothing.
func (Null) Close() error { return nil }

// nullBatch is a batch of the null store.
type nullBatch struct{}

// Get finds nothing.
func (nullBatch) Get(dst, _ []byte) ([]byte, bool, error) { return dst, false, nil }

// Set drops the write.
func (nullBatch) Set(_, _ []byte) error { return nil }

// Delete does nothing.
func (nullBatch) Delete(_ []byte) error { return nil }

// Next finds no key.
func (nullBatch) Next(dst, _ []byte, _ bool) ([]byte, bool, error) { return dst, false, nil }

// Writes reports false: nothing is ever kept to commit.
func (nullBatch) Writes() bool { return false }

// Commit does nothing.
func (nullBatch) Commit(bool) error { return nil }

// Close does nothing.
func (nullBatch) Close() error { return nil }
