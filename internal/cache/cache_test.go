package cache

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

func TestBoundAndOps(t *testing.T) {
	for _, objects := range []int{1, 3, 64, 1000} {
		c := New(objects, noByteBound)
		for i := range 3 * objects {
			k := []byte(fmt.Sprint("k", i))
			sh := c.Shard(k)
			sh.Lock()
			sh.Set(k, k)
			sh.Unlock()
		}
		if n := c.Len(); n > objects || n == 0 {
			t.Fatalf("cache of %d holds %d", objects, n)
		}
	}

	c := New(16, noByteBound)
	k := []byte("key")
	sh := c.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	if _, ok := sh.Get(k); ok {
		t.Fatal("empty cache hit")
	}
	sh.Set(k, []byte("long value"))
	sh.Set(k, []byte("short")) // reuses the memory
	if v, ok := sh.Get(k); !ok || string(v) != "short" {
		t.Fatalf("get %q %v", v, ok)
	}
	if cached, swapped := sh.CAS(k, []byte("x"), []byte("y")); !cached || swapped {
		t.Fatal("cas with wrong old value swapped")
	}
	if cached, swapped := sh.CAS(k, []byte("short"), []byte("41\x00")); !cached || !swapped {
		t.Fatal("cas failed")
	}
	if n, cached, ok := sh.Incr(k, 1); !cached || !ok || n != 42 {
		t.Fatalf("incr: %d %v %v", n, cached, ok)
	}
	if v, _ := sh.Peek(k); len(v) != 24 || string(v[21:]) != "42\x00" {
		t.Fatalf("incr stored %q", v)
	}
	if !sh.Delete(k) || sh.Delete(k) {
		t.Fatal("delete")
	}
	if _, cached, _ := sh.Incr(k, 1); cached {
		t.Fatal("incr of absent key")
	}
}

func TestFillGeneration(t *testing.T) {
	c := New(4, noByteBound)
	k := []byte("key")
	sh := c.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	gen := sh.Gen()
	if !sh.Fill(k, []byte("db"), gen) {
		t.Fatal("fill with current generation refused")
	}
	gen = sh.Gen()
	sh.Delete(k) // a write after the read was queued
	if sh.Fill(k, []byte("stale"), gen) {
		t.Fatal("stale fill accepted")
	}
	if _, ok := sh.Get(k); ok {
		t.Fatal("stale value cached")
	}
}

func TestKeyAndValueAreCopied(t *testing.T) {
	c := New(4, noByteBound)
	k, v := []byte("key"), []byte("value")
	sh := c.Shard(k)
	sh.Lock()
	sh.Set(k, v)
	sh.Unlock()
	k2 := []byte("key")
	copy(k, "xxx")
	copy(v, "xxxxx")
	sh.Lock()
	got, ok := sh.Get(k2)
	sh.Unlock()
	if !ok || string(got) != "value" {
		t.Fatalf("cached %q %v after caller reused its buffers", got, ok)
	}
}

// sameShard returns n distinct keys that fall in sh, with prefix p.
func sameShard(c *Cache, sh *Shard, p string, n int) [][]byte {
	var keys [][]byte
	for i := 0; len(keys) < n; i++ {
		k := []byte(fmt.Sprint(p, i))
		if c.Shard(k) == sh {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestApproximateLRU: an entry hit now and then survives a stream of new
// keys many times the shard's size, while entries never hit are evicted in
// the order they came, even though hits near the front move nothing.
func TestApproximateLRU(t *testing.T) {
	c := New(maxShards*800, noByteBound)
	hot := []byte("hot")
	sh := c.Shard(hot)
	size := 800 // objects per shard
	sh.Lock()
	defer sh.Unlock()
	sh.Set(hot, []byte("h"))
	cold := sameShard(c, sh, "cold", size/2)
	for _, k := range cold {
		sh.Set(k, k)
	}
	fresh := sameShard(c, sh, "new", 5*size)
	for i, k := range fresh {
		sh.Set(k, k)
		if i%10 == 0 {
			if v, ok := sh.Get(hot); !ok || string(v) != "h" {
				t.Fatalf("hot key lost after %d new keys (shard of %d)", i, size)
			}
		}
		if i == size/2 {
			// Half the shard has been replaced: the oldest cold keys
			// went first, the newest are still there.
			if _, ok := sh.Peek(cold[0]); ok {
				t.Fatal("oldest cold key still cached")
			}
			if _, ok := sh.Peek(cold[len(cold)-1]); !ok {
				t.Fatal("newest cold key evicted before older ones")
			}
		}
	}
	for _, k := range cold {
		if _, ok := sh.Peek(k); ok {
			t.Fatalf("cold key %q never evicted", k)
		}
	}
	if n := sh.lru.Len(); n != size {
		t.Fatalf("shard holds %d, size %d", n, size)
	}
}

// TestValueSizes: values of every length up to the largest allowed are
// stored, overwritten in place when they fit, and grown when not.
func TestValueSizes(t *testing.T) {
	c := New(8, noByteBound)
	k := []byte("k")
	sh := c.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	for _, n := range []int{0, 1, 100, 65536, 10, 0, 70, 65536 - 1} {
		v := bytes.Repeat([]byte{byte(n)}, n)
		sh.Set(k, v)
		got, ok := sh.Get(k)
		if !ok || !bytes.Equal(got, v) {
			t.Fatalf("value of %d bytes: got %d bytes, %v", n, len(got), ok)
		}
	}
	sh.Set(nil, []byte("empty key"))
	if v, ok := sh.Get([]byte{}); !ok || string(v) != "empty key" {
		t.Fatalf("empty key: %q %v", v, ok)
	}
}

// BenchmarkCacheMemory reports the heap bytes one cached object costs,
// with 1,000,000 objects of 16-byte keys and 64-byte values.
func BenchmarkCacheMemory(b *testing.B) {
	const n = 1_000_000
	val := bytes.Repeat([]byte("v"), 64)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New(n, noByteBound)
		k := make([]byte, 0, 16)
		for i := range n {
			k = fmt.Appendf(k[:0], "key:%012d", i)
			sh := c.Shard(k)
			sh.Lock()
			sh.Set(k, val)
			sh.Unlock()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if c.Len() < n*9/10 {
			b.Fatalf("only %d objects cached", c.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(c.Len()), "bytes/object")
		runtime.KeepAlive(c)
	}
}

// BenchmarkCacheGetHit measures a hit on one of many cached keys.
func BenchmarkCacheGetHit(b *testing.B) {
	const n = 1 << 16
	c := New(2*n, noByteBound) // room for every key, however they spread
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%012d", i)
		sh := c.Shard(keys[i])
		sh.Lock()
		sh.Set(keys[i], keys[i])
		sh.Unlock()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&(n-1)]
		i += 7
		sh := c.Shard(k)
		sh.Lock()
		if _, ok := sh.Get(k); !ok {
			b.Fatal("miss")
		}
		sh.Unlock()
	}
}

// TestHashCollision: an entry found under a key's hash but holding another
// key is not that key's: a lookup misses and a delete leaves it alone.
func TestHashCollision(t *testing.T) {
	c := New(maxShards*8, noByteBound)
	a, b := []byte("a-key"), []byte("b-key")
	sh := c.Shard(a)
	sh.Lock()
	defer sh.Unlock()
	sh.Set(b, []byte("b's value"))
	hb := maphash.Bytes(sh.seed, b)
	r, _ := sh.lru.Peek(hb)
	ha := maphash.Bytes(sh.seed, a)
	sh.lru.Add(ha, r) // as if a hashed like b
	if v, ok := sh.Get(a); ok {
		t.Fatalf("got %q for a key never set", v)
	}
	if sh.Delete(a) {
		t.Fatal("deleted an entry of another key")
	}
	if _, ok := sh.lru.Peek(ha); !ok {
		t.Fatal("another key's entry removed")
	}
	sh.Set(a, []byte("a's value")) // replaces the colliding entry
	if v, ok := sh.Get(a); !ok || string(v) != "a's value" {
		t.Fatalf("a: %q %v", v, ok)
	}
	if v, ok := sh.Get(b); !ok || string(v) != "b's value" {
		t.Fatalf("b: %q %v", v, ok)
	}
}

// TestClockWraps: hits keep working when the shard clock wraps around.
func TestClockWraps(t *testing.T) {
	c := New(maxShards*64, noByteBound)
	k := []byte("k")
	sh := c.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	sh.clock = 1<<32 - 3
	sh.Set(k, []byte("v"))
	for range 10 {
		if v, ok := sh.Get(k); !ok || string(v) != "v" {
			t.Fatalf("get at clock %d: %q %v", sh.clock, v, ok)
		}
		sh.Set([]byte(fmt.Sprint(sh.clock)), nil)
	}
}

// BenchmarkCacheChurn measures a set of a new key into a full cache of
// 1,000,000 objects (16-byte keys, 64-byte values): every set evicts the
// oldest entry and allocates a new one, so the garbage collector's share
// of a cache under churn shows here (compare runs under different GOGC
// values), with the memory the process keeps from the system per cached
// object.
func BenchmarkCacheChurn(b *testing.B) {
	const n = 1_000_000
	val := bytes.Repeat([]byte("v"), 64)
	c := New(n, noByteBound)
	k := make([]byte, 0, 16)
	set := func(i int) {
		k = fmt.Appendf(k[:0], "key:%012d", i)
		sh := c.Shard(k)
		sh.Lock()
		sh.Set(k, val)
		sh.Unlock()
	}
	for i := range n {
		set(i)
	}
	// The collector's CPU time, without the mark work done on otherwise
	// idle processors.
	gcCPU := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	gcBusy := func() float64 {
		metrics.Read(gcCPU)
		return gcCPU[0].Value.Float64() - gcCPU[1].Value.Float64()
	}
	runtime.GC()
	gc0 := gcBusy()
	b.ReportAllocs()
	i := n
	for b.Loop() {
		set(i)
		i++
	}
	b.StopTimer()
	b.ReportMetric((gcBusy()-gc0)*1e9/float64(b.N), "gc-cpu-ns/op")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys-ms.HeapReleased)/float64(c.Len()), "kept-bytes/object")
}

// noByteBound is a byte bound no test reaches.
const noByteBound = 1 << 40

// TestAllocSize: allocSize is the capacity the allocator gives, for sizes
// in and between every size class and pages beyond.
func TestAllocSize(t *testing.T) {
	for n := 1; n <= 3*wire.MaxData; n += 1 + n/64 {
		for _, m := range []int{n, n + 1} {
			if got, want := allocSize(m), cap(append([]byte(nil), make([]byte, m)...)); got != want {
				t.Fatalf("allocSize(%d) = %d, the allocator gives %d", m, got, want)
			}
		}
	}
}

// TestByteBound: the cache keeps its counted bytes within the bound,
// whatever the value sizes, evicts the oldest, counts evictions but not
// deletes, and its count goes back to 0 once it is emptied.
func TestByteBound(t *testing.T) {
	const bound = 4 << 20
	c := New(1<<20, bound)
	sizes := []int{64000, 32769, 100, 40000, 0, 65000}
	val := make([]byte, 65000)
	const n = 2000
	for i := range n {
		key := []byte(fmt.Sprint("key", i))
		sh := c.Shard(key)
		sh.Lock()
		sh.Set(key, val[:sizes[i%len(sizes)]])
		sh.Unlock()
		if b := c.Bytes(); b > bound {
			t.Fatalf("after %d sets: %d bytes counted, bound %d", i+1, b, bound)
		}
	}
	objs, ev := c.Len(), c.Evictions()
	if ev == 0 || uint64(objs)+ev != n {
		t.Fatalf("%d objects and %d evictions after %d sets", objs, ev, n)
	}
	// The newest are there, the oldest gone.
	sh := c.Shard([]byte("key1999"))
	sh.Lock()
	_, newest := sh.Get([]byte("key1999"))
	sh.Unlock()
	sh = c.Shard([]byte("key0"))
	sh.Lock()
	_, oldest := sh.Get([]byte("key0"))
	sh.Unlock()
	if !newest || oldest {
		t.Fatalf("newest cached %v, oldest cached %v", newest, oldest)
	}
	// Overwrites in place and with other sizes keep the count exact.
	for i := n - 50; i < n; i++ {
		key := []byte(fmt.Sprint("key", i))
		sh := c.Shard(key)
		sh.Lock()
		sh.Set(key, val[:sizes[(i+1)%len(sizes)]])
		sh.Set(key, val[:sizes[(i+1)%len(sizes)]/2])
		sh.Unlock()
	}
	ev = c.Evictions()
	for i := range n {
		key := []byte(fmt.Sprint("key", i))
		sh := c.Shard(key)
		sh.Lock()
		sh.Delete(key)
		sh.Unlock()
	}
	if b, l := c.Bytes(), c.Len(); b != 0 || l != 0 {
		t.Fatalf("emptied cache counts %d bytes, %d objects", b, l)
	}
	if got := c.Evictions(); got != ev {
		t.Fatalf("deletes counted as evictions: %d, then %d", ev, got)
	}
}
