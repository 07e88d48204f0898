package libnmdb

import (
	"fmt"
	"runtime"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// writeLoop takes over writing from a caller when requests queued up
// during its write, and writes whatever is queued, all of it at once,
// until nothing is.
func (ln *link) writeLoop() {
	var out []byte
	for {
		select {
		case <-ln.wake:
		case <-ln.quit:
			return
		}
		for {
			ln.mu.Lock()
			if len(ln.wbuf) == 0 {
				ln.writing = false
				ln.mu.Unlock()
				break
			}
			out, ln.wbuf = ln.wbuf, out[:0]
			ln.mu.Unlock()
			if err := ln.t.write(out); err != nil {
				ln.fail(fmt.Errorf("%w: write: %w", ErrConnLost, err))
				return
			}
			if cap(out) > 1<<20 {
				out = nil // do not keep a burst's buffer forever
			}
		}
	}
}

// sendStream frames req, already registered, into the stream's output
// buffer and writes it, unless a write is under way, which then carries
// it. yield lets other callers queue requests first (see below); a call
// alone on the link does not. Called with mu held; returns with it
// released.
func (ln *link) sendStream(req *wire.Request, yield bool) {
	var start int
	ln.wbuf, start = wire.BeginFrame(ln.wbuf)
	ln.wbuf, _ = wire.AppendRequest(ln.wbuf, req) // sizes checked by the caller
	ln.wbuf = wire.EndFrame(ln.wbuf, start)
	if ln.writing {
		// A write is under way; what it leaves queued goes in the
		// next one.
		ln.mu.Unlock()
		return
	}
	// Nobody is writing: write now, from this goroutine. First let
	// the callers woken by the same burst of replies run, so that
	// they queue their requests and one write carries them all;
	// alone, the yield returns at once.
	ln.writing = true
	if yield {
		ln.mu.Unlock()
		runtime.Gosched()
		ln.mu.Lock()
	}
	out := ln.wbuf
	ln.wbuf, ln.spare = ln.spare[:0], nil
	ln.mu.Unlock()
	err := ln.t.write(out)
	ln.mu.Lock()
	ln.spare = out[:0]
	more := len(ln.wbuf) > 0
	if !more {
		ln.writing = false
	}
	ln.mu.Unlock()
	if err != nil {
		// The call is pending: fail signals it.
		ln.fail(fmt.Errorf("%w: write: %w", ErrConnLost, err))
	} else if more {
		// Requests queued meanwhile: the writer goroutine writes
		// them, and what comes while it does, so that this caller
		// gets on with waiting for its reply.
		ln.s.c.writerWakes.Add(1)
		select {
		case ln.wake <- struct{}{}:
		case <-ln.quit:
		}
	}
}
