// Package testkit is what nmdbtest is made of, kept apart from the server
// package so that the server's own tests use it too: a raw protocol client
// and a group of serving goroutines that stop together. Other packages use
// it through nmdbtest.
package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Timeout bounds every wait of the client and of Group.Stop; it keeps a
// broken test from hanging and is never what a test checks.
const Timeout = 60 * time.Second

// Client speaks the wire protocol over one stream (TCP) or datagram socket.
// Its methods fail the test on errors, except TryRecv.
type Client struct {
	// Conn is the socket, for tests that write or read bytes themselves.
	Conn net.Conn
	// Resends is how often Do sends a request again when its reply does
	// not come, on a datagram socket; replies to earlier sends are then
	// skipped. 0: a lost reply fails the test.
	Resends int

	tb     testing.TB
	stream bool
	id     uint32
	buf    []byte
}

// Dial connects a client to addr over network ("tcp" or "udp") and closes
// it when the test ends.
func Dial(tb testing.TB, network, addr string) *Client {
	tb.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return NewClient(tb, c, network == "tcp")
}

// NewClient returns a client on c, which is a byte stream (framed
// messages) when stream is true and a datagram socket otherwise.
func NewClient(tb testing.TB, c net.Conn, stream bool) *Client {
	return &Client{Conn: c, tb: tb, stream: stream}
}

// Send sends r with the next id, which it returns.
func (c *Client) Send(r wire.Request) uint32 {
	c.tb.Helper()
	id, err := c.TrySend(r)
	if err != nil {
		c.tb.Fatal(err)
	}
	return id
}

// TrySend is Send returning its error instead of failing the test, for
// goroutines other than the test's and for servers that may be gone.
func (c *Client) TrySend(r wire.Request) (uint32, error) {
	c.id++
	r.ID = c.id
	msg, err := wire.AppendRequest(c.buf[:0], &r)
	if err != nil {
		return r.ID, fmt.Errorf("encoding %v: %w", r.Op, err)
	}
	c.buf = msg
	return r.ID, c.trySendRaw(msg)
}

// SendRaw sends msg as one message: framed on a stream, one datagram
// otherwise.
func (c *Client) SendRaw(msg []byte) {
	c.tb.Helper()
	if err := c.trySendRaw(msg); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *Client) trySendRaw(msg []byte) error {
	if c.stream {
		b, start := wire.BeginFrame(nil)
		msg = wire.EndFrame(append(b, msg...), start)
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.Conn.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Recv reads one reply; its Val is the client's own copy.
func (c *Client) Recv() wire.Reply {
	c.tb.Helper()
	r, err := c.TryRecv(Timeout)
	if err != nil {
		c.tb.Fatalf("reading reply: %v", err)
	}
	return r
}

// TryRecv reads one reply, waiting at most wait; its Val is the client's
// own copy.
func (c *Client) TryRecv(wait time.Duration) (wire.Reply, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(wait))
	var msg []byte
	if c.stream {
		var prefix [wire.TCPPrefix]byte
		if _, err := io.ReadFull(c.Conn, prefix[:]); err != nil {
			return wire.Reply{}, err
		}
		n, err := wire.FrameLen(prefix[:])
		if err != nil {
			return wire.Reply{}, err
		}
		msg = make([]byte, n)
		if _, err := io.ReadFull(c.Conn, msg); err != nil {
			return wire.Reply{}, err
		}
	} else {
		b := make([]byte, wire.TCPPrefix+wire.MaxMessage)
		n, err := c.Conn.Read(b)
		if err != nil {
			return wire.Reply{}, err
		}
		msg = b[:n]
	}
	var r wire.Reply
	if err := wire.DecodeReply(msg, &r); err != nil {
		return wire.Reply{}, err
	}
	r.Val = bytes.Clone(r.Val)
	return r, nil
}

// Do sends r and returns its reply, failing unless the reply carries r's
// id (see Resends for datagram sockets).
func (c *Client) Do(r wire.Request) wire.Reply {
	c.tb.Helper()
	tries, wait := 1, Timeout
	if !c.stream && c.Resends > 0 {
		tries = c.Resends + 1
		wait = Timeout / time.Duration(tries)
	}
	for range tries {
		id := c.Send(r)
		for {
			rep, err := c.TryRecv(wait)
			if tries > 1 && IsTimeout(err) {
				break
			}
			if err != nil {
				c.tb.Fatalf("%v: %v", r.Op, err)
			}
			if rep.ID == id {
				return rep
			}
			if tries == 1 {
				c.tb.Fatalf("%v: reply id %d, want %d", r.Op, rep.ID, id)
			}
		}
	}
	c.tb.Fatalf("%v: no reply after %d sends", r.Op, tries)
	return wire.Reply{}
}

// Set stores val under key and returns the reply.
func (c *Client) Set(key, val string) wire.Reply {
	return c.Do(wire.Request{Op: wire.OpSet, Key: []byte(key), Val: []byte(val)})
}

// Get reads key and returns the reply.
func (c *Client) Get(key string) wire.Reply {
	return c.Do(wire.Request{Op: wire.OpGet, Key: []byte(key)})
}

// MustSet sets key and fails unless the reply is OK.
func (c *Client) MustSet(key, val string) {
	c.tb.Helper()
	if r := c.Set(key, val); r.Code != wire.CodeOK {
		c.tb.Fatalf("set %q: reply %v (err %#x), want OK", key, r.Code, uint32(r.Err))
	}
}

// MustGet fails unless key holds val, from the cache or the database.
func (c *Client) MustGet(key, val string) {
	c.tb.Helper()
	r := c.Get(key)
	if (r.Code != wire.CodeOK && r.Code != wire.CodeCacheHit) || string(r.Val) != val {
		c.tb.Fatalf("get %q: reply %v %q (err %#x), want %q", key, r.Code, r.Val, uint32(r.Err), val)
	}
}

// IsTimeout reports whether err is a deadline that passed.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
