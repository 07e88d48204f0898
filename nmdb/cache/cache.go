// Package cache is the server's object cache: a fixed number of LRU shards
// (golang-lru/v2 simplelru), each behind its own mutex, so that connections
// working on different keys rarely wait for each other.
//
// Each shard also keeps a write generation, bumped by every change to any of
// its keys. A reader that misses the cache notes the generation, asks the
// database, and fills the cache with the answer only if the generation is
// unchanged (Fill): an answer that raced a newer write is never cached.
package cache

import (
	"hash/maphash"
	"sync"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// maxShards bounds the number of shards.
const maxShards = 64

// Cache is a sharded LRU cache of byte strings, bounded by a total number of
// objects. It is safe for concurrent use.
type Cache struct {
	seed   maphash.Seed
	mask   uint64
	shards []Shard
}

// Shard is one independently locked part of a Cache. Its methods other than
// Lock and Unlock must be called with the shard locked.
type Shard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, []byte]
	gen uint64
	_   [40]byte // keep shards on separate cache lines
}

// New returns a cache holding at most objects objects in total (at least 1).
func New(objects int) *Cache {
	if objects < 1 {
		objects = 1
	}
	n := 1
	for n*2 <= maxShards && n*2 <= objects {
		n *= 2
	}
	c := &Cache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]Shard, n)}
	for i := range c.shards {
		size := objects / n
		if i < objects%n {
			size++
		}
		l, err := simplelru.NewLRU[string, []byte](size, nil)
		if err != nil {
			// Only a size below 1 fails, and size is at least 1 here.
			panic("cache: " + err.Error())
		}
		c.shards[i].lru = l
	}
	return c
}

// Shard returns the shard that holds key.
func (c *Cache) Shard(key []byte) *Shard {
	return &c.shards[maphash.Bytes(c.seed, key)&c.mask]
}

// Len returns the number of objects cached now.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}

// Lock locks the shard.
func (s *Shard) Lock() { s.mu.Lock() }

// Unlock unlocks the shard.
func (s *Shard) Unlock() { s.mu.Unlock() }

// Gen returns the shard's write generation.
func (s *Shard) Gen() uint64 { return s.gen }

// lookup views key as a string for map lookups that do not keep it.
func lookup(key []byte) string {
	return unsafe.String(unsafe.SliceData(key), len(key))
}

// Get returns the value cached for key and marks it recently used. The
// value belongs to the cache: it may be read only while the shard stays
// locked.
func (s *Shard) Get(key []byte) ([]byte, bool) {
	return s.lru.Get(lookup(key))
}

// Peek is Get without marking the key used.
func (s *Shard) Peek(key []byte) ([]byte, bool) {
	return s.lru.Peek(lookup(key))
}

// Set caches a copy of val under key and bumps the write generation.
func (s *Shard) Set(key, val []byte) {
	s.gen++
	s.put(key, val)
}

// put stores a copy of val, reusing the old value's memory when it fits.
func (s *Shard) put(key, val []byte) {
	if old, ok := s.lru.Peek(lookup(key)); ok && cap(old) >= len(val) {
		old = old[:len(val)]
		copy(old, val)
		s.lru.Add(lookup(key), old) // existing key: the map keeps its own
		return
	}
	// One allocation holds the key and the value; the key's bytes are
	// never written again, so viewing them as a string is safe.
	buf := make([]byte, len(key)+len(val))
	copy(buf, key)
	copy(buf[len(key):], val)
	k := unsafe.String(unsafe.SliceData(buf), len(key))
	if len(key) == 0 {
		k = ""
	}
	s.lru.Add(k, buf[len(key):len(key)+len(val):len(key)+len(val)])
}

// Delete removes key, bumps the write generation, and reports whether key
// was cached.
func (s *Shard) Delete(key []byte) bool {
	s.gen++
	return s.lru.Remove(lookup(key))
}

// CAS replaces key's value with new if it is cached and equal to old. It
// reports whether key was cached and whether it was swapped.
func (s *Shard) CAS(key, old, new []byte) (cached, swapped bool) {
	v, ok := s.lru.Get(lookup(key))
	if !ok {
		return false, false
	}
	if string(v) != string(old) {
		return true, false
	}
	s.Set(key, new)
	return true, true
}

// Fill caches val under key only if the shard's write generation is still
// gen, that is, if no write touched the shard since gen was read. It
// reports whether it stored the value.
func (s *Shard) Fill(key, val []byte, gen uint64) bool {
	if s.gen != gen {
		return false
	}
	s.put(key, val)
	return true
}

// Incr adds delta to the counter cached under key (see wire.Incr). It
// reports whether key was cached and whether its value was a counter; the
// new value is stored only then.
func (s *Shard) Incr(key []byte, delta int64) (n int64, cached, ok bool) {
	v, found := s.lru.Get(lookup(key))
	if !found {
		return 0, false, false
	}
	var tmp [wire.IncrWidth]byte
	n, out, ok := wire.Incr(tmp[:0], v, delta)
	if !ok {
		return 0, true, false
	}
	s.Set(key, out)
	return n, true, true
}
