package nmdb

import (
	"errors"
	"syscall"
	"time"

	"github.com/nmdb-go/nmdb/internal/dbq"
	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// result is the outcome of a queued write whose reply waits for the commit.
type result struct {
	code wire.Code
	n    int64  // incr: the new value
	fill []byte // cas, incr: the new value to cache after the commit
}

// DefaultSyncInterval is Config.SyncInterval's default.
const DefaultSyncInterval = 10 * time.Millisecond

// maxGroupWait bounds how long the worker holds a batch of sync writes
// back to let more writers join it.
const maxGroupWait = 2 * time.Millisecond

// work is the database worker: it takes everything queued, applies it in
// order as one batch, and commits the batch once (group commit).
//
// A batch with sync writes ends with an fsync, and its writers get their
// replies only then. Left alone, writers then split into two groups that
// alternate: while one group's fsync runs, the other group's writes queue,
// and the group just answered comes back a round trip too late for the next
// batch. So before taking a batch that holds sync writes, the worker waits
// for as many more sync writes as it just answered, for at most half the
// recent fsync time: a lone writer never waits (its next write is the one
// expected), and a wait that finds nobody costs at most a third of the
// rate.
func (s *Server) work() {
	defer close(s.workerDone)
	var sc []byte
	var results []result
	var answered int
	var fsync time.Duration // moving average of a synced commit's duration
	for {
		ops := s.q.DrainGroup(answered, min(fsync/2, maxGroupWait))
		if len(ops) == 0 {
			return
		}
		for len(ops) > 0 {
			// A Reopen splits the round: what came before it goes to
			// the old store, what came after to the new one.
			n := 0
			for n < len(ops) && ops[n].Kind != dbq.Reopen {
				n++
			}
			if n > 0 {
				var took time.Duration
				results, answered, took = s.runBatch(ops[:n], results, &sc)
				if took > 0 {
					fsync += (took - fsync) / 4
				}
			}
			if n < len(ops) {
				s.reopenStore()
				n++
			}
			ops = ops[n:]
		}
	}
}

// runBatch applies ops in order to one store batch. Reads are answered as
// soon as they are done (they see every earlier write, committed or in this
// batch). Writes are committed together, with an fsync if any of them asked
// for one, and their replies sent after the commit. It returns how many
// sync writes it answered and, when it synced, how long the commit took.
func (s *Server) runBatch(ops []dbq.Op[replyTo], results []result, sc *[]byte) ([]result, int, time.Duration) {
	b := s.store.NewBatch()
	sync := false
	results = results[:0]
	for i := range ops {
		results = append(results, result{})
		op, res := &ops[i], &results[i]
		var err error
		switch op.Kind {
		case dbq.Get:
			s.dbGet(b, op, sc)
		case dbq.FirstKey, dbq.NextKey:
			var key []byte
			var found bool
			key, found, err = b.Next(nil, op.Key, op.Kind == dbq.FirstKey)
			if err == nil {
				if found {
					s.replyValue(&op.Reply, sc, op.ID, wire.CodeOK, key)
				} else {
					s.replyCode(&op.Reply, sc, op.ID, wire.CodeNotIn)
				}
			}
		case dbq.Set:
			sync = sync || op.Sync
			err = b.Set(op.Key, op.Val)
			res.code = wire.CodeOK
		case dbq.Del:
			sync = sync || op.Sync
			var found bool
			if op.Sync {
				_, found, err = b.Get(nil, op.Key)
			}
			if err == nil {
				err = b.Delete(op.Key)
			}
			res.code = wire.CodeOK
			if op.Sync && !found {
				res.code = wire.CodeNotIn
			}
		case dbq.CAS:
			err = s.dbCAS(b, op, res)
			// Only a swap writes, and only a write need be synced.
			sync = sync || err == nil && res.code == wire.CodeOK
		case dbq.Incr:
			err = s.dbIncr(b, op, res)
			sync = sync || err == nil && res.code == wire.CodeOK
		}
		if err != nil {
			s.log.Error("database operation failed", "op", op.Kind, "err", err)
			res.code = wire.CodeErr
			if op.Kind == dbq.Get || op.Kind == dbq.FirstKey || op.Kind == dbq.NextKey {
				s.replyErr(&op.Reply, sc, op.ID, wire.ErrCodeDB)
			}
		}
	}

	var commitErr error
	var took time.Duration
	if b.Writes() {
		start := time.Now()
		commitErr = b.Commit(sync)
		if sync {
			took = time.Since(start)
		}
		if commitErr != nil {
			s.storeFailed(commitErr, len(ops))
		} else if !sync {
			s.markUnsynced()
		}
	}
	if err := b.Close(); err != nil {
		s.log.Error("closing database batch", "err", err)
	}

	answered := 0
	for i := range ops {
		op, res := &ops[i], &results[i]
		if commitErr != nil && op.Kind != dbq.Get && op.Kind != dbq.FirstKey && op.Kind != dbq.NextKey {
			// What was not written must not be served from the cache.
			sh := s.cache.Shard(op.Key)
			sh.Lock()
			sh.Delete(op.Key)
			sh.Unlock()
		}
		switch op.Kind {
		case dbq.Set, dbq.Del:
			if op.Sync {
				s.answer(op, res, commitErr, sc)
				answered++
			}
		case dbq.CAS, dbq.Incr:
			if commitErr == nil && res.fill != nil {
				sh := s.cache.Shard(op.Key)
				sh.Lock()
				sh.Fill(op.Key, res.fill, op.Gen)
				sh.Unlock()
			}
			s.answer(op, res, commitErr, sc)
		}
		if op.Reply.tc != nil {
			op.Reply.tc.donePending()
		}
		results[i] = result{}
	}
	return results, answered, took
}

// answer sends the reply to a write once its batch is committed.
func (s *Server) answer(op *dbq.Op[replyTo], res *result, commitErr error, sc *[]byte) {
	switch {
	case commitErr != nil || res.code == wire.CodeErr:
		s.replyErr(&op.Reply, sc, op.ID, wire.ErrCodeDB)
	case op.Kind == dbq.Incr && res.code == wire.CodeOK:
		s.replyIncr(&op.Reply, sc, op.ID, res.n)
	default:
		s.replyCode(&op.Reply, sc, op.ID, res.code)
	}
}

// dbGet answers a get that missed the cache and fills the cache with the
// answer unless a write raced it or the get asked not to (FlagNoFill).
func (s *Server) dbGet(b store.Batch, op *dbq.Op[replyTo], sc *[]byte) {
	v, found, err := b.Get(nil, op.Key)
	if err != nil {
		s.log.Error("database get failed", "err", err)
		s.replyErr(&op.Reply, sc, op.ID, wire.ErrCodeDB)
		return
	}
	if !found {
		s.inc(wire.StatDBMisses)
		s.replyCode(&op.Reply, sc, op.ID, wire.CodeNotIn)
		return
	}
	s.inc(wire.StatDBHits)
	if v == nil {
		v = []byte{}
	}
	if !op.NoFill {
		sh := s.cache.Shard(op.Key)
		sh.Lock()
		sh.Fill(op.Key, v, op.Gen)
		sh.Unlock()
	}
	s.replyValue(&op.Reply, sc, op.ID, wire.CodeOK, v)
}

// dbCAS does a compare-and-swap in the database.
func (s *Server) dbCAS(b store.Batch, op *dbq.Op[replyTo], res *result) error {
	v, found, err := b.Get(nil, op.Key)
	if err != nil {
		return err
	}
	switch {
	case !found:
		res.code = wire.CodeNotIn
	case string(v) != string(op.Old):
		res.code = wire.CodeNoMatch
		res.fill = v
	default:
		if err := b.Set(op.Key, op.Val); err != nil {
			return err
		}
		res.code = wire.CodeOK
		res.fill = op.Val
	}
	return nil
}

// dbIncr increments a counter in the database.
func (s *Server) dbIncr(b store.Batch, op *dbq.Op[replyTo], res *result) error {
	v, found, err := b.Get(nil, op.Key)
	if err != nil {
		return err
	}
	if !found {
		res.code = wire.CodeNotIn
		return nil
	}
	n, out, ok := wire.Incr(nil, v, op.Delta)
	if !ok {
		res.code = wire.CodeNoMatch
		res.fill = v
		return nil
	}
	if err := b.Set(op.Key, out); err != nil {
		return err
	}
	res.code, res.n, res.fill = wire.CodeOK, n, out
	return nil
}

// markUnsynced tells the syncer that a commit without sync has written.
func (s *Server) markUnsynced() {
	select {
	case s.unsynced <- struct{}{}:
	default:
	}
}

// syncLoop makes normal-mode writes durable: pebble keeps the log's last
// partial block in memory until a commit asks for a sync, so a write
// committed without one would stay in the process, lost to a crash, for as
// long as no other write came. Once a commit without sync has written, the
// loop waits the sync interval (so that a stream of writes shares one
// fsync) and syncs the log, beside the worker: the worker's commits do not
// wait for it.
func (s *Server) syncLoop(interval time.Duration) {
	defer close(s.syncDone)
	t := time.NewTimer(interval)
	t.Stop()
	for {
		select {
		case <-s.unsynced:
		case <-s.syncStop:
			return
		}
		t.Reset(interval)
		select {
		case <-t.C:
		case <-s.syncStop:
			t.Stop()
			return
		}
		if s.fault.Load() != nil {
			continue
		}
		s.storeMu.RLock()
		err := s.store.Sync()
		s.storeMu.RUnlock()
		if err != nil {
			s.storeFailed(err, 0)
		}
	}
}

// storeFault is the error that made the store fail.
type storeFault struct{ err error }

// storeFailed records a failed commit or sync. The first failure makes
// the server refuse every write from then on (ERR 0x106, see handle) while
// reads go on, is logged, and is handed to Config.OnStoreFault.
func (s *Server) storeFailed(err error, ops int) {
	if !s.fault.CompareAndSwap(nil, &storeFault{err: err}) {
		s.log.Error("database write failed", "ops", ops, "err", err)
		return
	}
	s.log.Error("database write failed: refusing writes from now on; reads go on",
		"ops", ops, "err", err)
	if s.reopen != nil && errors.Is(err, syscall.ENOSPC) {
		s.log.Info("the disk is full: the database is reopened once it has room again",
			"room_needed_mib", recoverSpace>>20)
		go s.recoverLoop()
	}
	if s.onFault != nil {
		go s.onFault(err)
	}
}

// recoverSpace is the free space the store's disk must have before the
// server reopens the store after it ran out of space.
const recoverSpace = 32 << 20

// recoverEvery is how often a server whose disk was full checks its space.
const recoverEvery = time.Second

// recoverLoop waits for the store's disk to have recoverSpace free, then
// has the worker reopen the store (a failed pebble log cannot go on), and
// again after every failed attempt, until the store works or the server
// shuts down.
func (s *Server) recoverLoop() {
	t := time.NewTicker(recoverEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.syncStop:
			return
		}
		if s.fault.Load() == nil || s.closing.Load() {
			return
		}
		free, err := s.freeSpace()
		if err != nil || free < recoverSpace {
			continue
		}
		if err := s.q.Push(dbq.Op[replyTo]{Kind: dbq.Reopen}); err != nil {
			return
		}
	}
}

// reopenStore closes the failed store and opens it again (worker only).
// It clears the fault when the store opens; otherwise the store answers
// every operation with the error, and recoverLoop tries again.
func (s *Server) reopenStore() {
	f := s.fault.Load()
	if f == nil || s.reopen == nil {
		return
	}
	s.log.Info("reopening the database", "fault", f.err)
	s.storeMu.Lock()
	if err := s.store.Close(); err != nil {
		s.log.Info("closing the failed database", "err", err)
	}
	st, err := s.reopen()
	if err != nil {
		s.store = failedStore{err: err}
	} else {
		s.store = st
	}
	s.storeMu.Unlock()
	if err != nil {
		s.log.Error("reopening the database failed; trying again", "err", err)
		return
	}
	s.fault.Store(nil)
	s.log.Info("the database is writable again")
}

// failedStore stands in for a store that could not be reopened.
type failedStore struct{ err error }

func (f failedStore) NewBatch() store.Batch { return failedBatch(f) }
func (f failedStore) Sync() error           { return f.err }
func (f failedStore) Close() error          { return f.err }

// failedBatch is failedStore's batch: every operation fails.
type failedBatch failedStore

func (f failedBatch) Get(dst, _ []byte) ([]byte, bool, error) { return dst, false, f.err }
func (f failedBatch) Set(_, _ []byte) error                   { return f.err }
func (f failedBatch) Delete(_ []byte) error                   { return f.err }
func (f failedBatch) Next(dst, _ []byte, _ bool) ([]byte, bool, error) {
	return dst, false, f.err
}
func (f failedBatch) Writes() bool      { return false }
func (f failedBatch) Commit(bool) error { return f.err }
func (f failedBatch) Close() error      { return nil }

// StoreFault returns the error that made the store fail, or nil while it
// works. While it is failed, the server refuses every write that would
// reach the store with ERR 0x106 (wire.ErrCodeDB); reads and cache-only
// requests go on. Only a full disk is recovered from (see
// Config.OnStoreFault).
func (s *Server) StoreFault() error {
	if f := s.fault.Load(); f != nil {
		return f.err
	}
	return nil
}
