// Package wire is the nmdb wire protocol: the one place where requests and
// replies are encoded and decoded, shared by the server and every client.
//
// A message is a fixed 8-byte header followed by a payload. All integers are
// big-endian. Requests carry a 4-bit protocol version and a 28-bit id, a
// request code and flags; replies carry the id, a reply code and a payload
// whose shape depends on the code. Transports carry whole messages; on TCP
// each message is preceded by a 32-bit length that counts itself.
//
// Decoding never allocates: the slices of a decoded Request or Reply alias
// the message they came from, and every size read from the peer is checked
// against the limits and against the message before it is used.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the protocol version carried in the top 4 bits of a request.
const Version = 1

// Limits of the protocol.
const (
	// MaxData is the largest key, value, or sum of the sizes in one request
	// (key+value for set, key+old+new for cas, key+8 for incr).
	MaxData = 65536
	// HeaderSize is the size of both the request and the reply header.
	HeaderSize = 8
	// MaxMessage is the largest message either side may send: MaxData of
	// payload plus room for every header and size field.
	MaxMessage = MaxData + 64
	// TCPPrefix is the size of the length prefix that precedes every
	// message on a TCP stream; the length counts the prefix itself.
	TCPPrefix = 4
	// IDMask selects the 28 id bits of a request header.
	IDMask = 0x0FFFFFFF
)

// Op is a request code.
type Op uint16

// Request codes.
const (
	OpGet      Op = 0x101
	OpSet      Op = 0x102
	OpDel      Op = 0x103
	OpCAS      Op = 0x104
	OpIncr     Op = 0x105
	OpStats    Op = 0x106
	OpFirstKey Op = 0x107
	OpNextKey  Op = 0x108
)

// String returns the classic name of the request code.
func (o Op) String() string {
	switch o {
	case OpGet:
		return "get"
	case OpSet:
		return "set"
	case OpDel:
		return "del"
	case OpCAS:
		return "cas"
	case OpIncr:
		return "incr"
	case OpStats:
		return "stats"
	case OpFirstKey:
		return "firstkey"
	case OpNextKey:
		return "nextkey"
	}
	return fmt.Sprintf("op(%#x)", uint16(o))
}

// Flags modify a request.
type Flags uint16

// Request flags. Flags a request does not use are ignored.
const (
	// FlagCacheOnly makes get, set, del, cas and incr act on the cache alone.
	FlagCacheOnly Flags = 1
	// FlagSync makes set and del answer only once the database has the write.
	FlagSync Flags = 2
	// FlagNoFill, this implementation's own, makes a get leave the cache
	// as it is: a hit does not mark the key used, and a value read from the
	// database is not cached. Readers that walk every key (a dump, a copy)
	// use it so as not to push the working set out of a live server's
	// cache. Classic servers ignore it, as they ignore every flag a request
	// does not use, and serve such a get as any other.
	FlagNoFill Flags = 4
)

// Code is a reply code.
type Code uint32

// Reply codes.
const (
	CodeErr       Code = 0x800
	CodeCacheHit  Code = 0x801
	CodeCacheMiss Code = 0x802
	CodeOK        Code = 0x803
	CodeNotIn     Code = 0x804
	CodeNoMatch   Code = 0x805
)

// String returns a short name for the reply code.
func (c Code) String() string {
	switch c {
	case CodeErr:
		return "ERR"
	case CodeCacheHit:
		return "CACHE_HIT"
	case CodeCacheMiss:
		return "CACHE_MISS"
	case CodeOK:
		return "OK"
	case CodeNotIn:
		return "NOTIN"
	case CodeNoMatch:
		return "NOMATCH"
	}
	return fmt.Sprintf("code(%#x)", uint32(c))
}

// ErrCode is the payload of an ERR reply.
type ErrCode uint32

// Error codes carried by ERR replies.
const (
	ErrCodeVersion  ErrCode = 0x101 // version mismatch
	ErrCodeSend     ErrCode = 0x102 // send failed
	ErrCodeBroken   ErrCode = 0x103 // broken request
	ErrCodeUnknown  ErrCode = 0x104 // unknown request
	ErrCodeMemory   ErrCode = 0x105 // out of memory
	ErrCodeDB       ErrCode = 0x106 // database error
	ErrCodeReadOnly ErrCode = 0x107 // server is read-only
)

// Error makes an ErrCode usable as an error; it names the condition.
func (e ErrCode) Error() string {
	switch e {
	case ErrCodeVersion:
		return "nmdb: protocol version mismatch"
	case ErrCodeSend:
		return "nmdb: server failed to send"
	case ErrCodeBroken:
		return "nmdb: broken request"
	case ErrCodeUnknown:
		return "nmdb: unknown request"
	case ErrCodeMemory:
		return "nmdb: server out of memory"
	case ErrCodeDB:
		return "nmdb: database error"
	case ErrCodeReadOnly:
		return "nmdb: server is read-only"
	}
	return fmt.Sprintf("nmdb: server error %#x", uint32(e))
}

// Decoding errors. A server answers each with the matching ERR reply.
var (
	// ErrVersion means the request's version bits are not Version.
	ErrVersion = errors.New("wire: protocol version mismatch")
	// ErrBroken means the request's sizes do not fit the limits or the
	// message, or the message is shorter than its header.
	ErrBroken = errors.New("wire: broken request")
	// ErrUnknown means the request code is not one of the known ops.
	ErrUnknown = errors.New("wire: unknown request")
	// ErrTooBig means a request to be encoded exceeds the size limits.
	ErrTooBig = errors.New("wire: key or value too big")
	// ErrBadReply means a reply is malformed.
	ErrBadReply = errors.New("wire: malformed reply")
)

// ErrCodeFor maps a decoding error to the error code the server replies
// with.
func ErrCodeFor(err error) ErrCode {
	switch {
	case errors.Is(err, ErrVersion):
		return ErrCodeVersion
	case errors.Is(err, ErrUnknown):
		return ErrCodeUnknown
	default:
		return ErrCodeBroken
	}
}

// Request is a decoded request. Its byte slices alias the message it was
// decoded from.
type Request struct {
	ID    uint32 // low 28 bits of the header
	Op    Op
	Flags Flags
	Key   []byte // get, set, del, cas, incr, nextkey
	Val   []byte // set: the value; cas: the new value
	Old   []byte // cas: the expected old value
	Delta int64  // incr: the increment
}

// CacheOnly reports whether the request carries FlagCacheOnly.
func (r *Request) CacheOnly() bool { return r.Flags&FlagCacheOnly != 0 }

// NoFill reports whether the request carries FlagNoFill.
func (r *Request) NoFill() bool { return r.Flags&FlagNoFill != 0 }

// Sync reports whether the request carries FlagSync.
func (r *Request) Sync() bool { return r.Flags&FlagSync != 0 }

var be = binary.BigEndian

// MessageID returns the id in the header of msg, a request or a reply of
// at least 4 bytes.
func MessageID(msg []byte) uint32 { return be.Uint32(msg) & IDMask }

// DecodeRequest parses msg into r without allocating. On error r.ID is set
// whenever the message holds at least the id, so that the caller can send the
// ERR reply that ErrCodeFor gives; the other fields are unspecified.
func DecodeRequest(msg []byte, r *Request) error {
	*r = Request{}
	if len(msg) >= 4 {
		r.ID = MessageID(msg)
	}
	if len(msg) < HeaderSize || len(msg) > MaxMessage {
		return ErrBroken
	}
	if be.Uint32(msg)>>28 != Version {
		return ErrVersion
	}
	r.Op = Op(be.Uint16(msg[4:]))
	r.Flags = Flags(be.Uint16(msg[6:]))
	p := msg[HeaderSize:]
	switch r.Op {
	case OpStats, OpFirstKey:
		return nil
	case OpGet, OpDel, OpNextKey:
		k, ok := sized(p, 0)
		if !ok {
			return ErrBroken
		}
		r.Key = k
		return nil
	case OpSet:
		if len(p) < 8 {
			return ErrBroken
		}
		ks, vs := uint64(be.Uint32(p)), uint64(be.Uint32(p[4:]))
		if ks > MaxData || vs > MaxData || ks+vs > MaxData || uint64(len(p)-8) < ks+vs {
			return ErrBroken
		}
		r.Key = p[8 : 8+ks : 8+ks]
		r.Val = p[8+ks : 8+ks+vs : 8+ks+vs]
		return nil
	case OpCAS:
		if len(p) < 12 {
			return ErrBroken
		}
		ks, os, ns := uint64(be.Uint32(p)), uint64(be.Uint32(p[4:])), uint64(be.Uint32(p[8:]))
		if ks > MaxData || os > MaxData || ns > MaxData || ks+os+ns > MaxData ||
			uint64(len(p)-12) < ks+os+ns {
			return ErrBroken
		}
		r.Key = p[12 : 12+ks : 12+ks]
		r.Old = p[12+ks : 12+ks+os : 12+ks+os]
		r.Val = p[12+ks+os : 12+ks+os+ns : 12+ks+os+ns]
		return nil
	case OpIncr:
		k, ok := sized(p, 8)
		if !ok {
			return ErrBroken
		}
		r.Key = k
		r.Delta = int64(be.Uint64(p[4+len(k):]))
		return nil
	}
	return ErrUnknown
}

// sized reads a u32 size and that many bytes from p, followed by extra more
// bytes that must be present; key+extra must fit MaxData.
func sized(p []byte, extra int) ([]byte, bool) {
	if len(p) < 4 {
		return nil, false
	}
	n := uint64(be.Uint32(p))
	if n+uint64(extra) > MaxData || uint64(len(p)-4) < n+uint64(extra) {
		return nil, false
	}
	return p[4 : 4+n : 4+n], true
}

// RequestSize returns the encoded size of r, or an error if r exceeds the
// protocol limits.
func RequestSize(r *Request) (int, error) {
	k, v, o := len(r.Key), len(r.Val), len(r.Old)
	switch r.Op {
	case OpStats, OpFirstKey:
		return HeaderSize, nil
	case OpGet, OpDel, OpNextKey:
		if k > MaxData {
			return 0, ErrTooBig
		}
		return HeaderSize + 4 + k, nil
	case OpSet:
		if k > MaxData || v > MaxData || k+v > MaxData {
			return 0, ErrTooBig
		}
		return HeaderSize + 8 + k + v, nil
	case OpCAS:
		if k > MaxData || v > MaxData || o > MaxData || k+v+o > MaxData {
			return 0, ErrTooBig
		}
		return HeaderSize + 12 + k + o + v, nil
	case OpIncr:
		if k+8 > MaxData {
			return 0, ErrTooBig
		}
		return HeaderSize + 4 + k + 8, nil
	}
	return 0, fmt.Errorf("wire: cannot encode %v: %w", r.Op, ErrUnknown)
}

// AppendRequest appends the encoding of r to b. It checks the size limits
// first and appends nothing on error. Only the low 28 bits of r.ID are sent.
func AppendRequest(b []byte, r *Request) ([]byte, error) {
	if _, err := RequestSize(r); err != nil {
		return b, err
	}
	b = be.AppendUint32(b, Version<<28|r.ID&IDMask)
	b = be.AppendUint16(b, uint16(r.Op))
	b = be.AppendUint16(b, uint16(r.Flags))
	switch r.Op {
	case OpGet, OpDel, OpNextKey:
		b = be.AppendUint32(b, uint32(len(r.Key)))
		b = append(b, r.Key...)
	case OpSet:
		b = be.AppendUint32(b, uint32(len(r.Key)))
		b = be.AppendUint32(b, uint32(len(r.Val)))
		b = append(b, r.Key...)
		b = append(b, r.Val...)
	case OpCAS:
		b = be.AppendUint32(b, uint32(len(r.Key)))
		b = be.AppendUint32(b, uint32(len(r.Old)))
		b = be.AppendUint32(b, uint32(len(r.Val)))
		b = append(b, r.Key...)
		b = append(b, r.Old...)
		b = append(b, r.Val...)
	case OpIncr:
		b = be.AppendUint32(b, uint32(len(r.Key)))
		b = append(b, r.Key...)
		b = be.AppendUint64(b, uint64(r.Delta))
	}
	return b, nil
}

// AppendReply appends a reply with no payload (CACHE_MISS, NOTIN, NOMATCH,
// or OK for set, del and cas).
func AppendReply(b []byte, id uint32, c Code) []byte {
	b = be.AppendUint32(b, id&IDMask)
	return be.AppendUint32(b, uint32(c))
}

// AppendError appends an ERR reply carrying e.
func AppendError(b []byte, id uint32, e ErrCode) []byte {
	b = AppendReply(b, id, CodeErr)
	return be.AppendUint32(b, uint32(e))
}

// AppendValue appends a reply (CACHE_HIT, or OK for get, firstkey and
// nextkey) carrying a sized byte string.
func AppendValue(b []byte, id uint32, c Code, v []byte) []byte {
	b = AppendReply(b, id, c)
	b = be.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// AppendIncr appends the OK reply to incr, carrying the new value.
func AppendIncr(b []byte, id uint32, n int64) []byte {
	b = AppendReply(b, id, CodeOK)
	b = be.AppendUint32(b, 8)
	return be.AppendUint64(b, uint64(n))
}

// AppendStats appends the OK reply to stats, carrying the counters.
func AppendStats(b []byte, id uint32, counters []uint64) []byte {
	b = AppendReply(b, id, CodeOK)
	b = be.AppendUint32(b, uint32(8*len(counters)))
	for _, c := range counters {
		b = be.AppendUint64(b, c)
	}
	return b
}

// BeginFrame reserves the TCP length prefix at the end of b and returns b
// and the offset at which the message starts. EndFrame fills it in.
func BeginFrame(b []byte) ([]byte, int) {
	b = append(b, 0, 0, 0, 0)
	return b, len(b)
}

// EndFrame fills in the length prefix reserved by BeginFrame for the message
// that starts at offset start and runs to the end of b.
func EndFrame(b []byte, start int) []byte {
	be.PutUint32(b[start-TCPPrefix:], uint32(len(b)-start+TCPPrefix))
	return b
}

// FrameLen validates a TCP length prefix and returns the length of the
// message that follows it.
func FrameLen(prefix []byte) (int, error) {
	n := be.Uint32(prefix)
	if n < TCPPrefix+4 || n > TCPPrefix+MaxMessage {
		return 0, fmt.Errorf("wire: bad frame length %d: %w", n, ErrBroken)
	}
	return int(n) - TCPPrefix, nil
}

// Reply is a decoded reply. Val aliases the message it was decoded from.
type Reply struct {
	ID   uint32
	Code Code
	// Err is the error code of an ERR reply.
	Err ErrCode
	// Val is the sized payload of CACHE_HIT and OK replies (a value, a key,
	// 8 bytes of incr result, or the stats counters); nil when the reply
	// carries no payload.
	Val []byte
}

// DecodeReply parses msg into r without allocating.
func DecodeReply(msg []byte, r *Reply) error {
	*r = Reply{}
	if len(msg) < HeaderSize || len(msg) > MaxMessage {
		return ErrBadReply
	}
	r.ID = MessageID(msg)
	r.Code = Code(be.Uint32(msg[4:]))
	p := msg[HeaderSize:]
	switch r.Code {
	case CodeErr:
		if len(p) < 4 {
			return ErrBadReply
		}
		r.Err = ErrCode(be.Uint32(p))
	case CodeCacheHit, CodeOK:
		if len(p) == 0 && r.Code == CodeOK {
			return nil
		}
		v, ok := sized(p, 0)
		if !ok && r.Code == CodeOK && len(p) >= 4 && uint64(be.Uint32(p)) == uint64(len(p)-4) {
			// stats replies may exceed MaxData only in theory; accept
			// any payload that exactly fills the message.
			v, ok = p[4:], true
		}
		if !ok {
			return ErrBadReply
		}
		r.Val = v
	case CodeCacheMiss, CodeNotIn, CodeNoMatch:
	default:
		return ErrBadReply
	}
	return nil
}

// Int64 returns the incr result carried by an OK reply to incr.
func (r *Reply) Int64() (int64, error) {
	if len(r.Val) != 8 {
		return 0, ErrBadReply
	}
	return int64(be.Uint64(r.Val)), nil
}

// Counters decodes the stats counters carried by an OK reply to stats,
// appending them to dst.
func (r *Reply) Counters(dst []uint64) ([]uint64, error) {
	if len(r.Val)%8 != 0 {
		return dst, ErrBadReply
	}
	for i := 0; i < len(r.Val); i += 8 {
		dst = append(dst, be.Uint64(r.Val[i:]))
	}
	return dst, nil
}
