// Package nmdb is the nmdb server: request handling, the sharded cache in
// front of the database, the ordered database queue, read-only and passive
// modes, statistics, and serving over TCP streams and datagram sockets (UDP,
// TIPC, SCTP).
//
// A Server is a value: several can run in one process. Create one with New,
// serve any number of listeners and packet sockets with ServeTCP and
// ServePacket, and stop it with Shutdown, which finishes the queued database
// work before closing the store.
package nmdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/nmdb-go/nmdb/internal/cache"
	"github.com/nmdb-go/nmdb/internal/dbq"
	"github.com/nmdb-go/nmdb/internal/store"
	"github.com/nmdb-go/nmdb/internal/version"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Transport identifies how a request reached the server. It is the wire
// package's type, shared with the clients.
type Transport = wire.Transport

// Transports, in the order used for client-side sharding.
const (
	TIPC = wire.TIPC
	TCP  = wire.TCP
	UDP  = wire.UDP
	SCTP = wire.SCTP
)

// Config configures a Server.
type Config struct {
	// Backend is the database backend: "pebble" (the default when empty)
	// or "null", which stores nothing.
	Backend string
	// DBPath is the pebble directory; it is created if missing.
	DBPath string
	// CacheObjects is the total number of objects the cache holds;
	// 0 means 128*1024.
	CacheObjects int
	// ReadOnly starts the server in read-only mode.
	ReadOnly bool
	// Passive starts the server in passive mode: it acts on every request
	// but never replies.
	Passive bool
	// MaxConns bounds the concurrent TCP connections; 0 means 4096. A
	// client over the limit gets an ERR reply (0x105, out of resources,
	// with request id 0) and is closed.
	MaxConns int
	// IdleTimeout closes a TCP connection that sends nothing for this long
	// between requests; 0 means DefaultIdleTimeout, a negative value
	// never.
	IdleTimeout time.Duration
	// FrameTimeout closes a TCP connection that began to send a request
	// and has not sent all of it this long after; 0 means
	// DefaultFrameTimeout, a negative value never.
	FrameTimeout time.Duration
	// EvictAfter: a client over MaxConns takes the place of the connection
	// that has waited the longest for a request, if it has waited longer
	// than this (idle clients cannot keep active ones out); 0 means
	// DefaultEvictAfter, a negative value never (the client is refused).
	EvictAfter time.Duration
	// PollSpin is how long a reader whose client sends requests in quick
	// succession keeps polling its socket, once empty, before it sleeps
	// (see spin.go): 0 means DefaultPollSpin, a negative value never.
	PollSpin time.Duration
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Pebble are the pebble store's options; nil means pebble's defaults.
	// They are copied; their Logger is replaced by one writing to Logger,
	// and fatal errors pebble reports there make the store fail (see
	// Server.StoreFault) instead of ending the process.
	Pebble *pebble.Options
	// CacheBytes bounds the cache in bytes: keys, values and a fixed
	// per-object overhead, counted at the size the allocator gives them
	// (CacheObjects bounds it too); 0 means DefaultCacheBytes.
	CacheBytes int64
	// SyncInterval is how long after a normal-mode write is committed the
	// store's log is written to the operating system and synced, at most
	// (a stream of writes shares one sync); 0 means DefaultSyncInterval.
	SyncInterval time.Duration
	// OnStoreFault, if set, is called (on a goroutine of its own) with the
	// error that made the store fail: from then on the server refuses
	// writes and answers reads (see Server.StoreFault). After a full disk
	// (errors.Is(err, syscall.ENOSPC)) a server that opened its store
	// itself (New) reopens it once the disk has 32 MiB free, and writes
	// are accepted again; every other fault stays.
	OnStoreFault func(error)
}

// Defaults and limits.
const (
	// DefaultCacheObjects is the cache size when Config.CacheObjects is 0.
	DefaultCacheObjects = 128 * 1024
	// DefaultCacheBytes is the cache's byte bound when Config.CacheBytes
	// is 0.
	DefaultCacheBytes = 64 << 20
	// DefaultMaxConns is the connection limit when Config.MaxConns is 0.
	DefaultMaxConns = 4096

	queueOps   = 8192     // operations the database queue holds
	queueBytes = 32 << 20 // bytes of keys and values it holds
)

// ErrServerClosed is returned by ServeTCP and ServePacket after Shutdown.
var ErrServerClosed = errors.New("nmdb: server closed")

// counter is a statistics counter on its own cache line.
type counter struct {
	atomic.Uint64
	_ [56]byte
}

// Server is an nmdb server. Its methods are safe for concurrent use.
type Server struct {
	log      *slog.Logger
	store    store.Store
	cache    *cache.Cache
	q        *dbq.Queue[replyTo]
	maxConns int64
	spin     *spinSlots
	started  time.Time // for the uptime counter (monotonic)

	readOnly atomic.Bool
	passive  atomic.Bool
	closing  atomic.Bool
	nconns   atomic.Int64
	outBytes atomic.Int64 // TCP replies not yet taken by their clients
	stalls   atomic.Int64 // waits of TCP readers for their clients to take replies
	timeouts *timeouts

	// One log line per second at most for each kind of misbehaving client.
	logOverLimit, logBadFrame, logTimeout, logCutOff logLimiter
	stats                                            [wire.NumStats]counter

	fault   atomic.Pointer[storeFault] // set while the store is failed
	onFault func(error)
	// reopen opens the store again (nil for a store given to newServer);
	// storeMu keeps the syncer off the store while the worker swaps it.
	reopen    func() (store.Store, error)
	freeSpace func() (uint64, error)
	storeMu   sync.RWMutex
	catchUp   catchUpSlot // the running catch-up, or nil
	group     atomic.Pointer[func() GroupStats]

	smallBufs sync.Pool // *[]byte of smallBuf bytes, TCP frames being read
	bigBufs   sync.Pool // *[]byte of bigBuf bytes

	mu        sync.Mutex // guards the sets below
	listeners map[net.Listener]struct{}
	packets   map[*packetConn]struct{}
	conns     map[*tcpConn]struct{}

	readers    sync.WaitGroup // connection and datagram readers
	writers    sync.WaitGroup // connection writers
	workerDone chan struct{}
	unsynced   chan struct{} // a commit without sync wrote (see syncLoop)
	syncStop   chan struct{}
	syncDone   chan struct{}
	shutOnce   sync.Once
	shutDone   chan struct{}
	shutErr    error
}

// Backends returns the database backends this build has.
func Backends() []string { return store.Backends() }

// New opens the store and starts the database worker.
func New(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	open := func() (store.Store, error) {
		return store.Open(cfg.Backend, cfg.DBPath, store.Options{Logger: log, Pebble: cfg.Pebble})
	}
	st, err := open()
	if err != nil {
		return nil, fmt.Errorf("nmdb: %w", err)
	}
	s := newServer(cfg, st)
	s.reopen = open
	fsys := vfs.Default
	if cfg.Pebble != nil && cfg.Pebble.FS != nil {
		fsys = cfg.Pebble.FS
	}
	s.freeSpace = func() (uint64, error) {
		u, err := fsys.GetDiskUsage(cfg.DBPath)
		return u.AvailBytes, err
	}
	return s, nil
}

// newServer builds a server on an open store.
func newServer(cfg Config, st store.Store) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	objects := cfg.CacheObjects
	if objects <= 0 {
		objects = DefaultCacheObjects
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	pollSpin := cfg.PollSpin
	if pollSpin == 0 {
		pollSpin = DefaultPollSpin
	}
	cacheBytes := cfg.CacheBytes
	if cacheBytes <= 0 {
		cacheBytes = DefaultCacheBytes
	}
	syncInterval := cfg.SyncInterval
	if syncInterval <= 0 {
		syncInterval = DefaultSyncInterval
	}
	s := &Server{
		log:        log,
		store:      st,
		cache:      cache.New(objects, cacheBytes),
		q:          dbq.New[replyTo](queueOps, queueBytes),
		maxConns:   int64(maxConns),
		timeouts:   newTimeouts(cfg.IdleTimeout, cfg.FrameTimeout, cfg.EvictAfter),
		spin:       newSpinSlots(pollSpin),
		started:    time.Now(),
		listeners:  make(map[net.Listener]struct{}),
		packets:    make(map[*packetConn]struct{}),
		conns:      make(map[*tcpConn]struct{}),
		workerDone: make(chan struct{}),
		unsynced:   make(chan struct{}, 1),
		syncStop:   make(chan struct{}),
		syncDone:   make(chan struct{}),
		shutDone:   make(chan struct{}),
		onFault:    cfg.OnStoreFault,
	}
	s.smallBufs.New = func() any { b := make([]byte, smallBuf); return &b }
	s.bigBufs.New = func() any { b := make([]byte, bigBuf); return &b }
	s.readOnly.Store(cfg.ReadOnly)
	s.passive.Store(cfg.Passive)
	go s.work()
	go s.sweep()
	go s.syncLoop(syncInterval)
	return s
}

// SetReadOnly switches read-only mode, in which set, del, cas and incr are
// refused with ERR 0x107.
func (s *Server) SetReadOnly(on bool) { s.readOnly.Store(on) }

// ReadOnly reports whether the server is in read-only mode.
func (s *Server) ReadOnly() bool { return s.readOnly.Load() }

// SetPassive switches passive mode, in which the server acts on every
// request but never replies.
func (s *Server) SetPassive(on bool) { s.passive.Store(on) }

// GroupStats are the counters of a server's part in a TIPC port's group
// (see internal/cluster), for the statistics.
type GroupStats struct {
	// Role is wire.RoleMirror or wire.RoleCatchingUp for a passive
	// server of a group; it is reported only while the server is passive.
	Role        uint64
	Promotions  uint64
	StepDowns   uint64
	CatchUpKeys uint64
	CatchUps    uint64
	Term        uint64
}

// SetGroupStats makes the statistics report what f returns.
func (s *Server) SetGroupStats(f func() GroupStats) { s.group.Store(&f) }

// Passive reports whether the server is in passive mode.
func (s *Server) Passive() bool { return s.passive.Load() }

// Stats returns the server's wire.NumStats counters, in wire order.
func (s *Server) Stats() []uint64 {
	var c [wire.NumStats]uint64
	s.readStats(&c)
	return c[:]
}

// readStats fills c with the counters.
func (s *Server) readStats(c *[wire.NumStats]uint64) {
	for i := range c {
		c[i] = s.stats[i].Load()
	}
	c[wire.StatObjectsCached] = uint64(s.cache.Len())
	c[wire.StatQueueLength] = uint64(s.q.Len())
	c[wire.StatUptime] = uint64(time.Since(s.started) / time.Second)
	c[wire.StatVersion] = version.Number()
	c[wire.StatOpenConns] = uint64(max(s.nconns.Load(), 0))
	c[wire.StatRole] = wire.RoleActive
	if s.passive.Load() {
		c[wire.StatRole] = wire.RolePassive
	}
	if f := s.group.Load(); f != nil {
		g := (*f)()
		if s.passive.Load() && g.Role != 0 {
			c[wire.StatRole] = g.Role
		}
		c[wire.StatPromotions] = g.Promotions
		c[wire.StatStepDowns] = g.StepDowns
		c[wire.StatCatchUpKeys] = g.CatchUpKeys
		c[wire.StatCatchUps] = g.CatchUps
		c[wire.StatTerm] = g.Term
	}
	c[wire.StatBytesCached] = uint64(s.cache.Bytes())
	c[wire.StatEvictions] = s.cache.Evictions()
}

// inc adds one to counter i.
func (s *Server) inc(i int) { s.stats[i].Add(1) }

// Shutdown stops the listeners and packet sockets and stops reading from
// connections, finishes the queued database work and delivers its replies,
// then closes the connections, the packet sockets and the store. If ctx
// ends first, connections are closed at once, the store is closed in the
// background once the queue is done, and ctx's error is returned.
// Shutdown may be called more than once; later calls wait for the first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		go func() {
			s.shutErr = s.shutdown()
			close(s.shutDone)
		}()
	})
	select {
	case <-s.shutDone:
		return s.shutErr
	case <-ctx.Done():
		s.mu.Lock()
		for tc := range s.conns {
			tc.kill(false)
		}
		for p := range s.packets {
			_ = p.pc.Close()
		}
		s.mu.Unlock()
		return fmt.Errorf("nmdb: shutdown: %w", ctx.Err())
	}
}

// shutdown does Shutdown's work in order.
func (s *Server) shutdown() error {
	s.mu.Lock()
	s.closing.Store(true)
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("nmdb: closing listener: %w", err))
		}
	}
	now := time.Now()
	for p := range s.packets {
		_ = p.pc.SetReadDeadline(now)
	}
	for tc := range s.conns {
		_ = tc.c.SetReadDeadline(now)
		tc.wakeReader() // one waiting for its client to read
	}
	s.mu.Unlock()
	close(s.timeouts.stop)
	<-s.timeouts.done

	// No request is read after this; then the queue runs dry and every
	// reply it owes is handed to its connection or socket.
	s.readers.Wait()
	s.q.Close()
	<-s.workerDone
	close(s.syncStop)
	<-s.syncDone
	// A client that does not take its last replies does not hold up the
	// shutdown for long.
	s.mu.Lock()
	grace := time.Now().Add(shutdownGrace)
	for tc := range s.conns {
		_ = tc.c.SetWriteDeadline(grace)
	}
	s.mu.Unlock()
	s.writers.Wait()

	s.mu.Lock()
	for p := range s.packets {
		if err := p.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("nmdb: closing %v socket: %w", p.t, err))
		}
	}
	s.mu.Unlock()
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("nmdb: %w", err))
	}
	return errors.Join(errs...)
}
