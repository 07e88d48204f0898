package libnmdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nmdb-go/nmdb/internal/sctp"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// Default ports of classic nmdb, used when an Add method gets a negative
// port.
const (
	// DefaultTIPCPort is the TIPC instance servers bind by default (the
	// service type is tipc.ServiceType).
	DefaultTIPCPort = 10
	// DefaultPort is the TCP, UDP and SCTP port servers listen on by default.
	DefaultPort = 26010
)

// Default option values.
const (
	// DefaultTimeout bounds a call whose context has no deadline.
	DefaultTimeout = 5 * time.Second
	// DefaultRetryInterval is the wait before the first repeat of a
	// datagram request; the wait doubles with each repeat, up to
	// MaxRetryInterval.
	DefaultRetryInterval = 100 * time.Millisecond
	// MaxRetryInterval caps the wait between repeats of a datagram request.
	MaxRetryInterval = time.Second
)

// Options configure a Client. The zero value gives the defaults.
type Options struct {
	// Timeout bounds every call whose context has no deadline, and each
	// connection attempt. 0 means DefaultTimeout.
	Timeout time.Duration
	// RetryInterval is the wait before the first repeat of a datagram
	// request that got no reply. 0 means DefaultRetryInterval.
	RetryInterval time.Duration
	// Logger receives reconnects and other events worth a line; nil
	// discards them.
	Logger *slog.Logger
	// Backoff is how long a server that failed or timed out (it could not
	// be reached, its connection broke, or a call got no reply before
	// its deadline) is then skipped: calls to it fail at once with
	// ErrServerDown. After that, one call at a time goes to it as a
	// probe; each probe that fails doubles the period, up to MaxBackoff,
	// and any reply marks the server up again. Keys never move to other
	// servers meanwhile. 0 means DefaultBackoff; a negative value turns
	// marking down off, so that every call tries its server.
	Backoff time.Duration
	// MaxBackoff caps the back-off period, and so bounds how long after
	// a server comes back it is used again. 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Sharding is the rule that picks the server of each key; the zero
	// value is ShardingClassic, the classic C library's rule. Every
	// client of a cluster must use the same one (see Sharding).
	Sharding Sharding
	// ThreadWait makes a call whose context is never done (such as
	// context.Background()) to a TCP or UDP server cost what a C client's
	// call costs: it takes a connection of its own, in blocking mode,
	// sends its request and waits for the reply in a blocking read, both
	// on its own thread, rather than in Go's network poller. Up to
	// LinksPerServer such connections are opened with each server, as
	// calls overlap; a call that finds them all in use shares the
	// server's multiplexed connection, as calls without ThreadWait do.
	// It is meant for callers bound to their thread anyway, such as C
	// threads calling into Go (the C library sets it): parked in the
	// poller, such a caller's thread sleeps until another thread finds
	// the reply and hands the call back, two thread switches more per
	// call. Not for goroutines: a call waiting so holds a thread, and its
	// P (see runtime.GOMAXPROCS) until the runtime takes it back. A
	// caller bound to its thread should yield its P (runtime.Gosched)
	// every few milliseconds, as the C library does for each of its
	// threads, or the runtime takes the P back itself, at a higher cost.
	// Linux only; elsewhere it has no effect. See blocking_linux.go.
	ThreadWait bool
	// LinksPerServer bounds the connections (or datagram sockets) the
	// client keeps with each server; 0 or 1 means one, which every call
	// to the server shares, replies matched to requests by id. With more,
	// a call that finds the links in use by calls in flight goes on
	// another one, connected when first needed, up to this many; only
	// when all are in use do calls share one. Goroutines do better
	// sharing one link. With ThreadWait, it bounds instead the
	// connections in blocking mode, each carrying one call at a time, and
	// the calls they leave over share one more. Links once opened stay
	// open until the client is closed, and are connected again after they
	// break, as the first one is. At most MaxLinksPerServer.
	LinksPerServer int
}

// MaxLinksPerServer caps Options.LinksPerServer.
const MaxLinksPerServer = 256

// Client is a handle on a cluster of nmdb servers. It is safe for
// concurrent use by many goroutines. The zero value is not usable; call New.
type Client struct {
	opts Options
	log  *slog.Logger

	addMu   sync.Mutex                // serializes Add* and Close
	servers atomic.Pointer[[]*server] // sorted in sharding order; replaced, never changed
	closed  atomic.Bool

	calls sync.Pool // *call

	// Counters for tests: calls that read their reply themselves, and
	// times a caller woke the reader or the writer goroutine of a link.
	direct, handoffs, writerWakes atomic.Uint64
}

// New returns a client with no servers, configured by o; the zero Options
// give the defaults.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)
	o.LinksPerServer = min(max(o.LinksPerServer, 1), MaxLinksPerServer)
	c := &Client{opts: o, log: o.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.calls.New = func() any { return newCall() }
	empty := []*server{}
	c.servers.Store(&empty)
	return c
}

// Options returns the options the client was made with, defaults filled
// in.
func (c *Client) Options() Options { return c.opts }

// NumServers returns how many servers the client holds.
func (c *Client) NumServers() int { return len(*c.servers.Load()) }

// Servers describes the servers the client holds, in sharding order, as
// "transport address" strings (for example "tcp 127.0.0.1:26010" or
// "tipc 10").
func (c *Client) Servers() []string {
	list := *c.servers.Load()
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.name
	}
	return out
}

// Identities returns the identities of the servers the client holds, in
// sharding order: what ShardingRendezvous weighs servers by (see
// Sharding).
func (c *Client) Identities() []string {
	list := *c.servers.Load()
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.identity()
	}
	return out
}

// Shard returns the index, in Servers, of the server that holds key under
// the client's sharding rule, or -1 if the client holds no servers.
func (c *Client) Shard(key []byte) int {
	list := *c.servers.Load()
	if len(list) == 0 {
		return -1
	}
	return c.index(key, list)
}

// AddTCPServer adds a server reached over TCP at addr (an IP address or a
// host name) and port; a negative port means DefaultPort. It fails only for
// a bad address (or one that does not resolve), never because the server
// is down: the server is connected on first use, and again after the
// connection breaks.
func (c *Client) AddTCPServer(addr string, port int) error {
	return c.addIP(wire.TCP, addr, port)
}

// AddUDPServer adds a server reached over UDP at addr (an IP address or a
// host name) and port; a negative port means DefaultPort. UDP has no
// connection, so an unreachable server shows only when requests time out;
// it fails only for a bad address or a socket this system cannot make.
func (c *Client) AddUDPServer(addr string, port int) error {
	return c.addIP(wire.UDP, addr, port)
}

// AddSCTPServer adds a server reached over SCTP at addr (an IP address or a
// host name) and port; a negative port means DefaultPort. As for
// AddTCPServer, the association is set up on first use, and a server that
// is down does not make it fail. On a kernel without SCTP it returns an
// error matching sctp.ErrUnsupported.
func (c *Client) AddSCTPServer(addr string, port int) error {
	return c.addIP(wire.SCTP, addr, port)
}

// AddTIPCServer adds a server reached over TIPC at the service {26001,
// port, port} in cluster scope; a negative port means DefaultTIPCPort. On
// a kernel without TIPC it returns an error matching tipc.ErrUnsupported.
func (c *Client) AddTIPCServer(port int) error {
	if port < 0 {
		port = DefaultTIPCPort
	}
	if port > 1<<32-1 {
		return fmt.Errorf("nmdb: add tipc server: port %d out of range", port)
	}
	s := &server{c: c, tr: wire.TIPC, port: port, name: "tipc " + strconv.Itoa(port), retry: true}
	s.dial = func(ctx context.Context) (transport, error) { return dialTIPC(uint32(port)) }
	if c.opts.ThreadWait {
		s.blk = newBlockPool(s, netip.AddrPort{})
	}
	return c.add(s)
}

func (c *Client) addIP(tr wire.Transport, host string, port int) error {
	if port < 0 {
		port = DefaultPort
	}
	if port > 65535 {
		return fmt.Errorf("nmdb: add %v server %s: port %d out of range", tr, host, port)
	}
	if host == "" {
		return fmt.Errorf("nmdb: add %v server: empty address", tr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	ip, err := resolve(ctx, host)
	if err != nil {
		return fmt.Errorf("nmdb: add %v server %s: %w", tr, host, err)
	}
	ap := netip.AddrPortFrom(ip, uint16(port))
	s := &server{c: c, tr: tr, ip: ip, port: port, name: tr.String() + " " + ap.String()}
	switch tr {
	case wire.TCP:
		s.stream = true
		s.turn = make(chan struct{}, 1)
		s.dial = func(ctx context.Context) (transport, error) { return dialTCP(ctx, ap, c.opts.Timeout) }
	case wire.UDP:
		s.retry = true
		s.dial = func(ctx context.Context) (transport, error) { return dialUDP(ap) }
	case wire.SCTP:
		s.dial = func(ctx context.Context) (transport, error) { return dialSCTP(ctx, ap) }
	}
	if c.opts.ThreadWait {
		s.blk = newBlockPool(s, ap)
	}
	return c.add(s)
}

// resolve turns host into one IP address, preferring IPv4 as classic
// clients (which know only IPv4) do.
func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve: %w", err)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: no addresses", host)
	}
	return ips[0], nil
}

// netAddr returns the server's address as the net package has it, for
// errors.
func (s *server) netAddr() net.Addr {
	ap := netip.AddrPortFrom(s.ip, uint16(s.port))
	switch s.tr {
	case wire.TCP:
		return net.TCPAddrFromAddrPort(ap)
	case wire.TIPC:
		return tipc.ServiceAddr(s.port)
	}
	return net.UDPAddrFromAddrPort(ap)
}

// identity returns the server's identity for rendezvous sharding: its
// address and port, or "tipc:" and its port.
func (s *server) identity() string {
	if s.tr == wire.TIPC {
		return "tipc:" + strconv.Itoa(s.port)
	}
	return netip.AddrPortFrom(s.ip, uint16(s.port)).String()
}

// check makes sure this system can make the sockets of s, without sending
// anything: datagram sockets (UDP, TIPC) are made now, streams and
// associations (TCP, SCTP) on first use.
func (s *server) check() error {
	switch s.tr {
	case wire.TCP:
		return nil
	case wire.SCTP:
		return sctp.Supported(s.ip.Is6())
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.Timeout)
	defer cancel()
	_, err := s.link(ctx)
	return err
}

// add checks that this system can reach s and inserts it in sharding
// order. Nothing is sent: s is connected on first use.
func (c *Client) add(s *server) error {
	s.sid = identityHash(s.identity())
	c.addMu.Lock()
	defer c.addMu.Unlock()
	if c.closed.Load() {
		return fmt.Errorf("nmdb: add %s: %w", s.name, ErrClosed)
	}
	old := *c.servers.Load()
	for _, o := range old {
		if compareServers(o, s) == 0 {
			return fmt.Errorf("nmdb: add %s: server already added", s.name)
		}
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("nmdb: add server: %w", err)
	}
	ns := append(slices.Clone(old), s)
	slices.SortStableFunc(ns, compareServers)
	c.servers.Store(&ns)
	return nil
}

// compareServers orders servers the classic way: by transport, TIPC
// by port, IP servers by address then port, both compared as little-endian
// integers of their network-order bytes.
func compareServers(a, b *server) int {
	if d := cmp.Compare(a.tr, b.tr); d != 0 {
		return d
	}
	if a.tr == wire.TIPC {
		return cmp.Compare(a.port, b.port)
	}
	if d := compareAddrLE(a.ip, b.ip); d != 0 {
		return d
	}
	return cmp.Compare(swap16(a.port), swap16(b.port))
}

// swap16 turns a port into the little-endian reading of its network-order
// bytes.
func swap16(p int) int { return (p&0xff)<<8 | (p>>8)&0xff }

// compareAddrLE compares two addresses as little-endian integers of their
// network-order bytes: the last byte is the most significant. IPv4
// addresses (the only ones classic clients know) come before IPv6 ones.
func compareAddrLE(a, b netip.Addr) int {
	if a.Is4() != b.Is4() {
		if a.Is4() {
			return -1
		}
		return 1
	}
	x, y := a.AsSlice(), b.AsSlice()
	for i := len(x) - 1; i >= 0; i-- {
		if d := cmp.Compare(x[i], y[i]); d != 0 {
			return d
		}
	}
	return 0
}

// Close closes every connection. Calls waiting for replies fail with
// ErrClosed, and so do later calls.
func (c *Client) Close() error {
	c.addMu.Lock()
	defer c.addMu.Unlock()
	if c.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, s := range *c.servers.Load() {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// list returns the servers in sharding order: ErrClosed or ErrNoServers
// when there are none.
func (c *Client) list() ([]*server, error) {
	list := *c.servers.Load()
	if len(list) == 0 {
		if c.closed.Load() {
			return nil, ErrClosed
		}
		return nil, ErrNoServers
	}
	return list, nil
}

// pick returns the server that holds key.
func (c *Client) pick(key []byte) (*server, error) {
	list, err := c.list()
	if err != nil {
		return nil, err
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list[c.index(key, list)], nil
}

// index returns the index in list, which holds at least one server, of
// the server that holds key.
func (c *Client) index(key []byte, list []*server) int {
	if c.opts.Sharding != ShardingRendezvous {
		return Select(key, len(list))
	}
	kh := KeyHash64(key)
	best, bestW := 0, weight(kh, list[0].sid)
	for i, s := range list[1:] {
		if w := weight(kh, s.sid); w > bestW {
			best, bestW = i+1, w
		}
	}
	return best
}
