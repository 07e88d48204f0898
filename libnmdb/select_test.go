package libnmdb_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/libnmdb"
)

// checkVectors checks every row of a select.tsv file: hex key, number of
// servers, expected index.
func checkVectors(t *testing.T, path string) {
	t.Helper()
	checkVectorsWith(t, path, libnmdb.Select)
}

// checkVectorsWith is checkVectors with the selection made by sel.
func checkVectorsWith(t *testing.T, path string, sel func(key []byte, n int) int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	rows := 0
	for line := 1; sc.Scan(); line++ {
		if sc.Text() == "" || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("%s:%d: %d fields, want 3", path, line, len(fields))
		}
		key, err := hex.DecodeString(fields[0])
		if err != nil {
			t.Fatalf("%s:%d: key: %v", path, line, err)
		}
		n, err1 := strconv.Atoi(fields[1])
		want, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s:%d: bad numbers %q %q", path, line, fields[1], fields[2])
		}
		if got := sel(key, n); got != want {
			t.Errorf("%s:%d: select(%x, %d) = %d, want %d", path, line, key, n, got, want)
		}
		rows++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows == 0 {
		t.Fatalf("%s: no rows", path)
	}
	t.Logf("%s: %d rows", path, rows)
}

// TestSelectVectors checks the project's copy of the vectors.
func TestSelectVectors(t *testing.T) {
	checkVectors(t, filepath.Join("testdata", "select.tsv"))
}

// TestSelectSharedVectors checks the compatibility vectors published
// beside a checkout (../shared/vectors/select.tsv from the module root),
// where they exist: they must be the same as the project's copy, which
// TestSelectVectors checks row by row. A plain clone has no such directory.
func TestSelectSharedVectors(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "..", "shared", "vectors", "select.tsv")
	shared, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no published vectors beside this checkout (%s); the project's copy is checked by TestSelectVectors", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(filepath.Join("testdata", "select.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, own) {
		t.Errorf("testdata/select.tsv differs from %s: refresh the copy", path)
	}
	checkVectors(t, path)
}

// moduleRoot finds the directory holding go.mod above the working
// directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

func TestSelectEmptyKeyAndHash(t *testing.T) {
	if h := libnmdb.Hash(nil); h != 0xffffffff {
		t.Fatalf("Hash(nil) = %#x", h)
	}
	// "ab": one word 0x6261; ~ gives 0xffff9d9e.
	if h := libnmdb.Hash([]byte("ab")); h != 0xffff9d9e {
		t.Fatalf("Hash(ab) = %#x", h)
	}
	// "abc": word at 0 (0x6261) plus key[1] (0x62) = 0x62c3.
	if h := libnmdb.Hash([]byte("abc")); h != ^uint32(0x62c3) {
		t.Fatalf("Hash(abc) = %#x", h)
	}
}
