// Package cache is the server's object cache: a fixed number of LRU shards
// (golang-lru/v2 simplelru), each behind its own mutex, so that connections
// working on different keys rarely wait for each other.
//
// The cache is bounded twice: in objects, and in bytes. An object's bytes
// are the size of the one allocation holding its key and value, as the
// allocator rounds it, plus ObjectOverhead for the LRU's list element and
// map slot. Each shard evicts its oldest objects while it holds more than
// its share of either bound.
//
// Each shard also keeps a write generation, bumped by every change to any of
// its keys. A reader that misses the cache notes the generation, asks the
// database, and fills the cache with the answer only if the generation is
// unchanged (Fill): an answer that raced a newer write is never cached.
package cache

import (
	"hash/maphash"
	"slices"
	"sync"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// maxShards bounds the number of shards.
const maxShards = 64

// minShardBytes is the least byte bound a shard gets when the cache has
// more than one: enough for several of the largest values.
const minShardBytes = 1 << 20

// ObjectOverhead is what each cached object is counted for besides its
// allocation: golang-lru's list element (80 bytes) and its map slot with
// the map's spare room.
const ObjectOverhead = 128

// maxSmall is the largest allocation the Go runtime serves from its size
// classes; larger ones are rounded up to whole pages.
const (
	maxSmall = 32 << 10
	pageSize = 8 << 10
)

// smallSizes are the sizes the allocator rounds small allocations up to, in
// increasing order. They are found once, by growing a nil slice to each
// size just past the previous one: append gives a new slice the capacity
// the allocator really provides.
var smallSizes = func() []int {
	var sizes []int
	for n := 1; n <= maxSmall; {
		c := cap(append([]byte(nil), make([]byte, n)...))
		sizes = append(sizes, c)
		n = c + 1
	}
	return sizes
}()

// allocSize returns the size of the memory the allocator gives for n
// bytes.
func allocSize(n int) int {
	if n > maxSmall {
		return (n + pageSize - 1) &^ (pageSize - 1)
	}
	i, _ := slices.BinarySearch(smallSizes, n)
	return smallSizes[i]
}

// An entry's metadata word (see ref) holds the key's and the value's
// lengths and the shard clock when the entry last moved to the front.
const (
	lenBits   = 17 // enough for wire.MaxData
	lenMask   = 1<<lenBits - 1
	tickShift = 2 * lenBits
	tickMask  = 1<<(64-tickShift) - 1
	// maxRecent bounds how far from the front, in moves to the front, a
	// hit may find an entry and leave it in place; it stays well inside
	// the tick's range, whose wrapping is harmless but should be rare.
	maxRecent = 1 << 20
)

// Lengths up to wire.MaxData must fit in lenBits (this fails to compile
// otherwise).
const _ = uint(lenMask - wire.MaxData)

// ref is what the LRU stores for an entry, indexed by the key's 64-bit
// hash: a pointer to one allocation holding the key and then the value,
// and a metadata word. The key is compared on every lookup, so keys whose
// hashes collide are told apart (the later one replaces the other, as an
// eviction would). The value's bytes are overwritten in place by a later
// set that fits. A uint64 map key and a 16-byte value keep golang-lru's
// list element and map slot small.
type ref struct {
	p    unsafe.Pointer
	meta uint64 // key length | value length<<lenBits | tick<<tickShift
}

func (r ref) klen() int    { return int(r.meta & lenMask) }
func (r ref) vlen() int    { return int(r.meta >> lenBits & lenMask) }
func (r ref) tick() uint32 { return uint32(r.meta >> tickShift) }

func makeMeta(klen, vlen int, tick uint32) uint64 {
	return uint64(klen) | uint64(vlen)<<lenBits | uint64(tick&tickMask)<<tickShift
}

// size returns the size of r's allocation. A value overwritten in place is
// never of another size class than the one allocated (see put), so this
// is the size allocated.
func (r ref) size() int { return allocSize(r.klen() + r.vlen()) }

// cost returns what r counts for against the byte bound.
func (r ref) cost() int64 { return int64(r.size()) + ObjectOverhead }

// is reports whether r is the entry of key.
func (r ref) is(key []byte) bool {
	return r.klen() == len(key) && string(unsafe.Slice((*byte)(r.p), len(key))) == string(key)
}

// value returns r's value.
func (r ref) value() []byte {
	n := r.vlen()
	if n == 0 {
		return []byte{} // no pointer past the allocation's end
	}
	return unsafe.Slice((*byte)(unsafe.Add(r.p, r.klen())), n)
}

// Cache is a sharded LRU cache of byte strings, bounded by a total number of
// objects and of bytes. It is safe for concurrent use.
type Cache struct {
	seed   maphash.Seed
	mask   uint64
	shards []Shard
}

// Shard is one independently locked part of a Cache. Its methods other than
// Lock and Unlock must be called with the shard locked.
//
// The LRU order is kept approximately: the shard's clock ticks whenever an
// entry moves to the front (it is added, set, or bumped by a hit), and a hit
// on an entry that moved to the front fewer than recent ticks ago (half the
// shard's size), so that it is still in the front half of the list, leaves
// it in place.
type Shard struct {
	mu        sync.Mutex
	lru       *simplelru.LRU[uint64, ref]
	seed      maphash.Seed
	gen       uint64
	clock     uint32
	recent    uint32
	removing  bool  // an explicit removal, not an eviction, is under way
	bytes     int64 // counted bytes of the objects held
	maxBytes  int64
	evictions uint64
	_         [56]byte // keep shards on separate cache lines
}

// New returns a cache holding at most objects objects (at least 1) and
// maxBytes bytes (at least 1) in total.
func New(objects int, maxBytes int64) *Cache {
	objects = max(objects, 1)
	maxBytes = max(maxBytes, 1)
	n := 1
	for n*2 <= maxShards && n*2 <= objects && maxBytes/int64(n*2) >= minShardBytes {
		n *= 2
	}
	c := &Cache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]Shard, n)}
	for i := range c.shards {
		sh := &c.shards[i]
		size := objects / n
		if i < objects%n {
			size++
		}
		l, err := simplelru.NewLRU[uint64, ref](size, sh.evicted)
		if err != nil {
			// Only a size below 1 fails, and size is at least 1 here.
			panic("cache: " + err.Error())
		}
		sh.maxBytes = maxBytes / int64(n)
		if i < int(maxBytes%int64(n)) {
			sh.maxBytes++
		}
		c.shards[i].lru, c.shards[i].seed = l, c.seed
		// A hit in the front half of the list does not move the entry.
		c.shards[i].recent = uint32(min(size/2, maxRecent, tickMask/4))
	}
	return c
}

// Shard returns the shard that holds key.
func (c *Cache) Shard(key []byte) *Shard {
	return &c.shards[maphash.Bytes(c.seed, key)&c.mask]
}

// Len returns the number of objects cached now.
func (c *Cache) Len() int {
	return int(c.sum(func(sh *Shard) uint64 { return uint64(sh.lru.Len()) }))
}

// Bytes returns the bytes counted for the objects cached now.
func (c *Cache) Bytes() int64 {
	return int64(c.sum(func(sh *Shard) uint64 { return uint64(sh.bytes) }))
}

// Evictions returns how many objects left the cache to keep it within its
// bounds (not counting deletions and replacements).
func (c *Cache) Evictions() uint64 {
	return c.sum(func(sh *Shard) uint64 { return sh.evictions })
}

// sum adds up f over the shards, each under its lock.
func (c *Cache) sum(f func(*Shard) uint64) uint64 {
	var n uint64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += f(sh)
		sh.mu.Unlock()
	}
	return n
}

// evicted is the LRU's callback for every entry that leaves it (called
// with the shard locked).
func (s *Shard) evicted(_ uint64, r ref) {
	s.bytes -= r.cost()
	if !s.removing {
		s.evictions++
	}
}

// Lock locks the shard.
func (s *Shard) Lock() { s.mu.Lock() }

// Unlock unlocks the shard.
func (s *Shard) Unlock() { s.mu.Unlock() }

// Gen returns the shard's write generation.
func (s *Shard) Gen() uint64 { return s.gen }

// find returns key's hash and entry.
func (s *Shard) find(key []byte) (uint64, ref, bool) {
	h := maphash.Bytes(s.seed, key)
	r, ok := s.lru.Peek(h)
	return h, r, ok && r.is(key)
}

// Get returns the value cached for key and marks it recently used. The
// value belongs to the cache: it may be read only while the shard stays
// locked.
func (s *Shard) Get(key []byte) ([]byte, bool) {
	h, r, ok := s.find(key)
	if !ok {
		return nil, false
	}
	if (s.clock-r.tick())&tickMask >= s.recent {
		// Far from the front: move it there.
		r.meta = makeMeta(r.klen(), r.vlen(), s.clock)
		s.clock++
		s.lru.Add(h, r)
	}
	return r.value(), true
}

// Peek is Get without marking the key used.
func (s *Shard) Peek(key []byte) ([]byte, bool) {
	_, r, ok := s.find(key)
	if !ok {
		return nil, false
	}
	return r.value(), true
}

// Set caches a copy of val under key and bumps the write generation.
func (s *Shard) Set(key, val []byte) {
	s.gen++
	s.put(key, val)
}

// put stores a copy of val, reusing the old value's memory when it fits,
// and evicts the oldest objects while the shard is over its byte bound.
func (s *Shard) put(key, val []byte) {
	tick := s.clock
	s.clock++
	h := maphash.Bytes(s.seed, key)
	old, had := s.lru.Peek(h)
	need := len(key) + len(val)
	if had && old.is(key) && len(val) <= old.vlen() && allocSize(need) == old.size() {
		// Overwrite in place, never past the old value (the allocator
		// may have packed small allocations together) and only within
		// the same size class, so that the count stays right; the bytes
		// beyond a shorter value stay unused until the entry is
		// replaced.
		copy(unsafe.Slice((*byte)(old.p), need)[len(key):], val)
		old.meta = makeMeta(len(key), len(val), tick)
		s.lru.Add(h, old)
		return
	}
	// One allocation holds the key and the value.
	buf := make([]byte, need)
	copy(buf, key)
	copy(buf[len(key):], val)
	r := ref{p: unsafe.Pointer(unsafe.SliceData(buf)), meta: makeMeta(len(key), len(val), tick)}
	if had {
		// Replaced in place in the LRU: no callback.
		s.bytes -= old.cost()
	}
	s.bytes += r.cost()
	s.lru.Add(h, r) // may evict the oldest entry (see evicted)
	for s.bytes > s.maxBytes {
		if _, _, ok := s.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// Delete removes key, bumps the write generation, and reports whether key
// was cached.
func (s *Shard) Delete(key []byte) bool {
	s.gen++
	h, _, ok := s.find(key)
	if !ok {
		return false
	}
	s.removing = true
	removed := s.lru.Remove(h)
	s.removing = false
	return removed
}

// CAS replaces key's value with new if it is cached and equal to old. It
// reports whether key was cached and whether it was swapped.
func (s *Shard) CAS(key, old, new []byte) (cached, swapped bool) {
	v, ok := s.Get(key)
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
	v, found := s.Get(key)
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
