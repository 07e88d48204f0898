package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// ErrDamaged is returned by Open for a directory that holds files but no
// store pebble could open: Open never creates a new store over them.
var ErrDamaged = errors.New("store: directory holds files but no intact pebble store")

// Pebble is the pebble backend.
//
// pebble reports the errors it cannot recover from (a failed write or
// fsync of its log or manifest) through its logger's Fatalf and expects
// the process to exit. Pebble's Fatalf records the error instead and logs
// it; from then on every commit and Sync fails with it, so that nothing
// written after the fault is acknowledged.
type Pebble struct {
	db *pebble.DB

	mu    sync.Mutex
	fault error // the first fatal error pebble reported
}

// OpenPebble opens (creating if missing) the pebble store in directory
// path. opts may be nil (pebble's defaults); it is copied, and its Logger
// is replaced by one writing to log. A directory that holds files but no
// CURRENT file nor manifest marker is refused with ErrDamaged and left as
// it is.
func OpenPebble(path string, opts *pebble.Options, log *slog.Logger) (*Pebble, error) {
	if path == "" {
		return nil, errors.New("store: pebble needs a database path")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts == nil {
		opts = &pebble.Options{}
	} else {
		opts = opts.Clone()
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if err := checkDir(fsys, path); err != nil {
		return nil, err
	}
	if err := fsys.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", path, err)
	}
	p := &Pebble{}
	opts.Logger = pebbleLogger{log: log, p: p}
	db, err := pebble.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("store: opening pebble in %s: %w", path, err)
	}
	if err := p.Fault(); err != nil {
		return nil, errors.Join(fmt.Errorf("store: opening pebble in %s: %w", path, err), db.Close())
	}
	p.db = db
	return p, nil
}

// checkDir refuses a directory that has files but neither pebble's CURRENT
// file nor a manifest marker: pebble would start a new store there (with
// CURRENT missing it even rewrites the manifest and deletes the log), and
// whatever was in it would be lost. A missing or empty directory, or one
// holding only a lock file, is a new store.
func checkDir(fsys vfs.FS, path string) error {
	names, err := fsys.List(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: reading %s: %w", path, err)
	}
	var others []string
	for _, n := range names {
		switch {
		case n == "CURRENT" || strings.HasPrefix(n, "marker.manifest."):
			return nil
		case n == "LOCK":
		default:
			others = append(others, n)
		}
	}
	if len(others) == 0 {
		return nil
	}
	if len(others) > 5 {
		others = append(others[:5], "...")
	}
	return fmt.Errorf("%w: %s has %s but no CURRENT file; refusing to create a new store over it (restore CURRENT or move the files away)",
		ErrDamaged, path, strings.Join(others, ", "))
}

// Fault returns the first fatal error pebble reported, or nil.
func (p *Pebble) Fault() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// setFault records err as the store's fault unless one is recorded.
func (p *Pebble) setFault(err error) {
	p.mu.Lock()
	if p.fault == nil {
		p.fault = err
	}
	p.mu.Unlock()
}

// NewBatch starts an indexed batch, so that reads see its writes.
func (p *Pebble) NewBatch() Batch { return &pebbleBatch{p: p, b: p.db.NewIndexedBatch()} }

// Sync writes pebble's log to the operating system and syncs it, so that
// every write committed before it survives a crash of the process and of
// the machine. (pebble keeps the log's last partial block in memory until
// a commit asks for a sync.)
func (p *Pebble) Sync() error {
	if err := p.Fault(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	err := p.db.LogData(nil, pebble.Sync)
	if ferr := p.Fault(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// Close flushes the memtable to disk, so that what a clean stop leaves
// behind survives even a later power loss, and closes the database. After
// a fault it only closes: what could not be written is not retried.
func (p *Pebble) Close() error {
	var ferr error
	if p.Fault() == nil {
		ferr = p.db.Flush()
	}
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("store: closing pebble: %w", errors.Join(ferr, err))
	}
	if ferr != nil {
		return fmt.Errorf("store: flushing pebble: %w", ferr)
	}
	if err := p.Fault(); err != nil {
		return fmt.Errorf("store: closed after a fault: %w", err)
	}
	return nil
}

// pebbleBatch is an indexed pebble batch: reads see its own writes.
type pebbleBatch struct {
	p *Pebble
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
	if err := pb.p.Fault(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	err := pb.b.Commit(opt)
	// A failed log write or sync reaches pebble's Fatalf, after which
	// Commit returns nil: the fault says it failed.
	if ferr := pb.p.Fault(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
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

// pebbleLogger sends pebble's messages to a slog.Logger and records its
// fatal errors in p.
type pebbleLogger struct {
	log *slog.Logger
	p   *Pebble
}

// Infof logs pebble's routine messages at debug level.
func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

// Errorf logs pebble's errors.
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs an error pebble cannot recover from and records it as the
// store's fault (keeping the error passed, so that errors.Is finds its
// cause, such as syscall.ENOSPC), instead of ending the process: the
// server refuses writes from then on and decides what to do.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "component", "pebble", "fatal", true)
	var cause error
	for _, a := range args {
		if err, ok := a.(error); ok {
			cause = err
		}
	}
	if cause != nil {
		l.p.setFault(&FaultError{Msg: msg, Err: cause})
	} else {
		l.p.setFault(&FaultError{Msg: msg})
	}
}

// FaultError is an error pebble could not recover from.
type FaultError struct {
	Msg string // pebble's message
	Err error  // the error it reported, if any
}

// Error returns pebble's message.
func (e *FaultError) Error() string { return e.Msg }

// Unwrap returns the error pebble reported.
func (e *FaultError) Unwrap() error { return e.Err }
