package store

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestPebbleBatchAndWalk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b") // parents are created
	st, err := Open("pebble", dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	if b.Writes() {
		t.Fatal("new batch has writes")
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := b.Set([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete([]byte("c")); err != nil {
		t.Fatal(err)
	}
	// Reads see the batch's own writes before the commit.
	if v, ok, err := b.Get(nil, []byte("b")); err != nil || !ok || string(v) != "vb" {
		t.Fatalf("get in batch: %q %v %v", v, ok, err)
	}
	if _, ok, _ := b.Get(nil, []byte("c")); ok {
		t.Fatal("deleted key found in batch")
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = Open("", dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b = st.NewBatch()
	defer b.Close()
	var keys []string
	k, ok, err := b.Next(nil, nil, true)
	for ; ok && err == nil; k, ok, err = b.Next(nil, k, false) {
		keys = append(keys, string(k))
	}
	if err != nil || len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Fatalf("walk after reopen: %q %v", keys, err)
	}
}

func TestNullAndUnknown(t *testing.T) {
	st, err := Open("null", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	_ = b.Set([]byte("k"), []byte("v"))
	if _, ok, _ := b.Get(nil, []byte("k")); ok {
		t.Fatal("null store found a key")
	}
	if _, ok, _ := b.Next(nil, nil, true); ok {
		t.Fatal("null store has a first key")
	}
	if _, err := Open("tdb", "x", Options{}); !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("Open(tdb): %v", err)
	}
}
