package cache

import (
	"fmt"
	"testing"
)

func TestBoundAndOps(t *testing.T) {
	for _, objects := range []int{1, 3, 64, 1000} {
		c := New(objects)
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

	c := New(16)
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
	c := New(4)
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
	c := New(4)
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
