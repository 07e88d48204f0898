package nmdb

import (
	"net"
	"net/netip"

	"github.com/nmdb-go/nmdb/internal/dbq"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// replyTo is where the reply to a request goes: the transport that brought
// it, and for datagram sockets the sender. It is a plain value so that a
// queued operation carries it without allocating.
type replyTo struct {
	tc   *tcpConn       // TCP connection
	pk   *packetConn    // datagram socket
	ap   netip.AddrPort // UDP and SCTP sender
	ta   tipc.Addr      // TIPC sender
	addr net.Addr       // sender on other datagram sockets
	// quiet is set when the request arrived in passive mode: it is acted
	// on but never answered, even if the mode changes meanwhile.
	quiet bool
	// reader is set on a reader's own replyTo, never on a queued one
	// (enqueue clears it): on TCP its replies are handed to the writer
	// once per batch of frames read (see readFrames), not one by one; on
	// UDP they go out through the reader's raw socket calls (udpRaw).
	reader bool
}

// msgStat is the counter of messages received over rt's transport.
func (rt *replyTo) msgStat() int {
	if rt.tc != nil {
		return wire.StatMsgTCP
	}
	return rt.pk.stat
}

// begin starts a reply: on TCP it locks the connection's output buffer and
// returns it with a frame begun; on datagram sockets it returns the empty
// scratch buffer. Every begin is followed by end.
func (rt *replyTo) begin(sc *[]byte) ([]byte, int) {
	if rt.tc != nil {
		return rt.tc.begin()
	}
	return (*sc)[:0], 0
}

// end sends the reply built in b since begin.
func (rt *replyTo) end(sc *[]byte, b []byte, start int) {
	if rt.tc != nil {
		rt.tc.end(b, start, !rt.reader)
		return
	}
	*sc = b
	rt.pk.send(b, rt)
}

// handle decodes msg, acts on it, and replies through rt. sc is scratch
// space for building datagram replies (unused on TCP). msg is only used
// during the call.
func (s *Server) handle(msg []byte, rt *replyTo, sc *[]byte) {
	rt.quiet = s.passive.Load()
	s.inc(rt.msgStat())
	var r wire.Request
	if err := wire.DecodeRequest(msg, &r); err != nil {
		code := wire.ErrCodeFor(err)
		switch code {
		case wire.ErrCodeVersion:
			s.inc(wire.StatVersionMismatch)
		case wire.ErrCodeUnknown:
			s.inc(wire.StatUnknownRequests)
		default:
			s.inc(wire.StatBrokenRequests)
		}
		s.replyErr(rt, sc, r.ID, code)
		return
	}
	switch r.Op {
	case wire.OpGet:
		s.get(&r, rt, sc)
	case wire.OpSet, wire.OpDel, wire.OpCAS, wire.OpIncr:
		if s.readOnly.Load() {
			s.replyErr(rt, sc, r.ID, wire.ErrCodeReadOnly)
			return
		}
		if !r.CacheOnly() && s.fault.Load() != nil {
			// The store failed: nothing more is written (see db.go).
			s.replyErr(rt, sc, r.ID, wire.ErrCodeDB)
			return
		}
		switch r.Op {
		case wire.OpSet:
			s.set(&r, rt, sc)
		case wire.OpDel:
			s.del(&r, rt, sc)
		case wire.OpCAS:
			s.cas(&r, rt, sc)
		default:
			s.incr(&r, rt, sc)
		}
	case wire.OpStats:
		if rt.quiet {
			return
		}
		var c [wire.NumStats]uint64
		s.readStats(&c)
		b, start := rt.begin(sc)
		b = wire.AppendStats(b, r.ID, c[:])
		rt.end(sc, b, start)
	case wire.OpFirstKey:
		s.inc(wire.StatDBFirstKey)
		s.enqueue(dbq.Op[replyTo]{Kind: dbq.FirstKey, ID: r.ID}, rt, sc)
	case wire.OpNextKey:
		s.inc(wire.StatDBNextKey)
		s.enqueue(dbq.Op[replyTo]{Kind: dbq.NextKey, ID: r.ID, Key: r.Key}, rt, sc)
	}
}

// get answers from the cache, or asks the database in order.
func (s *Server) get(r *wire.Request, rt *replyTo, sc *[]byte) {
	if r.CacheOnly() {
		s.inc(wire.StatCacheGet)
	} else {
		s.inc(wire.StatDBGet)
	}
	sh := s.cache.Shard(r.Key)
	sh.Lock()
	var v []byte
	var ok bool
	if r.NoFill() {
		v, ok = sh.Peek(r.Key) // the key's place in the LRU order stays
	} else {
		v, ok = sh.Get(r.Key)
	}
	if ok {
		s.inc(wire.StatCacheHits)
		if rt.quiet {
			sh.Unlock()
			return
		}
		// The value is copied once, straight into the reply.
		b, start := rt.begin(sc)
		b = wire.AppendValue(b, r.ID, wire.CodeCacheHit, v)
		sh.Unlock()
		rt.end(sc, b, start)
		return
	}
	gen := sh.Gen()
	sh.Unlock()
	s.inc(wire.StatCacheMisses)
	if r.CacheOnly() {
		s.replyCode(rt, sc, r.ID, wire.CodeCacheMiss)
		return
	}
	s.enqueue(dbq.Op[replyTo]{Kind: dbq.Get, ID: r.ID, Key: r.Key, Gen: gen, NoFill: r.NoFill()}, rt, sc)
}

// set updates the cache, and queues the write unless cache-only.
func (s *Server) set(r *wire.Request, rt *replyTo, sc *[]byte) {
	sh := s.cache.Shard(r.Key)
	sh.Lock()
	sh.Set(r.Key, r.Val)
	sh.Unlock()
	if r.CacheOnly() {
		s.inc(wire.StatCacheSet)
		s.replyCode(rt, sc, r.ID, wire.CodeOK)
		return
	}
	s.inc(wire.StatDBSet)
	s.noteLive(r.Key, liveAbsolute)
	sync := r.Sync()
	if !s.enqueue(dbq.Op[replyTo]{Kind: dbq.Set, Sync: sync, ID: r.ID, Key: r.Key, Val: r.Val}, rt, sc) {
		return
	}
	if !sync {
		s.replyCode(rt, sc, r.ID, wire.CodeOK)
	}
}

// del removes from the cache, and queues the delete unless cache-only.
func (s *Server) del(r *wire.Request, rt *replyTo, sc *[]byte) {
	sh := s.cache.Shard(r.Key)
	sh.Lock()
	was := sh.Delete(r.Key)
	sh.Unlock()
	if r.CacheOnly() {
		s.inc(wire.StatCacheDel)
		if was {
			s.replyCode(rt, sc, r.ID, wire.CodeOK)
		} else {
			s.replyCode(rt, sc, r.ID, wire.CodeNotIn)
		}
		return
	}
	s.inc(wire.StatDBDel)
	s.noteLive(r.Key, liveAbsolute)
	sync := r.Sync()
	if !s.enqueue(dbq.Op[replyTo]{Kind: dbq.Del, Sync: sync, ID: r.ID, Key: r.Key}, rt, sc) {
		return
	}
	if !sync {
		s.replyCode(rt, sc, r.ID, wire.CodeOK)
	}
}

// cas swaps in the cache when cache-only; otherwise a cached value that
// differs answers NOMATCH at once, and else the database decides: the key
// leaves the cache until the database's answer fills it again.
func (s *Server) cas(r *wire.Request, rt *replyTo, sc *[]byte) {
	sh := s.cache.Shard(r.Key)
	sh.Lock()
	if r.CacheOnly() {
		cached, swapped := sh.CAS(r.Key, r.Old, r.Val)
		sh.Unlock()
		s.inc(wire.StatCacheCAS)
		switch {
		case swapped:
			s.replyCode(rt, sc, r.ID, wire.CodeOK)
		case cached:
			s.replyCode(rt, sc, r.ID, wire.CodeNoMatch)
		default:
			s.replyCode(rt, sc, r.ID, wire.CodeNotIn)
		}
		return
	}
	if v, ok := sh.Peek(r.Key); ok && string(v) != string(r.Old) {
		sh.Unlock()
		s.inc(wire.StatDBCAS)
		s.replyCode(rt, sc, r.ID, wire.CodeNoMatch)
		return
	}
	sh.Delete(r.Key)
	gen := sh.Gen()
	sh.Unlock()
	s.inc(wire.StatDBCAS)
	s.noteLive(r.Key, liveRelative)
	s.enqueue(dbq.Op[replyTo]{Kind: dbq.CAS, Sync: true, ID: r.ID, Key: r.Key, Old: r.Old, Val: r.Val, Gen: gen}, rt, sc)
}

// incr works on the cache when cache-only; otherwise the database decides,
// as for cas.
func (s *Server) incr(r *wire.Request, rt *replyTo, sc *[]byte) {
	sh := s.cache.Shard(r.Key)
	sh.Lock()
	if r.CacheOnly() {
		n, cached, ok := sh.Incr(r.Key, r.Delta)
		sh.Unlock()
		s.inc(wire.StatCacheIncr)
		switch {
		case ok:
			s.replyIncr(rt, sc, r.ID, n)
		case cached:
			s.replyCode(rt, sc, r.ID, wire.CodeNoMatch)
		default:
			s.replyCode(rt, sc, r.ID, wire.CodeNotIn)
		}
		return
	}
	sh.Delete(r.Key)
	gen := sh.Gen()
	sh.Unlock()
	s.inc(wire.StatDBIncr)
	s.noteLive(r.Key, liveRelative)
	s.enqueue(dbq.Op[replyTo]{Kind: dbq.Incr, Sync: true, ID: r.ID, Key: r.Key, Delta: r.Delta, Gen: gen}, rt, sc)
}

// enqueue queues op for the database worker, which will answer it. It
// reports false, having answered ERR, when the server is shutting down.
func (s *Server) enqueue(op dbq.Op[replyTo], rt *replyTo, sc *[]byte) bool {
	op.Reply = *rt
	op.Reply.reader = false
	if rt.tc != nil {
		rt.tc.addPending()
		if rt.reader {
			// Push may wait; what is ready goes out meanwhile.
			rt.tc.poke()
		}
	}
	if err := s.q.Push(op); err != nil {
		if rt.tc != nil {
			rt.tc.donePending()
		}
		s.replyErr(rt, sc, op.ID, wire.ErrCodeDB)
		return false
	}
	return true
}

// replyCode sends a reply without payload.
func (s *Server) replyCode(rt *replyTo, sc *[]byte, id uint32, c wire.Code) {
	if rt.quiet {
		return
	}
	b, start := rt.begin(sc)
	b = wire.AppendReply(b, id, c)
	rt.end(sc, b, start)
}

// replyErr sends an ERR reply.
func (s *Server) replyErr(rt *replyTo, sc *[]byte, id uint32, e wire.ErrCode) {
	if rt.quiet {
		return
	}
	b, start := rt.begin(sc)
	b = wire.AppendError(b, id, e)
	rt.end(sc, b, start)
}

// replyValue sends a reply carrying v.
func (s *Server) replyValue(rt *replyTo, sc *[]byte, id uint32, c wire.Code, v []byte) {
	if rt.quiet {
		return
	}
	b, start := rt.begin(sc)
	b = wire.AppendValue(b, id, c, v)
	rt.end(sc, b, start)
}

// replyIncr sends the OK reply to incr.
func (s *Server) replyIncr(rt *replyTo, sc *[]byte, id uint32, n int64) {
	if rt.quiet {
		return
	}
	b, start := rt.begin(sc)
	b = wire.AppendIncr(b, id, n)
	rt.end(sc, b, start)
}
