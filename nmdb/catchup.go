package nmdb

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nmdb-go/nmdb/internal/dbq"
)

// Live writes noted while a catch-up runs (CatchUp.live).
const (
	liveAbsolute = 1 // a set or del: its value does not depend on the old one
	liveRelative = 2 // only cas or incr: the result depends on the old value
)

// CatchUp is a copy of another server's database into this one that goes
// on while this server keeps acting on the live stream of requests (as a
// mirror does). It keeps the two apart by key: a key written by a live set
// or del since the catch-up began is never overwritten or deleted by the
// copy, so a live write always wins and a key deleted live is not brought
// back. A key changed live only by cas or incr, whose result depends on
// the value before, is left out of the walk and must be fetched again at
// the end (Relative, CopyAfter).
//
// Copied values go through the database queue, in order with the live
// writes, and take the key out of the cache.
type CatchUp struct {
	s *Server

	mu   sync.Mutex        // held while a copied write is checked and queued
	live map[string]uint8  // keys written live: liveAbsolute or liveRelative
	rel  map[string]uint64 // relative live writes per key

	copied  atomic.Uint64
	deleted atomic.Uint64
}

// StartCatchUp begins noting live writes for a catch-up. Only one catch-up
// runs at a time: a second call ends the first.
func (s *Server) StartCatchUp() *CatchUp {
	c := &CatchUp{s: s, live: make(map[string]uint8), rel: make(map[string]uint64)}
	s.catchUp.Store(c)
	return c
}

// Finish stops noting live writes.
func (c *CatchUp) Finish() {
	c.s.catchUp.CompareAndSwap(c, nil)
}

// note records a live write to key; the handlers call it before they queue
// the write.
func (c *CatchUp) note(key []byte, kind uint8) {
	c.mu.Lock()
	if kind == liveAbsolute {
		c.live[string(key)] = liveAbsolute
	} else {
		if c.live[string(key)] == 0 {
			c.live[string(key)] = liveRelative
		}
		c.rel[string(key)]++
	}
	c.mu.Unlock()
}

// noteLive records a live write when a catch-up runs.
func (s *Server) noteLive(key []byte, kind uint8) {
	if c := s.catchUp.Load(); c != nil {
		c.note(key, kind)
	}
}

// Copy stores val under key, unless key was written live since the
// catch-up began. It reports whether it stored it.
func (c *CatchUp) Copy(key, val []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live[string(key)] != 0 {
		return false, nil
	}
	return c.apply(dbq.Set, key, val)
}

// CopyAfter stores val, fetched again for a key in Relative, unless key was
// since written by a live set or del, or by more cas or incr requests than
// the n that Relative reported.
func (c *CatchUp) CopyAfter(key, val []byte, n uint64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live[string(key)] == liveAbsolute || c.rel[string(key)] != n {
		return false, nil
	}
	return c.apply(dbq.Set, key, val)
}

// Delete deletes key, unless it was written live since the catch-up began.
// It is for keys this server holds that the other does not.
func (c *CatchUp) Delete(key []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live[string(key)] != 0 {
		return false, nil
	}
	return c.apply(dbq.Del, key, nil)
}

// DeleteAfter deletes key, found absent when fetched again for Relative,
// under the rules of CopyAfter.
func (c *CatchUp) DeleteAfter(key []byte, n uint64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live[string(key)] == liveAbsolute || c.rel[string(key)] != n {
		return false, nil
	}
	return c.apply(dbq.Del, key, nil)
}

// apply queues a write without a reply and drops key from the cache; c.mu
// is held.
func (c *CatchUp) apply(kind dbq.Kind, key, val []byte) (bool, error) {
	s := c.s
	if err := s.q.Push(dbq.Op[replyTo]{Kind: kind, Key: key, Val: val, Reply: replyTo{quiet: true}}); err != nil {
		return false, fmt.Errorf("nmdb: catch-up: %w", err)
	}
	sh := s.cache.Shard(key)
	sh.Lock()
	sh.Delete(key)
	sh.Unlock()
	if kind == dbq.Del {
		c.deleted.Add(1)
	} else {
		c.copied.Add(1)
	}
	return true, nil
}

// Relative returns the keys written live only by cas or incr, each with
// how many such writes were seen, to be fetched again and stored with
// CopyAfter or DeleteAfter.
func (c *CatchUp) Relative() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]uint64)
	for k, kind := range c.live {
		if kind == liveRelative {
			m[k] = c.rel[k]
		}
	}
	return m
}

// Counts returns how many keys the catch-up stored and deleted so far.
func (c *CatchUp) Counts() (copied, deleted uint64) {
	return c.copied.Load(), c.deleted.Load()
}

// LocalKeys calls fn with every key of this server's database, in the
// store's order, until fn returns an error. The key is valid only during
// the call.
func (c *CatchUp) LocalKeys(fn func(key []byte) error) error {
	// The worker may swap the store after a fault; not while it is read.
	c.s.storeMu.RLock()
	defer c.s.storeMu.RUnlock()
	b := c.s.store.NewBatch()
	defer b.Close()
	var key []byte
	first := true
	for {
		next, found, err := b.Next(nil, key, first)
		if err != nil {
			return fmt.Errorf("nmdb: catch-up: walking the keys: %w", err)
		}
		if !found {
			return nil
		}
		if err := fn(next); err != nil {
			return err
		}
		key, first = next, false
	}
}

// catchUpSlot is where the running catch-up is kept.
type catchUpSlot = atomic.Pointer[CatchUp]
