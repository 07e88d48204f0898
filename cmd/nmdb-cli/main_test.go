package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/nmdbtest"
)

// startServer runs an in-process server on a free loopback TCP port and
// returns its address in the command line's syntax.
func startServer(t *testing.T) string {
	t.Helper()
	return "tcp:" + nmdbtest.Start(t, "tcp", nmdb.Config{}).Addr.String()
}

// result is the outcome of one run of the program.
type result struct {
	out, err string
	code     int
}

// cli runs the program with args and stdin.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// must runs the program and fails the test unless it exits with want.
func must(t *testing.T, want int, stdin string, args ...string) result {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != want {
		t.Fatalf("nmdb-cli %q: exit %d, want %d; stdout %q, stderr %q", args, r.code, want, r.out, r.err)
	}
	return r
}

// client returns a Go client for the given servers (command line syntax).
func client(t *testing.T, servers ...string) *libnmdb.Client {
	t.Helper()
	return clientWith(t, libnmdb.ShardingClassic, servers...)
}

// clientWith returns a Go client with sharding rule r for the given
// servers.
func clientWith(t *testing.T, r libnmdb.Sharding, servers ...string) *libnmdb.Client {
	t.Helper()
	var l serverList
	for _, s := range servers {
		if err := l.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	c, err := connect(l, libnmdb.Options{Timeout: 5 * time.Second, Sharding: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// contents returns every pair of the single server srv.
func contents(t *testing.T, srv string) map[string]string {
	t.Helper()
	c := client(t, srv)
	ctx := context.Background()
	m := map[string]string{}
	for r, err := range walk(ctx, c) {
		if err != nil {
			t.Fatalf("walking %s: %v", srv, err)
		}
		m[string(r.key)] = string(r.val)
	}
	return m
}

func TestSingleRequests(t *testing.T) {
	srv := startServer(t)
	s := []string{"-s", srv}
	a := func(args ...string) []string { return append(slices.Clone(s), args...) }

	must(t, exitOK, "", a("set", "k", "v1")...)
	if r := must(t, exitOK, "", a("get", "k")...); r.out != "v1" {
		t.Errorf("get: %q", r.out)
	}
	must(t, exitNotFound, "", a("get", "absent")...)
	must(t, exitOK, "from\x00stdin\n", a("set", "-sync", "in")...)
	if r := must(t, exitOK, "", a("get", "in")...); r.out != "from\x00stdin\n" {
		t.Errorf("value from stdin: %q", r.out)
	}

	// Cache-only requests never reach the database.
	must(t, exitOK, "", a("set", "-cache", "c", "cached")...)
	if r := must(t, exitOK, "", a("get", "-cache", "c")...); r.out != "cached" {
		t.Errorf("get -cache: %q", r.out)
	}
	must(t, exitOK, "", a("del", "-cache", "c")...)
	must(t, exitNotFound, "", a("del", "-cache", "c")...)
	must(t, exitNotFound, "", a("get", "-cache", "c")...)
	must(t, exitNotFound, "", a("get", "c")...)

	must(t, exitOK, "", a("del", "k")...)
	must(t, exitNotFound, "", a("get", "k")...)
	must(t, exitOK, "", a("del", "-sync", "in")...)
	must(t, exitNotFound, "", a("del", "-sync", "in")...)

	must(t, exitOK, "", a("set", "-sync", "c", "old")...)
	must(t, exitOK, "", a("cas", "c", "old", "new")...)
	must(t, exitNoMatch, "", a("cas", "c", "old", "x")...)
	must(t, exitNotFound, "", a("cas", "nocas", "old", "x")...)
	if r := must(t, exitOK, "", a("get", "c")...); r.out != "new" {
		t.Errorf("after cas: %q", r.out)
	}
	must(t, exitOK, "", a("set", "-cache", "cc", "a")...)
	must(t, exitOK, "", a("cas", "-cache", "cc", "a", "b")...)
	must(t, exitNoMatch, "", a("cas", "-cache", "cc", "a", "b")...)

	must(t, exitOK, "", a("set", "-counter", "n", "10")...)
	if r := must(t, exitOK, "", a("incr", "n", "5")...); r.out != "15\n" {
		t.Errorf("incr: %q", r.out)
	}
	if r := must(t, exitOK, "", a("incr", "n", "-20")...); r.out != "-5\n" {
		t.Errorf("incr: %q", r.out)
	}
	must(t, exitNoMatch, "", a("incr", "c", "1")...)
	must(t, exitNotFound, "", a("incr", "noincr", "1")...)
	must(t, exitOK, "", a("set", "-cache", "-counter", "cn", "1")...)
	if r := must(t, exitOK, "", a("incr", "-cache", "cn", "1")...); r.out != "2\n" {
		t.Errorf("incr -cache: %q", r.out)
	}
	must(t, exitNotFound, "", a("incr", "-cache", "absent", "1")...)

	// Binary keys and values in hexadecimal.
	must(t, exitOK, "", a("-x", "set", "00ff0a", "0001")...)
	if r := must(t, exitOK, "", a("-x", "get", "00ff0a")...); r.out != "0001\n" {
		t.Errorf("get -x: %q", r.out)
	}
	if r := must(t, exitOK, "", a("get", "\x00\xff\n")...); r.out != "\x00\x01" {
		t.Errorf("raw get of a binary key: %q", r.out)
	}
}

func TestKeys(t *testing.T) {
	srv := startServer(t)
	want := []string{"alpha", "beta", "gamma"}
	for _, k := range want {
		must(t, exitOK, "", "-s", srv, "set", "-sync", k, "v")
	}
	r := must(t, exitOK, "", "-s", srv, "keys")
	got := strings.Fields(r.out)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("keys: %q, want %q", got, want)
	}
	r = must(t, exitOK, "", "-s", srv, "-x", "keys")
	if n := len(strings.Fields(r.out)); n != 3 || !strings.Contains(r.out, "616c706861\n") {
		t.Errorf("keys -x: %q", r.out)
	}
	must(t, exitUsage, "", "-s", srv, "-s", startServer(t), "keys")
}

func TestCommandLineErrors(t *testing.T) {
	srv := startServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "tcp:" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"-s", srv, "bogus"}, exitUsage},
		{[]string{"-s", "tcp:127.0.0.1:99999", "get", "k"}, exitUsage},
		{[]string{"-s", "tipc:x", "get", "k"}, exitUsage},
		{[]string{"-s", srv, "get"}, exitUsage},
		{[]string{"-s", srv, "get", "a", "b"}, exitUsage},
		{[]string{"-s", srv, "set", "-cache", "-sync", "k", "v"}, exitUsage},
		{[]string{"-s", srv, "set", "-counter", "k", "x"}, exitUsage},
		{[]string{"-s", srv, "incr", "k", "x"}, exitUsage},
		{[]string{"-s", srv, "-x", "get", "zz"}, exitUsage},
		{[]string{"-s", srv, "cas", "k", "v"}, exitUsage},
		{[]string{"-s", srv, "copy"}, exitUsage},
		{[]string{"-s", srv, "restore", "-j", "0", "f"}, exitUsage},
		{[]string{"-s", srv, "-timeout", "0s", "get", "k"}, exitUsage},
		{[]string{"-s", dead, "get", "k"}, exitError},
		{[]string{"-s", srv, "restore", filepath.Join(t.TempDir(), "missing")}, exitError},
		{[]string{"-h"}, exitOK},
	} {
		r := cli(t, "", tc.args...)
		if r.code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, r.code, tc.code, r.err)
		}
		if tc.code != exitOK && !strings.HasPrefix(r.err, "nmdb-cli: ") {
			t.Errorf("%q: stderr %q: want an error message", tc.args, r.err)
		}
	}
}

func TestParseServer(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"tcp:db1:26011", "tcp:db1:26011"},
		{"tcp:db1", "tcp:db1:26010"},
		{"db1:7", "tcp:db1:7"},
		{"db1", "tcp:db1:26010"},
		{"udp:10.0.0.1:9", "udp:10.0.0.1:9"},
		{"sctp:[::1]:5", "sctp:[::1]:5"},
		{"tcp:[::1]", "tcp:[::1]:26010"},
		{"tipc:12", "tipc:12"},
		{"tipc", "tipc:10"},
	} {
		s, err := parseServer(tc.in)
		if err != nil || s.String() != tc.want {
			t.Errorf("parseServer(%q) = %v, %v; want %s", tc.in, s, err, tc.want)
		}
	}
	for _, bad := range []string{"tcp:", "tcp::5", "tcp:h:x", "tcp:h:70000", "tipc:-1", "tipc:a"} {
		if s, err := parseServer(bad); err == nil {
			t.Errorf("parseServer(%q) = %v, want an error", bad, s)
		}
	}
}

// testPairs are awkward pairs: binary, empty, large.
func testPairs() map[string]string {
	m := map[string]string{
		"plain":             "value",
		"":                  "empty key",
		"empty value":       "",
		"nul\x00key":        "nul\x00value",
		"newline\nkey":      "line1\nline2",
		"\xff\xfe":          "\x00\x00\x00\x00",
		"large":             strings.Repeat("0123456789", 6000),
		"counter\x00spaces": "  42\x00",
	}
	for i := range 200 {
		m[fmt.Sprintf("%03d-key", i)] = strconv.Itoa(i * i)
	}
	return m
}

// load stores pairs into srv with the Go client.
func loadPairs(t *testing.T, srv string, pairs map[string]string) {
	t.Helper()
	c := client(t, srv)
	for k, v := range pairs {
		if err := c.SetSync(context.Background(), []byte(k), []byte(v)); err != nil {
			t.Fatalf("set %q: %v", k, err)
		}
	}
}

// checkSharded checks that the servers together hold exactly want, each key
// on the server the classic sharding picks.
func checkSharded(t *testing.T, want map[string]string, servers ...string) {
	t.Helper()
	checkShardedWith(t, libnmdb.ShardingClassic, want, servers...)
}

// checkShardedWith is checkSharded under rule r.
func checkShardedWith(t *testing.T, r libnmdb.Sharding, want map[string]string, servers ...string) {
	t.Helper()
	// Servers in sharding order, as the client sorts them.
	byName := map[string]string{}
	for _, s := range servers {
		byName["tcp "+strings.TrimPrefix(s, "tcp:")] = s
	}
	c := clientWith(t, r, servers...)
	order := c.Servers()
	got := map[string]string{}
	for i, name := range order {
		srv, ok := byName[name]
		if !ok {
			t.Fatalf("server %q not among %q", name, servers)
		}
		for k, v := range contents(t, srv) {
			if j := c.Shard([]byte(k)); j != i {
				t.Errorf("key %q on server %d, sharding says %d", k, i, j)
			}
			got[k] = v
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("servers hold %d pairs, want %d; equal: %v", len(got), len(want), maps.Equal(got, want))
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("key %q: got %d bytes (present %v), want %d", k, len(g), ok, len(v))
			}
		}
	}
}

func TestDumpRestore(t *testing.T) {
	pairs := testPairs()
	src := startServer(t)
	loadPairs(t, src, pairs)

	file := filepath.Join(t.TempDir(), "dump")
	r := must(t, exitOK, "", "-s", src, "dump", file)
	if !strings.Contains(r.err, fmt.Sprintf("dumped %d pairs", len(pairs))) {
		t.Errorf("dump report: %q", r.err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("NMDBDUMP\x00\x00\x00\x01")) {
		t.Fatalf("dump header %q", data[:min(12, len(data))])
	}
	if n := binary.BigEndian.Uint64(data[len(data)-8:]); n != uint64(len(pairs)) {
		t.Errorf("trailer counts %d records, want %d", n, len(pairs))
	}
	if left, _ := filepath.Glob(file + "*"); len(left) != 1 {
		t.Errorf("files left next to the dump: %q", left)
	}

	// Into one fresh server: the same pairs.
	one := startServer(t)
	r = must(t, exitOK, "", "-s", one, "restore", file)
	if !strings.Contains(r.err, fmt.Sprintf("restored %d pairs", len(pairs))) {
		t.Errorf("restore report: %q", r.err)
	}
	if got := contents(t, one); !maps.Equal(got, pairs) {
		t.Errorf("restored server holds %d pairs, want %d", len(got), len(pairs))
	}

	// Re-sharded into two servers, from standard input, in sync mode.
	a, b := startServer(t), startServer(t)
	must(t, exitOK, string(data), "-s", a, "-s", b, "restore", "-sync", "-j", "3", "-")
	checkSharded(t, pairs, a, b)

	// Dump to standard output gives the same bytes when nothing changed
	// (a walk of one database is deterministic).
	r = must(t, exitOK, "", "-s", src, "dump", "-")
	if r.out != string(data) {
		t.Errorf("dump to stdout differs from the dump file")
	}
}

func TestCopy(t *testing.T) {
	pairs := testPairs()
	src := startServer(t)
	loadPairs(t, src, pairs)
	a, b, c := startServer(t), startServer(t), startServer(t)
	r := must(t, exitOK, "", "-s", a, "-s", b, "-s", c, "copy", "-from", src)
	if !strings.Contains(r.err, fmt.Sprintf("copied %d pairs", len(pairs))) {
		t.Errorf("copy report: %q", r.err)
	}
	checkSharded(t, pairs, a, b, c)
	if got := contents(t, src); !maps.Equal(got, pairs) {
		t.Errorf("the source changed")
	}
}

func TestRestoreDamaged(t *testing.T) {
	var good bytes.Buffer
	dw, err := newDumpWriter(&good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := dw.write([]byte{'k', byte('0' + i)}, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := dw.close(); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	badCount := slices.Clone(g)
	badCount[len(badCount)-1] = 9
	bigRecord := slices.Clone(g[:12])
	bigRecord = binary.BigEndian.AppendUint32(bigRecord, 70000)
	bigRecord = binary.BigEndian.AppendUint32(bigRecord, 1)
	badVersion := slices.Clone(g)
	badVersion[11] = 2

	for name, data := range map[string][]byte{
		"empty":           nil,
		"bad magic":       append([]byte("NMDBDUMX"), g[8:]...),
		"bad version":     badVersion,
		"no trailer":      g[:len(g)-12],
		"cut in a record": g[:20],
		"cut trailer":     g[:len(g)-3],
		"wrong count":     badCount,
		"trailing data":   append(slices.Clone(g), 0),
		"oversized":       bigRecord,
	} {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t)
			r := must(t, exitError, string(data), "-s", srv, "restore", "-")
			if !strings.Contains(r.err, "not a valid dump file") {
				t.Errorf("stderr %q", r.err)
			}
		})
	}
	srv := startServer(t)
	must(t, exitOK, string(g), "-s", srv, "restore", "-")
	if got := contents(t, srv); len(got) != 3 || got["k2"] != "v" {
		t.Errorf("restored %q", got)
	}

	// The pairs before the damage are stored, in every mode.
	for _, mode := range []string{"-cache", "-sync", "-j=1"} {
		srv := startServer(t)
		r := must(t, exitError, string(g[:len(g)-12]), "-s", srv, "restore", mode, "-")
		if !strings.Contains(r.err, "after 3 pairs") {
			t.Errorf("restore %s: stderr %q", mode, r.err)
		}
		if mode == "-cache" {
			continue
		}
		if got := contents(t, srv); len(got) != 3 {
			t.Errorf("restore %s of a truncated dump stored %q", mode, got)
		}
	}
}

func TestRestoreIntoReadOnly(t *testing.T) {
	srv := nmdbtest.Start(t, "tcp", nmdb.Config{ReadOnly: true})
	var dump bytes.Buffer
	dw, _ := newDumpWriter(&dump)
	for i := range 50 {
		dw.write([]byte(strconv.Itoa(i)), []byte("v"))
	}
	dw.close()
	r := must(t, exitError, dump.String(), "-s", "tcp:"+srv.Addr.String(), "restore", "-")
	if !strings.Contains(r.err, "read-only") {
		t.Errorf("stderr %q: want the server's error", r.err)
	}
}

func TestUDPServer(t *testing.T) {
	srv := "udp:" + nmdbtest.Start(t, "udp", nmdb.Config{}).Addr.String()
	must(t, exitOK, "", "-s", srv, "set", "-sync", "k", "over udp")
	if r := must(t, exitOK, "", "-s", srv, "get", "k"); r.out != "over udp" {
		t.Errorf("get over UDP: %q", r.out)
	}
	file := filepath.Join(t.TempDir(), "dump")
	must(t, exitOK, "", "-s", srv, "dump", file)
	tcp := startServer(t)
	must(t, exitOK, "", "-s", tcp, "restore", file)
	if got := contents(t, tcp); len(got) != 1 || got["k"] != "over udp" {
		t.Errorf("restored %q", got)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"-V", "--version"} {
		r := must(t, exitOK, "", arg)
		if want := "nmdb-cli " + version.String() + "\n"; r.out != want || r.err != "" {
			t.Errorf("%s: stdout %q, stderr %q; want %q", arg, r.out, r.err, want)
		}
	}
}
