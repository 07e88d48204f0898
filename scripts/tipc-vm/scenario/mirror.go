package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// model is what a server's store must hold after a workload, kept by the
// workload itself from the semantics of SPEC section 2.
type model map[string][]byte

// modelCounter parses a stored counter the way the spec describes it: a
// decimal integer (leading blanks allowed, as strtoll reads it) followed by
// a NUL byte.
func modelCounter(v []byte) (int64, bool) {
	if len(v) < 2 || v[len(v)-1] != 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimLeft(string(v[:len(v)-1]), " "), 10, 64)
	return n, err == nil
}

// step is one request of the workload and the reply it must get.
type step struct {
	req  wire.Request
	code wire.Code // expected reply code; CodeOK also accepts CodeCacheHit for get
	val  []byte    // expected value for get
	num  int64     // expected new value for incr
}

// workload makes ops random requests over a small key space, deterministic
// for a seed, and the store that must result from them.
func workload(ops int, seed uint64) ([]step, model) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := model{}
	key := func() []byte { return []byte(fmt.Sprintf("m-%02d", r.IntN(60))) }
	value := func() []byte {
		if r.IntN(2) == 0 {
			return counter(int64(r.IntN(2001) - 1000))
		}
		return []byte("v-" + strconv.Itoa(r.IntN(1_000_000)))
	}
	mode := func() wire.Flags {
		if r.IntN(2) == 0 {
			return wire.FlagSync
		}
		return 0
	}
	steps := make([]step, 0, ops)
	for len(steps) < ops {
		k := key()
		cur, present := m[string(k)]
		var s step
		switch p := r.IntN(100); {
		case p < 30:
			v := value()
			s = step{req: wire.Request{Op: wire.OpSet, Flags: mode(), Key: k, Val: v}, code: wire.CodeOK}
			m[string(k)] = v
		case p < 45:
			s = step{req: wire.Request{Op: wire.OpDel, Flags: mode(), Key: k}, code: wire.CodeOK}
			if s.req.Flags == wire.FlagSync && !present {
				s.code = wire.CodeNotIn
			}
			delete(m, string(k))
		case p < 65:
			old := []byte("not-this")
			if present && r.IntN(10) < 6 {
				old = cur
			}
			nv := value()
			s = step{req: wire.Request{Op: wire.OpCAS, Flags: mode(), Key: k, Old: old, Val: nv}}
			switch {
			case !present:
				s.code = wire.CodeNotIn
			case !bytes.Equal(cur, old):
				s.code = wire.CodeNoMatch
			default:
				s.code = wire.CodeOK
				m[string(k)] = nv
			}
		case p < 90:
			d := int64(r.IntN(201) - 100)
			s = step{req: wire.Request{Op: wire.OpIncr, Flags: mode(), Key: k, Delta: d}}
			n, ok := modelCounter(cur)
			switch {
			case !present:
				s.code = wire.CodeNotIn
			case !ok:
				s.code = wire.CodeNoMatch
			default:
				s.code = wire.CodeOK
				s.num = n + d
				m[string(k)] = append([]byte(fmt.Sprintf("%23d", n+d)), 0)
			}
		default:
			s = step{req: wire.Request{Op: wire.OpGet, Key: k}, code: wire.CodeNotIn}
			if present {
				s.code = wire.CodeOK
				s.val = cur
			}
		}
		steps = append(steps, s)
	}
	return steps, m
}

// checkReply compares a reply with what the step expects.
func (s *step) checkReply(r *wire.Reply) error {
	code := r.Code
	if s.req.Op == wire.OpGet && code == wire.CodeCacheHit {
		code = wire.CodeOK
	}
	if code != s.code {
		if r.Code == wire.CodeErr {
			return fmt.Errorf("%v %q: got ERR %v, want %v", s.req.Op, s.req.Key, r.Err, s.code)
		}
		return fmt.Errorf("%v %q (flags %d): got %v, want %v", s.req.Op, s.req.Key, s.req.Flags, r.Code, s.code)
	}
	switch {
	case s.req.Op == wire.OpGet && code == wire.CodeOK && !bytes.Equal(r.Val, s.val):
		return fmt.Errorf("get %q: got %q, want %q", s.req.Key, r.Val, s.val)
	case s.req.Op == wire.OpIncr && code == wire.CodeOK:
		n, err := r.Int64()
		if err != nil {
			return fmt.Errorf("incr %q: %w", s.req.Key, err)
		}
		if n != s.num {
			return fmt.Errorf("incr %q: got %d, want %d", s.req.Key, n, s.num)
		}
	}
	return nil
}

// cmdLoad sends the workload over a raw TIPC socket in lock step, counting
// the replies to each request id.
func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	port := fs.Int("port", 10, "TIPC port")
	ops := fs.Int("ops", 2000, "number of requests")
	seed := fs.Uint64("seed", 3, "workload seed")
	out := fs.String("out", "", "write the store the workload must leave here")
	linger := fs.Duration("linger", 3*time.Second, "how long to keep listening for late replies after the last one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	steps, m := workload(*ops, *seed)
	conn, err := tipc.Dial()
	if err != nil {
		return fmt.Errorf("tipc dial: %w", err)
	}
	defer conn.Close()
	dst := tipc.ServiceAddr(*port)

	replies := map[uint32]int{}
	senders := map[string]int{}
	var dups []string
	var msg []byte
	buf := make([]byte, tipc.MaxMessage)
	var from tipc.Addr
	var rep wire.Reply
	ops2 := map[wire.Op]int{}
	start := time.Now()
	read := func(deadline time.Time) (uint32, error) {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return 0, fmt.Errorf("set deadline: %w", err)
		}
		n, err := conn.ReadFromTIPC(buf, &from)
		if err != nil {
			return 0, err
		}
		if err := wire.DecodeReply(buf[:n], &rep); err != nil {
			return 0, fmt.Errorf("bad reply from %v: %w", &from, err)
		}
		replies[rep.ID]++
		senders[from.String()]++
		if replies[rep.ID] > 1 {
			dups = append(dups, fmt.Sprintf("id %d from %v", rep.ID, &from))
		}
		return rep.ID, nil
	}
	for i := range steps {
		s := &steps[i]
		s.req.ID = uint32(i + 1)
		ops2[s.req.Op]++
		msg, err = wire.AppendRequest(msg[:0], &s.req)
		if err != nil {
			return fmt.Errorf("encode request %d: %w", i+1, err)
		}
		if _, err := conn.WriteToTIPC(msg, dst); err != nil {
			return fmt.Errorf("send request %d: %w", i+1, err)
		}
		for {
			id, err := read(time.Now().Add(10 * time.Second))
			if err != nil {
				return fmt.Errorf("waiting for the reply to request %d (%v %q): %w", i+1, s.req.Op, s.req.Key, err)
			}
			if id == s.req.ID {
				if replies[id] == 1 {
					if err := s.checkReply(&rep); err != nil {
						return fmt.Errorf("request %d: %w", i+1, err)
					}
				}
				break
			}
			if id == 0 || id > s.req.ID {
				return fmt.Errorf("reply with id %d while waiting for %d", id, s.req.ID)
			}
		}
	}
	took := time.Since(start)
	// Late duplicates of any request show up here.
	for {
		_, err := read(time.Now().Add(*linger))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return fmt.Errorf("after the workload: %w", err)
		}
	}
	total := 0
	for _, n := range replies {
		total += n
	}
	fmt.Printf("load: %d requests (set %d, del %d, cas %d, incr %d, get %d) in %.1fs, %d replies from %d socket(s) %v\n",
		len(steps), ops2[wire.OpSet], ops2[wire.OpDel], ops2[wire.OpCAS], ops2[wire.OpIncr], ops2[wire.OpGet],
		took.Seconds(), total, len(senders), senders)
	if len(dups) > 0 {
		return fmt.Errorf("%d duplicate replies, first %s", len(dups), dups[0])
	}
	if total != len(steps) || len(replies) != len(steps) {
		return fmt.Errorf("%d replies for %d requests", total, len(steps))
	}
	if len(senders) != 1 {
		return fmt.Errorf("replies came from %d sockets, want 1: %v", len(senders), senders)
	}
	fmt.Printf("load: exactly one reply per request, each as the model predicts; %d keys must remain\n", len(m))
	if *out != "" {
		return writeDump(*out, m)
	}
	return nil
}

// cmdReplies sends one get to a TIPC port and prints how many replies came.
func cmdReplies(args []string) error {
	fs := flag.NewFlagSet("replies", flag.ExitOnError)
	port := fs.Int("port", 10, "TIPC port")
	wait := fs.Duration("wait", time.Second, "how long to collect replies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := tipc.Dial()
	if err != nil {
		return fmt.Errorf("tipc dial: %w", err)
	}
	defer conn.Close()
	msg, err := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("m-00")})
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if _, err := conn.WriteToTIPC(msg, tipc.ServiceAddr(*port)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(*wait)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	buf := make([]byte, tipc.MaxMessage)
	n := 0
	for {
		_, _, err := conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		n++
	}
	fmt.Printf("replies: %d\n", n)
	return nil
}

// cmdDump walks one server's store and writes its pairs to a file.
func cmdDump(args []string) error {
	fs := flag.NewFlagSet("dump", flag.ExitOnError)
	port := fs.Int("port", 10, "TIPC port")
	out := fs.String("out", "", "file to write the pairs to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	c, err := tipcClient(*port)
	if err != nil {
		return err
	}
	defer c.Close()
	m := model{}
	key, err := c.FirstKey(ctx)
	for err == nil {
		if _, dup := m[string(key)]; dup {
			return fmt.Errorf("walk returned %q twice", key)
		}
		v, gerr := c.Get(ctx, key)
		if gerr != nil {
			return fmt.Errorf("get %q found by the walk: %w", key, gerr)
		}
		m[string(key)] = v
		key, err = c.NextKey(ctx, key)
	}
	if !errors.Is(err, libnmdb.ErrNotFound) {
		return fmt.Errorf("firstkey/nextkey walk of port %d: %w", *port, err)
	}
	fmt.Printf("dump: port %d holds %d pairs\n", *port, len(m))
	return writeDump(*out, m)
}

// writeDump writes the pairs of m as sorted "hexkey<TAB>hexvalue" lines.
func writeDump(path string, m model) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%x\t%x\n", k, m[k])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write dump: %w", err)
	}
	return nil
}

// readDump reads a file written by writeDump.
func readDump(path string) (model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read dump: %w", err)
	}
	defer f.Close()
	m := model{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ks, vs, ok := strings.Cut(sc.Text(), "\t")
		k, err1 := hex.DecodeString(ks)
		v, err2 := hex.DecodeString(vs)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		m[string(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dump: %w", err)
	}
	return m, nil
}

// compareDumps compares two dumps key by key.
func compareDumps(a, b string) error {
	ma, err := readDump(a)
	if err != nil {
		return err
	}
	mb, err := readDump(b)
	if err != nil {
		return err
	}
	var diffs []string
	for k, va := range ma {
		vb, ok := mb[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%q only in the first (%q)", k, va))
		case !bytes.Equal(va, vb):
			diffs = append(diffs, fmt.Sprintf("%q differs: %q vs %q", k, va, vb))
		}
	}
	for k, vb := range mb {
		if _, ok := ma[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q only in the second (%q)", k, vb))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		if len(diffs) > 5 {
			diffs = append(diffs[:5], "...")
		}
		return fmt.Errorf("%d vs %d pairs, %d differences: %s", len(ma), len(mb), len(diffs), strings.Join(diffs, "; "))
	}
	return nil
}

// countLines counts the lines of a file.
func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("count lines: %w", err)
	}
	return bytes.Count(b, []byte("\n")), nil
}
