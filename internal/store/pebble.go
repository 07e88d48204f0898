package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cockroachdb/pebble"
)

// Pebble is the pebble backend.
type Pebble struct {
	db *pebble.DB
}

// OpenPebble opens (creating if missing) the pebble store in directory
// path.
func OpenPebble(path string, log *slog.Logger) (*Pebble, error) {
	if path == "" {
		return nil, errors.New("store: pebble needs a database path")
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", path, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := pebble.Open(path, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("store: opening pebble in %s: %w", path, err)
	}
	return &Pebble{db: db}, nil
}

// NewBatch starts an indexed batch, so that reads see its writes.
func (p *Pebble) NewBatch() Batch { return &pebbleBatch{b: p.db.NewIndexedBatch()} }

// Close flushes the memtable to disk, so that what a clean stop leaves
// behind survives even a later power loss, and closes the database.
func (p *Pebble) Close() error {
	ferr := p.db.Flush()
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("store: closing pebble: %w", errors.Join(ferr, err))
	}
	if ferr != nil {
		return fmt.Errorf("store: flushing pebble: %w", ferr)
	}
	return nil
}

// pebbleBatch is an indexed pebble batch: reads see its own writes.
type pebbleBatch struct {
	b *pebble.Batch
}

// Get reads key through the batch onto the database.
func (pb *pebbleBatch) Get(dst, key []byte) ([]byte, bool, error) {
	v, closer, err := pb.b.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, fmt.Errorf("store: get: %w", err)
	}
	dst = append(dst, v...)
	if err := closer.Close(); err != nil {
		return dst, false, fmt.Errorf("store: get: %w", err)
	}
	return dst, true, nil
}

// Set adds a write of key to the batch.
func (pb *pebbleBatch) Set(key, val []byte) error {
	if err := pb.b.Set(key, val, nil); err != nil {
		return fmt.Errorf("store: set: %w", err)
	}
	return nil
}

// Delete adds a deletion of key to the batch.
func (pb *pebbleBatch) Delete(key []byte) error {
	if err := pb.b.Delete(key, nil); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// Next finds the first key, or the first key after the given one, with a
// fresh iterator over the batch and the database.
func (pb *pebbleBatch) Next(dst, after []byte, first bool) (_ []byte, found bool, err error) {
	it, err := pb.b.NewIter(nil)
	if err != nil {
		return dst, false, fmt.Errorf("store: iterator: %w", err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("store: iterator: %w", cerr)
		}
	}()
	var ok bool
	if first {
		ok = it.First()
	} else {
		ok = it.SeekGE(after)
		if ok && string(it.Key()) == string(after) {
			ok = it.Next()
		}
	}
	if !ok {
		if err := it.Error(); err != nil {
			return dst, false, fmt.Errorf("store: iterating: %w", err)
		}
		return dst, false, nil
	}
	return append(dst, it.Key()...), true, nil
}

// Writes reports whether the batch holds any write.
func (pb *pebbleBatch) Writes() bool { return !pb.b.Empty() }

// Commit applies the batch, with an fsync of the log when sync is set.
func (pb *pebbleBatch) Commit(sync bool) error {
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := pb.b.Commit(opt); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Close releases the batch.
func (pb *pebbleBatch) Close() error {
	if err := pb.b.Close(); err != nil {
		return fmt.Errorf("store: closing batch: %w", err)
	}
	return nil
}

// pebbleLogger sends pebble's messages to a slog.Logger.
type pebbleLogger struct{ log *slog.Logger }

// Infof logs pebble's routine messages at debug level.
func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

// Errorf logs pebble's errors.
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs a fatal pebble error and panics: pebble cannot go on.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "component", "pebble")
	panic("pebble: " + msg)
}
