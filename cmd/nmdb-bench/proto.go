package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// status is what a reply said.
type status uint8

// Reply outcomes.
const (
	stHit    status = iota // a get found the value
	stMiss                 // a get found nothing
	stStored               // a set was acknowledged
	stError                // the server answered with an error
)

// errShort is returned by parse functions when b does not yet hold a whole
// reply; it is never shown to a user.
var errShort = errors.New("short reply")

// proto encodes requests and decodes replies of one server protocol on one
// transport. Implementations keep no per-request state and never allocate.
type proto interface {
	// appendGet appends a get of key, tagged with id where the protocol
	// carries one.
	appendGet(b []byte, id uint32, key []byte) []byte
	// appendSet appends a set of key to val.
	appendSet(b []byte, id uint32, key, val []byte) []byte
	// parse decodes the reply at the front of b and returns its length.
	// It returns errShort when b holds only part of a reply.
	parse(b []byte) (n int, id uint32, st status, err error)
	// ordered reports whether replies come back in request order, so
	// that ids need not be matched.
	ordered() bool
}

// nmdbProto speaks the nmdb wire protocol.
type nmdbProto struct {
	getFlags wire.Flags
	setFlags wire.Flags
	dgram    bool // one message per datagram, no length prefix
}

// newNmdbProto returns the nmdb protocol for a mode: "cache" (cache-only
// requests), "normal", or "sync" (sets wait for the database).
func newNmdbProto(mode string, dgram bool) (*nmdbProto, error) {
	p := &nmdbProto{dgram: dgram}
	switch mode {
	case "cache":
		p.getFlags, p.setFlags = wire.FlagCacheOnly, wire.FlagCacheOnly
	case "normal":
	case "sync":
		p.setFlags = wire.FlagSync
	default:
		return nil, fmt.Errorf("unknown nmdb mode %q (want cache, normal or sync)", mode)
	}
	return p, nil
}

func (p *nmdbProto) appendReq(b []byte, r *wire.Request) []byte {
	start := 0
	if !p.dgram {
		b, start = wire.BeginFrame(b)
	}
	out, err := wire.AppendRequest(b, r)
	if err != nil {
		// Sizes are checked when the benchmark is configured, so this
		// cannot happen; sending nothing would hang the loop, so stop.
		panic(fmt.Sprintf("encoding request: %v", err))
	}
	if !p.dgram {
		out = wire.EndFrame(out, start)
	}
	return out
}

func (p *nmdbProto) appendGet(b []byte, id uint32, key []byte) []byte {
	r := wire.Request{ID: id, Op: wire.OpGet, Flags: p.getFlags, Key: key}
	return p.appendReq(b, &r)
}

func (p *nmdbProto) appendSet(b []byte, id uint32, key, val []byte) []byte {
	r := wire.Request{ID: id, Op: wire.OpSet, Flags: p.setFlags, Key: key, Val: val}
	return p.appendReq(b, &r)
}

func (p *nmdbProto) parse(b []byte) (int, uint32, status, error) {
	msg, n := b, len(b)
	if !p.dgram {
		if len(b) < wire.TCPPrefix {
			return 0, 0, 0, errShort
		}
		l, err := wire.FrameLen(b[:wire.TCPPrefix])
		if err != nil {
			return 0, 0, 0, fmt.Errorf("nmdb reply: %w", err)
		}
		if len(b) < wire.TCPPrefix+l {
			return 0, 0, 0, errShort
		}
		msg, n = b[wire.TCPPrefix:wire.TCPPrefix+l], wire.TCPPrefix+l
	}
	var r wire.Reply
	if err := wire.DecodeReply(msg, &r); err != nil {
		return 0, 0, 0, fmt.Errorf("nmdb reply: %w", err)
	}
	switch r.Code {
	case wire.CodeCacheHit, wire.CodeOK:
		if r.Val != nil {
			return n, r.ID, stHit, nil
		}
		return n, r.ID, stStored, nil
	case wire.CodeCacheMiss, wire.CodeNotIn:
		return n, r.ID, stMiss, nil
	}
	return n, r.ID, stError, nil
}

func (p *nmdbProto) ordered() bool { return false }

// memcacheUDPHeader is the size of the frame header memcached puts before
// every UDP datagram: request id, sequence number, datagram count, reserved.
const memcacheUDPHeader = 8

// memcacheProto speaks memcached's text protocol (get and set).
type memcacheProto struct {
	dgram bool // UDP: every request and reply carries the 8-byte frame header
}

func (p *memcacheProto) header(b []byte, id uint32) []byte {
	if !p.dgram {
		return b
	}
	return append(b, byte(id>>8), byte(id), 0, 0, 0, 1, 0, 0)
}

func (p *memcacheProto) appendGet(b []byte, id uint32, key []byte) []byte {
	b = p.header(b, id)
	b = append(b, "get "...)
	b = append(b, key...)
	return append(b, "\r\n"...)
}

func (p *memcacheProto) appendSet(b []byte, id uint32, key, val []byte) []byte {
	b = p.header(b, id)
	b = append(b, "set "...)
	b = append(b, key...)
	b = append(b, " 0 0 "...)
	b = strconv.AppendInt(b, int64(len(val)), 10)
	b = append(b, "\r\n"...)
	b = append(b, val...)
	return append(b, "\r\n"...)
}

// indexCRLF returns the index of the first "\r\n" in b, or -1.
func indexCRLF(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return -1
		}
		if off+i > 0 && b[off+i-1] == '\r' {
			return off + i - 1
		}
		off += i + 1
	}
}

func (p *memcacheProto) parse(b []byte) (int, uint32, status, error) {
	var id uint32
	off := 0
	if p.dgram {
		if len(b) < memcacheUDPHeader {
			return 0, 0, 0, fmt.Errorf("memcached reply: datagram of %d bytes", len(b))
		}
		id = uint32(binary.BigEndian.Uint16(b))
		if seq, total := binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint16(b[4:]); seq != 0 || total != 1 {
			return 0, 0, 0, fmt.Errorf("memcached reply: datagram %d of %d (multi-datagram replies not supported)", seq, total)
		}
		off = memcacheUDPHeader
	}
	n, st, err := parseMemcacheText(b[off:])
	if err != nil {
		if p.dgram && errors.Is(err, errShort) {
			return 0, 0, 0, fmt.Errorf("memcached reply: truncated datagram")
		}
		return 0, 0, 0, err
	}
	if p.dgram {
		// A datagram is one reply; anything after it is ignored.
		return len(b), id, st, nil
	}
	return n + off, id, st, nil
}

// parseMemcacheText decodes one text-protocol reply to get or set.
func parseMemcacheText(b []byte) (int, status, error) {
	i := indexCRLF(b)
	if i < 0 {
		if len(b) > 1024 {
			return 0, 0, fmt.Errorf("memcached reply: no line end in %d bytes", len(b))
		}
		return 0, 0, errShort
	}
	line := b[:i]
	switch {
	case bytes.Equal(line, []byte("STORED")):
		return i + 2, stStored, nil
	case bytes.Equal(line, []byte("END")):
		return i + 2, stMiss, nil
	case bytes.HasPrefix(line, []byte("VALUE ")):
		sp := bytes.LastIndexByte(line, ' ')
		size, ok := atoiBytes(line[sp+1:])
		if !ok {
			return 0, 0, fmt.Errorf("memcached reply: bad VALUE line %q", line)
		}
		end := i + 2 + size + 2 + len("END\r\n")
		if len(b) < end {
			return 0, 0, errShort
		}
		if !bytes.Equal(b[end-len("\r\nEND\r\n"):end], []byte("\r\nEND\r\n")) {
			return 0, 0, fmt.Errorf("memcached reply: VALUE not followed by END")
		}
		return end, stHit, nil
	case bytes.Equal(line, []byte("ERROR")), bytes.HasPrefix(line, []byte("CLIENT_ERROR")),
		bytes.HasPrefix(line, []byte("SERVER_ERROR")), bytes.Equal(line, []byte("NOT_STORED")):
		return i + 2, stError, nil
	}
	return 0, 0, fmt.Errorf("memcached reply: unexpected line %q", line)
}

func (p *memcacheProto) ordered() bool { return !p.dgram }

// redisProto speaks RESP2 (GET and SET).
type redisProto struct{}

func appendBulk(b, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, "\r\n"...)
	b = append(b, s...)
	return append(b, "\r\n"...)
}

func (redisProto) appendGet(b []byte, _ uint32, key []byte) []byte {
	b = append(b, "*2\r\n$3\r\nGET\r\n"...)
	return appendBulk(b, key)
}

func (redisProto) appendSet(b []byte, _ uint32, key, val []byte) []byte {
	b = append(b, "*3\r\n$3\r\nSET\r\n"...)
	b = appendBulk(b, key)
	return appendBulk(b, val)
}

func (redisProto) parse(b []byte) (int, uint32, status, error) {
	i := indexCRLF(b)
	if i < 0 {
		if len(b) > 1024 {
			return 0, 0, 0, fmt.Errorf("redis reply: no line end in %d bytes", len(b))
		}
		return 0, 0, 0, errShort
	}
	if i == 0 {
		return 0, 0, 0, fmt.Errorf("redis reply: empty line")
	}
	switch b[0] {
	case '+', ':':
		return i + 2, 0, stStored, nil
	case '-':
		return i + 2, 0, stError, nil
	case '$':
		if bytes.Equal(b[:i], []byte("$-1")) {
			return i + 2, 0, stMiss, nil
		}
		size, ok := atoiBytes(b[1:i])
		if !ok {
			return 0, 0, 0, fmt.Errorf("redis reply: bad bulk length %q", b[:i])
		}
		end := i + 2 + size + 2
		if len(b) < end {
			return 0, 0, 0, errShort
		}
		return end, 0, stHit, nil
	}
	return 0, 0, 0, fmt.Errorf("redis reply: unexpected type byte %q", b[0])
}

func (redisProto) ordered() bool { return true }

// atoiBytes parses a non-negative decimal number of at most 9 digits.
func atoiBytes(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
