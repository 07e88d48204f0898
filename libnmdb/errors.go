package libnmdb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// Outcomes of operations that are not failures of the client or server.
var (
	// ErrNotFound means the key is not there: not in the database, or not
	// in the cache for cache-only requests; for FirstKey and NextKey, that
	// there are no more keys.
	ErrNotFound = errors.New("nmdb: not found")
	// ErrNoMatch means a CAS found a value different from the expected one.
	ErrNoMatch = errors.New("nmdb: value does not match")
	// ErrNotNumber means Incr found a value that is not a counter.
	ErrNotNumber = errors.New("nmdb: value is not a number")
	// ErrOneServer means FirstKey, NextKey or Keys was called on a client
	// that does not hold exactly one server.
	ErrOneServer = errors.New("nmdb: key iteration needs exactly one server")
	// ErrNoServers means an operation was called on a client with no servers.
	ErrNoServers = errors.New("nmdb: no servers")
	// ErrClosed means the client was closed.
	ErrClosed = errors.New("nmdb: client closed")
	// ErrConnLost means the connection to a server broke while a request
	// was waiting for its reply; the request may or may not have been
	// carried out. The next call dials the server again.
	ErrConnLost = errors.New("nmdb: connection to server lost")
	// ErrServerDown means the call was not made because its server is
	// marked down: a call to it failed or timed out lately, and it is
	// skipped until its back-off period passes (see Options.Backoff).
	// Such calls fail at once, without waiting for a timeout.
	ErrServerDown = errors.New("nmdb: server marked down")
	// ErrTooBig means a key or value exceeds the protocol limits
	// (wire.MaxData bytes each, and together).
	ErrTooBig = wire.ErrTooBig
	// ErrNotNMDB means what came back on a stream connection is not an
	// nmdb message (a length prefix out of bounds, a header that does not
	// decode): the address is likely some other service. The connection
	// is closed, so the error also matches ErrConnLost.
	ErrNotNMDB = errors.New("nmdb: the reply is not an nmdb message (not an nmdb server?)")
	// ErrUnexpectedReply means the server sent a reply that does not fit
	// the request.
	ErrUnexpectedReply = errors.New("nmdb: unexpected reply")
)

// Server error codes, as carried by ERR replies. A *ServerError matches the
// one for its code with errors.Is.
var (
	// ErrVersion means the server does not speak this protocol version.
	ErrVersion error = wire.ErrCodeVersion
	// ErrSend means the server failed to send.
	ErrSend error = wire.ErrCodeSend
	// ErrBroken means the server found the request malformed.
	ErrBroken error = wire.ErrCodeBroken
	// ErrUnknown means the server does not know the request.
	ErrUnknown error = wire.ErrCodeUnknown
	// ErrMemory means the server ran out of memory.
	ErrMemory error = wire.ErrCodeMemory
	// ErrDB means the server's database failed.
	ErrDB error = wire.ErrCodeDB
	// ErrReadOnly means the server is read-only and refused a write.
	ErrReadOnly error = wire.ErrCodeReadOnly
)

// ServerError is an ERR reply from a server.
type ServerError struct {
	Server string       // the server that replied, e.g. "tcp 10.0.0.1:26010"
	Op     wire.Op      // the request it refused
	Code   wire.ErrCode // the error code it sent
}

// Error describes the error, as in "nmdb: set on tcp 10.0.0.1:26010:
// server is read-only (error 0x107)".
func (e *ServerError) Error() string {
	// The code's own text carries the package prefix, said once here.
	what := strings.TrimPrefix(e.Code.Error(), "nmdb: ")
	return fmt.Sprintf("nmdb: %v on %s: %s (error %#x)", e.Op, e.Server, what, uint32(e.Code))
}

// Unwrap returns the error code, so that errors.Is(err, ErrReadOnly) and
// the like work.
func (e *ServerError) Unwrap() error { return e.Code }
