package libnmdb

import (
	"context"
	"sync/atomic"
)

// A server has one link, or with Options.LinksPerServer above one, up to
// that many: a call that finds the links it tries in use by other calls
// goes on the next one, opened when first needed, so that calls made at
// the same time each have a link to themselves and take the direct path
// (see waitAlone). When every link is in use, calls share the first one,
// as they share the only one by default. Links other than the first are
// kept in s.more; each counts the calls that picked it (link.users).

// pick returns the link for a call to s, which the caller hands back with
// unpick once done with it.
func (s *server) pick(ctx context.Context) (*link, error) {
	ln, err := s.link(ctx)
	if err != nil || s.c.opts.LinksPerServer <= 1 || s.blk != nil {
		// With connections in blocking mode, the calls they leave over
		// share the first link.
		return ln, err
	}
	if ln.users.CompareAndSwap(0, 1) {
		return ln, nil
	}
	more := s.moreLinks()
	for i := range more {
		l := more[i].Load()
		if l == nil || l.dead.Load() {
			if l = s.openMore(ctx, &more[i]); l == nil {
				break
			}
		}
		if l.users.CompareAndSwap(0, 1) {
			return l, nil
		}
	}
	ln.users.Add(1)
	return ln, nil
}

// unpick hands back a link that pick returned.
func (s *server) unpick(ln *link) {
	if s.c.opts.LinksPerServer > 1 && s.blk == nil {
		ln.users.Add(-1)
	}
}

// moreLinks returns the places of the links after the first, made when
// first needed.
func (s *server) moreLinks() []atomic.Pointer[link] {
	if p := s.more.Load(); p != nil {
		return *p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.more.Load(); p != nil {
		return *p
	}
	more := make([]atomic.Pointer[link], s.c.opts.LinksPerServer-1)
	s.more.Store(&more)
	return more
}

// openMore returns the live link at at, connecting one if there is none
// or the last one broke; nil if the server is closed or cannot be
// reached, the call then shares the first link.
func (s *server) openMore(ctx context.Context, at *atomic.Pointer[link]) *link {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if ln := at.Load(); ln != nil && !ln.dead.Load() {
		return ln
	}
	ln, err := s.open(ctx)
	if err != nil {
		s.c.log.Debug("nmdb: another link not opened", "server", s.name, "err", err)
		return nil
	}
	at.Store(ln)
	return ln
}

// closeMore fails the links after the first with ErrClosed. Called with
// s.mu held.
func (s *server) closeMore() {
	p := s.more.Load()
	if p == nil {
		return
	}
	for i := range *p {
		if ln := (*p)[i].Load(); ln != nil {
			ln.fail(ErrClosed)
		}
	}
}
