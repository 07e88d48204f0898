package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// The keys of scenario 2 spread over three servers.
func TestShardKeysSpread(t *testing.T) {
	var n [3]int
	for i := range 10000 {
		n[libnmdb.Select(shardKey(i), 3)]++
	}
	for si, c := range n {
		if c < 3000 {
			t.Errorf("server %d gets only %d of 10000 keys: %v", si, c, n)
		}
	}
}

func TestModelCounter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"41\x00", 41, true},
		{"                     -8\x00", -8, true},
		{"41", 0, false},
		{"v-1\x00", 0, false},
		{"\x00", 0, false},
	} {
		got, ok := modelCounter([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("modelCounter(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// The workload is the same for a seed, encodes, exercises every operation
// and every outcome, and its model agrees with replaying the expectations.
func TestWorkload(t *testing.T) {
	a, ma := workload(1000, 3)
	b, mb := workload(1000, 3)
	if len(a) != 1000 || len(ma) != len(mb) {
		t.Fatalf("workload not deterministic: %d steps, %d vs %d keys", len(a), len(ma), len(mb))
	}
	codes := map[wire.Op]map[wire.Code]bool{}
	for i := range a {
		if a[i].req.Op != b[i].req.Op || !bytes.Equal(a[i].req.Key, b[i].req.Key) {
			t.Fatalf("step %d differs between runs", i)
		}
		if _, err := wire.AppendRequest(nil, &a[i].req); err != nil {
			t.Fatalf("step %d does not encode: %v", i, err)
		}
		if codes[a[i].req.Op] == nil {
			codes[a[i].req.Op] = map[wire.Code]bool{}
		}
		codes[a[i].req.Op][a[i].code] = true
	}
	for op, want := range map[wire.Op][]wire.Code{
		wire.OpSet:  {wire.CodeOK},
		wire.OpDel:  {wire.CodeOK, wire.CodeNotIn},
		wire.OpCAS:  {wire.CodeOK, wire.CodeNoMatch, wire.CodeNotIn},
		wire.OpIncr: {wire.CodeOK, wire.CodeNoMatch, wire.CodeNotIn},
		wire.OpGet:  {wire.CodeOK, wire.CodeNotIn},
	} {
		for _, c := range want {
			if !codes[op][c] {
				t.Errorf("no %v step expects %v", op, c)
			}
		}
	}
}

func TestDumpsCompare(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	m := model{"k1": []byte("v1"), "k\x00\t2": []byte("v\n2")}
	if err := writeDump(a, m); err != nil {
		t.Fatal(err)
	}
	if err := writeDump(b, m); err != nil {
		t.Fatal(err)
	}
	if err := compareDumps(a, b); err != nil {
		t.Fatalf("equal dumps differ: %v", err)
	}
	m["k1"] = []byte("other")
	m["k3"] = nil
	if err := writeDump(b, m); err != nil {
		t.Fatal(err)
	}
	err := compareDumps(a, b)
	if err == nil || !strings.Contains(err.Error(), "2 differences") {
		t.Fatalf("compare of different dumps: %v", err)
	}
}
