// Package libnmdb is the Go client for nmdb, a distributed cache in front of
// a persistent database.
//
// A Client holds any number of servers reached over TIPC, TCP, UDP or SCTP.
// Each request goes to one server picked from its key alone by the
// client's sharding rule (Options.Sharding). The default is the rule of
// the classic C library (see Select), so Go programs and C programs built
// on libnmdb share one cluster; ShardingRendezvous spreads keys evenly and
// moves few of them when servers are added or removed. Sharding compares
// the trade-off, with measurements.
//
// Every operation comes in the modes of the protocol: normal (cache and
// database; writes are acknowledged once queued), sync (writes acknowledged
// once the database has them) and cache-only (the database is never
// touched). Results follow Go habits: a value and ErrNotFound, sentinel
// errors for the other outcomes, and server ERR replies as *ServerError,
// matchable with errors.Is against ErrReadOnly, ErrDB and friends.
//
// A Client is safe for concurrent use. Concurrent calls share one connection
// per server with many requests in flight (one at a time to a classic nmdb
// server, found out from its stats reply when connecting, since it loses
// replies to requests that arrive together), matched by request id; requests
// made while a write is under way are written together in one system call.
// A call with nothing else in flight on its connection writes its request
// and reads the reply itself, on the calling goroutine.
// Every call honours its context's deadline; a context without one gets
// Options.Timeout.
//
// Datagram transports (UDP, TIPC) may lose messages: requests that are safe
// to repeat are sent again until their deadline, the others fail with a
// timeout error that says they were not repeated. A TCP connection that
// breaks fails the calls waiting on it and is dialled again later.
//
// Servers may come and go. Adding a server sends nothing, so it fails
// only for a bad address; the server is connected on first use. A server
// that could not be reached or did not reply in time is marked down: calls
// for its keys fail at once with ErrServerDown for a back-off period that
// grows while it stays down (Options.Backoff, Options.MaxBackoff), one
// call at a time probes it, and the first reply brings it back. Keys never
// move to other servers because one is down.
//
// Package memo, below this one, shares the results of a Go function between
// every process of a cluster through the cache-only mode.
package libnmdb
