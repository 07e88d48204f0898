package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nmdb-go/nmdb/libnmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// rawRequest builds a request by hand, so that it can be wrong: header word
// (version << 28 | id), request code, flags, payload.
func rawRequest(version, id uint32, op uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, version<<28|id)
	b = binary.BigEndian.AppendUint16(b, op)
	b = binary.BigEndian.AppendUint16(b, 0)
	return append(b, payload...)
}

// u32s encodes sizes for payloads.
func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// stats returns the counters of the one server c holds.
func stats(ctx context.Context, c *libnmdb.Client) ([]uint64, error) {
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	if len(st) != 1 || len(st[0]) < wire.NumStats {
		return nil, fmt.Errorf("stats: want 1 server with %d counters, got %d servers", wire.NumStats, len(st))
	}
	return st[0], nil
}

// counted is how many datagrams the server counted as broken requests or as
// dropped between two stats snapshots: a datagram shorter than a header may
// land in either.
func counted(before, after []uint64) uint64 {
	return after[wire.StatBrokenRequests] - before[wire.StatBrokenRequests] +
		after[wire.StatMsgsDropped] - before[wire.StatMsgsDropped]
}

// cmdBad sends malformed and unanswerable datagrams to a server's TIPC port
// and checks that each is answered as SPEC section 1 says or dropped and
// counted, and that the server keeps serving.
func cmdBad(args []string) error {
	fs := flag.NewFlagSet("bad", flag.ExitOnError)
	port := fs.Int("port", 60, "TIPC port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	c, err := tipcClient(*port)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := waitUp(ctx, c); err != nil {
		return err
	}
	before, err := stats(ctx, c)
	if err != nil {
		return err
	}
	conn, err := tipc.Dial()
	if err != nil {
		return fmt.Errorf("tipc dial: %w", err)
	}
	defer conn.Close()
	dst := tipc.ServiceAddr(*port)
	buf := make([]byte, tipc.MaxMessage)
	send := func(what string, msg []byte) error {
		if _, err := conn.WriteToTIPC(msg, dst); err != nil {
			return fmt.Errorf("send %s: %w", what, err)
		}
		return nil
	}
	// expectErr waits for the ERR reply with the given id and code.
	expectErr := func(what string, id uint32, code wire.ErrCode) error {
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return fmt.Errorf("set deadline: %w", err)
		}
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("%s: no reply: %w", what, err)
			}
			var r wire.Reply
			if err := wire.DecodeReply(buf[:n], &r); err != nil {
				return fmt.Errorf("%s: undecodable reply: %w", what, err)
			}
			if r.ID != id {
				continue // a reply to an earlier probe
			}
			if r.Code != wire.CodeErr || r.Err != code {
				return fmt.Errorf("%s: got %v %v, want ERR %v", what, r.Code, r.Err, code)
			}
			fmt.Printf("bad: %s answered with ERR %#x\n", what, uint32(code))
			return nil
		}
	}

	// Shorter than a header: no id to answer to.
	for _, m := range [][]byte{{1}, {0x10, 0, 0, 1, 1, 1, 0}} {
		if err := send("short datagram", m); err != nil {
			return err
		}
	}
	steps := []struct {
		what string
		msg  []byte
		code wire.ErrCode
	}{
		{"version 2 request", rawRequest(2, 77, uint16(wire.OpGet), append(u32s(1), 'a')), wire.ErrCodeVersion},
		{"unknown request code", rawRequest(1, 78, 0x1ff, nil), wire.ErrCodeUnknown},
		{"key size past the message end", rawRequest(1, 79, uint16(wire.OpSet), append(u32s(1000, 5), "ab"...)), wire.ErrCodeBroken},
		{"value of 65537 bytes", rawRequest(1, 80, uint16(wire.OpSet), append(u32s(1, 65537), make([]byte, 65538)...)), wire.ErrCodeBroken},
	}
	for _, s := range steps {
		if err := send(s.what, s.msg); err != nil {
			return err
		}
		id := wire.MessageID(s.msg)
		if err := expectErr(s.what, id, s.code); err != nil {
			return err
		}
	}

	// A datagram larger than any valid request (65917 bytes): the server's
	// TIPC socket drops it unread, and the server counts it as dropped.
	// The short datagrams, read and answered in order before the requests
	// above, are counted already.
	beforeBig, err := stats(ctx, c)
	if err != nil {
		return err
	}
	big := rawRequest(1, 90, uint16(wire.OpSet), append(u32s(1, 65900), make([]byte, 65901)...))
	if err := send("oversized datagram", big); err != nil {
		return err
	}
	// serveAndCount checks that the server still serves and returns its
	// counters once ok says they are complete (or after a while: the
	// caller then reports what is missing). Datagrams the server's socket
	// dropped reach the counters as the server reads the next request.
	serveAndCount := func(ok func(st []uint64) bool) ([]uint64, error) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if err := c.Set(ctx, []byte("after-bad"), []byte("ok")); err != nil {
				return nil, fmt.Errorf("set after bad input: %w", err)
			}
			v, err := c.Get(ctx, []byte("after-bad"))
			if err != nil || string(v) != "ok" {
				return nil, fmt.Errorf("get after bad input: %q, %v", v, err)
			}
			st, err := stats(ctx, c)
			if err != nil || ok(st) || time.Now().After(deadline) {
				return st, err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mid, err := serveAndCount(func(st []uint64) bool { return st[wire.StatMsgsDropped] > beforeBig[wire.StatMsgsDropped] })
	if err != nil {
		return err
	}
	oversized := mid[wire.StatMsgsDropped] - beforeBig[wire.StatMsgsDropped]

	// Replies to clients that went away come back to the server as
	// undeliverable (the server asks for that), and are counted as dropped.
	// Each client closes its socket once the reply is queued on it, unread:
	// the kernel then returns the reply. (A reply that reaches a socket
	// while it is being closed can be lost without a trace in the kernel,
	// so closing at once would make the count a matter of luck.)
	const bounced = 20
	for i := range bounced {
		msg := rawRequest(1, uint32(100+i), uint16(wire.OpGet), append(u32s(1), 'a'))
		if err := sendAndLeave(msg, dst); err != nil {
			return err
		}
	}

	// The server still serves, and counted all of it.
	const want = 2 + 2 + 1 + bounced // broken, short, oversized, undeliverable
	after, err := serveAndCount(func(st []uint64) bool { return counted(before, st) >= want })
	if err != nil {
		return err
	}
	delta := func(i int) uint64 { return after[i] - before[i] }
	undeliverable := after[wire.StatMsgsDropped] - mid[wire.StatMsgsDropped]
	fmt.Printf("bad: counters moved by: version mismatch %d, unknown %d, broken %d, datagrams dropped %d (%d after the oversized datagram, %d after the undeliverable replies)\n",
		delta(wire.StatVersionMismatch), delta(wire.StatUnknownRequests), delta(wire.StatBrokenRequests), delta(wire.StatMsgsDropped),
		oversized, undeliverable)
	var errs []error
	if delta(wire.StatVersionMismatch) < 1 {
		errs = append(errs, errors.New("version mismatch not counted"))
	}
	if delta(wire.StatUnknownRequests) < 1 {
		errs = append(errs, errors.New("unknown request not counted"))
	}
	if delta(wire.StatBrokenRequests) < 2 {
		errs = append(errs, errors.New("broken requests not counted"))
	}
	if delta(wire.StatBrokenRequests)+delta(wire.StatMsgsDropped) < 2+2 {
		errs = append(errs, errors.New("short datagrams counted neither as broken requests nor as dropped"))
	}
	// The oversized datagram and the bounced replies are dropped by the
	// server's TIPC socket, and the server's counter must show each of
	// them: all of them and nothing else.
	if oversized != 1 {
		errs = append(errs, fmt.Errorf("msgs dropped moved by %d after the oversized datagram, want 1", oversized))
	}
	if undeliverable != bounced {
		errs = append(errs, fmt.Errorf("msgs dropped moved by %d after the %d undeliverable replies, want %d", undeliverable, bounced, bounced))
	}
	if d := counted(before, after); d != want {
		errs = append(errs, fmt.Errorf("broken requests and msgs dropped moved by %d together, want exactly %d (2 broken, 2 short, 1 oversized, %d undeliverable)", d, want, bounced))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println("bad: the server answered each bad request as the spec says, counted them, counted the oversized datagram and every undeliverable reply as dropped, and kept serving")
	return nil
}

// sendAndLeave sends msg from a new TIPC socket, waits until the reply is
// queued on it, and closes the socket without reading it.
func sendAndLeave(msg []byte, dst *tipc.Addr) error {
	gone, err := tipc.Dial()
	if err != nil {
		return fmt.Errorf("tipc dial: %w", err)
	}
	defer gone.Close()
	if _, err := gone.WriteToTIPC(msg, dst); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := gone.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	rc, err := gone.SyscallConn()
	if err != nil {
		return fmt.Errorf("syscall conn: %w", err)
	}
	// Peek until a datagram is there; the poller waits in between.
	var b [1]byte
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, perr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return perr != unix.EAGAIN
	}); err != nil {
		return fmt.Errorf("waiting for the reply: %w", err)
	}
	if perr != nil {
		return fmt.Errorf("waiting for the reply: %w", perr)
	}
	if err := gone.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
