// Package cluster makes the nmdb servers of one TIPC port a self-healing
// group: one active server answers, mirrors act on every request without
// answering, and when the active goes away exactly one caught-up mirror
// takes its place, by a rule every mirror computes the same way.
//
// Every server of a port binds the service {tipc.ServiceType, port}, the
// name clients send to. Besides it, on the same socket:
//
//   - the active binds {ActiveType, port};
//   - a mirror that has copied what it missed from the active (caught up)
//     binds {MirrorType, port}.
//
// Each server subscribes to both names with the TIPC topology service,
// which reports a name withdrawn when its socket closes, its process exits,
// its node goes down or every link to its node is lost. Elections need no
// messages of their own:
//
//   - When no server binds the active name any more, the caught-up mirror
//     with the lowest socket address (node, then reference; tipc.Less)
//     binds it, turns passive mode off, and unbinds the mirror name.
//   - When two actives meet (a healed partition, or two started at once),
//     each asks the other for its term (a stats request to its socket).
//     The first active of a group has term 1; mirrors keep the highest
//     term they have seen, and a promotion makes it one more. The active
//     with the lower term (for equal terms, the higher socket address)
//     steps down: it unbinds the active name, turns passive mode on, and
//     catches up from the other as a newly joined mirror would.
//   - A server that joins a port with an active (or steps down) copies the
//     active's database (firstkey/nextkey and get, sent to the active's
//     own socket, which classic servers never see) while it keeps acting
//     on the live stream; see nmdb.CatchUp for how the two are kept apart.
//     Only then does it bind the mirror name and become eligible.
//
// Classic nmdb servers bind only the client name: they take no part in
// elections, are never promoted, and are never counted as actives.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nmdb-go/nmdb/nmdb"
	"github.com/nmdb-go/nmdb/nmdb/wire"
	"github.com/nmdb-go/nmdb/tipc"
)

// Service types of the role names (instances are the port numbers, as for
// tipc.ServiceType).
const (
	// ActiveType is bound by the active server of a port.
	ActiveType = 26002
	// MirrorType is bound by a mirror once it has caught up with the
	// active, which makes it eligible to take the active's place.
	MirrorType = 26003
)

// Role is a server's part in its port's group. Its value is what the
// "role" statistics counter holds.
type Role uint32

// Roles.
const (
	// None: not in a group (TIPC is not served).
	None Role = iota
	// Active: answers requests.
	Active
	// Mirror: acts on every request without answering, caught up with
	// the active, eligible to take its place.
	Mirror
	// CatchingUp: acts on every request without answering, copying what
	// it missed from the active, or waiting for an active to copy from;
	// not eligible.
	CatchingUp
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case None:
		return "none"
	case Active:
		return "active"
	case Mirror:
		return "mirror"
	case CatchingUp:
		return "catching up"
	}
	return fmt.Sprintf("Role(%d)", uint32(r))
}

// Subscription handles.
const (
	handleActive = iota + 1
	handleMirror
	handleBarrier
)

// ErrActiveExists is matched by Probe's caller's error when a port already
// has an active server.
var ErrActiveExists = errors.New("the port already has an active server")

// Probe returns the socket addresses of the servers that bind the active
// name of any instance in lower..upper now.
func Probe(lower, upper uint32) ([]tipc.Addr, error) {
	top, err := tipc.OpenTopology()
	if err != nil {
		return nil, err
	}
	defer top.Close()
	if err := top.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if err := top.Subscribe(ActiveType, lower, upper, handleActive); err != nil {
		return nil, err
	}
	if err := top.Barrier(handleBarrier); err != nil {
		return nil, err
	}
	var actives []tipc.Addr
	for {
		ev, err := top.Read()
		if err != nil {
			return nil, fmt.Errorf("cluster: looking for an active server: %w", err)
		}
		switch {
		case ev.Handle == handleBarrier:
			return actives, nil
		case ev.Kind == tipc.Published:
			actives = append(actives, ev.Socket)
		case ev.Kind == tipc.Withdrawn:
			actives = slices.DeleteFunc(actives, func(a tipc.Addr) bool { return a == ev.Socket })
		}
	}
}

// Config configures a Node.
type Config struct {
	// Conn is the server's TIPC socket, bound to {tipc.ServiceType,
	// Lower, Upper}; the role names are bound on it too.
	Conn *tipc.Conn
	// Lower and Upper are the instances the server serves.
	Lower, Upper uint32
	// Mirror starts the node as a mirror that catches up (it must start
	// passive); otherwise it starts active.
	Mirror bool
	// Server is the server the node switches between answering and
	// passive mode.
	Server *nmdb.Server
	// Log receives the node's log; nil discards it.
	Log *slog.Logger
	// RequestTimeout bounds each catch-up request's wait for its reply
	// before it is sent again; 0 means 500 ms.
	RequestTimeout time.Duration
}

// Node is one server's part in its port's group.
type Node struct {
	cfg  Config
	log  *slog.Logger
	top  *tipc.Topology
	self tipc.Addr

	role       atomic.Uint32
	promotions atomic.Uint64
	stepDowns  atomic.Uint64
	catchUps   atomic.Uint64 // catch-ups completed
	copied     atomic.Uint64 // keys stored by catch-ups
	deleted    atomic.Uint64 // keys deleted by catch-ups
	cu         atomic.Pointer[nmdb.CatchUp]
	term       atomic.Uint64 // an active's own term; a mirror's, the highest it learned

	// Owned by the run loop.
	actives  map[tipc.Addr]bool   // other servers binding the active name
	mirrors  map[tipc.Addr]bool   // servers binding the mirror name (self too)
	terms    map[tipc.Addr]uint64 // the terms of those actives, once asked
	asking   map[tipc.Addr]bool   // actives whose term is being asked
	retry    bool                 // a question failed: ask again a little later
	catching *catchRun            // the catch-up under way, or nil

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// catchRun is one catch-up from one active.
type catchRun struct {
	from   tipc.Addr
	cancel context.CancelFunc
}

// Start opens the node's topology subscriptions, takes the role cfg asks
// for (binding the active name, or beginning to catch up) and runs the
// node until Stop.
func Start(cfg Config) (*Node, error) {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 500 * time.Millisecond
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	self, err := cfg.Conn.SocketAddr()
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	top, err := tipc.OpenTopology()
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n := &Node{
		cfg:     cfg,
		log:     log.With("port", cfg.Lower),
		top:     top,
		self:    *self,
		actives: make(map[tipc.Addr]bool),
		mirrors: make(map[tipc.Addr]bool),
		terms:   make(map[tipc.Addr]uint64),
		asking:  make(map[tipc.Addr]bool),
		done:    make(chan struct{}),
	}
	for _, s := range []struct {
		typ    uint32
		handle uint64
	}{{ActiveType, handleActive}, {MirrorType, handleMirror}} {
		if err := top.Subscribe(s.typ, cfg.Lower, cfg.Upper, s.handle); err != nil {
			top.Close()
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	if cfg.Mirror {
		n.setRole(CatchingUp)
	} else {
		if err := n.bind(ActiveType); err != nil {
			top.Close()
			return nil, err
		}
		n.setRole(Active)
		n.term.Store(1)
	}
	cfg.Server.SetGroupStats(func() nmdb.GroupStats {
		st := n.Stats()
		g := nmdb.GroupStats{Promotions: st.Promotions, StepDowns: st.StepDowns,
			CatchUpKeys: st.Copied + st.Deleted, CatchUps: st.CatchUps, Term: n.term.Load()}
		switch st.Role {
		case Mirror:
			g.Role = wire.RoleMirror
		case CatchingUp:
			g.Role = wire.RoleCatchingUp
		}
		return g
	})
	events := make(chan tipc.Event, 64)
	n.wg.Add(2)
	go n.read(events)
	go n.run(events)
	return n, nil
}

// Role returns the node's role now.
func (n *Node) Role() Role { return Role(n.role.Load()) }

// Stats are a node's counters.
type Stats struct {
	Role       Role
	Promotions uint64 // times this server became active after a failure
	StepDowns  uint64 // times it stepped down, meeting another active
	CatchUps   uint64 // catch-ups completed
	Copied     uint64 // keys stored by catch-ups, the one under way too
	Deleted    uint64 // keys deleted by catch-ups, the one under way too
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	st := Stats{
		Role:       n.Role(),
		Promotions: n.promotions.Load(),
		StepDowns:  n.stepDowns.Load(),
		CatchUps:   n.catchUps.Load(),
		Copied:     n.copied.Load(),
		Deleted:    n.deleted.Load(),
	}
	if cu := n.cu.Load(); cu != nil {
		c, d := cu.Counts()
		st.Copied += c
		st.Deleted += d
	}
	return st
}

// Stop ends the node's subscriptions and any catch-up. It leaves the
// names bound: they go with the socket. A nil Node does nothing.
func (n *Node) Stop() {
	if n == nil {
		return
	}
	n.stopOnce.Do(func() {
		close(n.done)
		n.top.Close()
	})
	n.wg.Wait()
}

func (n *Node) setRole(r Role) {
	n.role.Store(uint32(r))
}

func (n *Node) bind(typ uint32) error {
	if err := n.cfg.Conn.Bind(typ, n.cfg.Lower, n.cfg.Upper); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

func (n *Node) unbind(typ uint32) {
	if err := n.cfg.Conn.Unbind(typ, n.cfg.Lower, n.cfg.Upper); err != nil {
		n.log.Error("unbinding a role name", "type", typ, "err", err)
	}
}

// read passes the topology events on until the connection closes.
func (n *Node) read(events chan<- tipc.Event) {
	defer n.wg.Done()
	defer close(events)
	for {
		ev, err := n.top.Read()
		if err != nil {
			select {
			case <-n.done:
			default:
				n.log.Error("topology service lost: no more elections", "err", err)
			}
			return
		}
		events <- ev
	}
}

// catchDone is the end of a catch-up.
type catchDone struct {
	run *catchRun
	err error
}

// run is the node's loop: it keeps the view of the group and acts on it.
func (n *Node) run(events <-chan tipc.Event) {
	defer n.wg.Done()
	finished := make(chan catchDone, 1)
	answers := make(chan termAnswer, 8)
	defer func() {
		if n.catching != nil {
			n.catching.cancel()
			d := <-finished
			n.endCatchUp(d)
		}
	}()
	for {
		var retry <-chan time.Time
		if n.retry {
			retry = time.After(termRetry)
		}
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			n.apply(ev)
		case d := <-finished:
			n.endCatchUp(d)
		case a := <-answers:
			delete(n.asking, a.from)
			switch {
			case a.err != nil:
				if n.actives[a.from] {
					n.log.Warn("cannot learn an active server's term; asking again", "server", a.from.String(), "err", a.err)
					n.retry = true
				}
			case n.actives[a.from]:
				n.terms[a.from] = a.term
			}
		case <-retry:
			n.retry = false
		}
		n.askTerms(answers)
		n.decide(finished)
	}
}

// apply updates the view with one event.
func (n *Node) apply(ev tipc.Event) {
	var set map[tipc.Addr]bool
	switch ev.Handle {
	case handleActive:
		if ev.Socket == n.self {
			return
		}
		set = n.actives
	case handleMirror:
		set = n.mirrors
	default:
		return
	}
	switch ev.Kind {
	case tipc.Published:
		set[ev.Socket] = true
	case tipc.Withdrawn:
		delete(set, ev.Socket)
		if ev.Handle == handleActive {
			delete(n.terms, ev.Socket)
			n.log.Info("active server gone", "server", ev.Socket.String())
		}
	}
}

// lowest returns the lowest address in set.
func lowest(set map[tipc.Addr]bool) (tipc.Addr, bool) {
	var min tipc.Addr
	found := false
	for a := range set {
		if !found || tipc.Less(a, min) {
			min, found = a, true
		}
	}
	return min, found
}

// termRetry is how long a node waits before it asks again for a term it
// could not learn.
const termRetry = 500 * time.Millisecond

// known reports whether the terms of every other active are known.
func (n *Node) known() bool {
	for a := range n.actives {
		if _, ok := n.terms[a]; !ok {
			return false
		}
	}
	return true
}

// beats reports whether active a (of term ta) wins over active b (of term
// tb): the higher term wins, and for equal terms the lower socket address.
// Every node computes the same answer.
func beats(a tipc.Addr, ta uint64, b tipc.Addr, tb uint64) bool {
	if ta != tb {
		return ta > tb
	}
	return tipc.Less(a, b)
}

// best returns the other active that wins over the rest, once every other
// active's term is known.
func (n *Node) best() (tipc.Addr, bool) {
	if !n.known() {
		return tipc.Addr{}, false
	}
	var win tipc.Addr
	found := false
	for a := range n.actives {
		if !found || beats(a, n.terms[a], win, n.terms[win]) {
			win, found = a, true
		}
	}
	return win, found
}

// askTerms asks every other active whose term is not known for it.
func (n *Node) askTerms(answers chan<- termAnswer) {
	if n.retry {
		return
	}
	for a := range n.actives {
		if _, ok := n.terms[a]; ok || n.asking[a] {
			continue
		}
		n.asking[a] = true
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			t, err := askTerm(n.done, a, n.cfg.RequestTimeout)
			select {
			case answers <- termAnswer{from: a, term: t, err: err}:
			case <-n.done:
			}
		}()
	}
}

// decide acts on the view.
func (n *Node) decide(finished chan catchDone) {
	if n.Role() != Active {
		// A mirror's term is the highest it has seen: a promotion
		// makes it one more.
		for a := range n.actives {
			if t, ok := n.terms[a]; ok && t > n.term.Load() {
				n.term.Store(t)
			}
		}
	}
	switch n.Role() {
	case Active:
		other, ok := n.best()
		if ok && beats(other, n.terms[other], n.self, n.term.Load()) {
			n.unbind(ActiveType)
			n.cfg.Server.SetPassive(true)
			n.setRole(CatchingUp)
			n.stepDowns.Add(1)
			n.log.Warn("two active servers on the port: stepping down to a mirror; the other has the higher term (or the same and the lower socket address) and keeps answering",
				"self", n.self.String(), "term", n.term.Load(), "other", other.String(), "other_term", n.terms[other])
		}
	case Mirror:
		if len(n.actives) > 0 {
			return
		}
		if winner, ok := lowest(n.mirrors); ok && winner == n.self {
			if err := n.bind(ActiveType); err != nil {
				n.log.Error("cannot become active", "err", err)
				return
			}
			n.term.Add(1)
			n.cfg.Server.SetPassive(false)
			n.unbind(MirrorType)
			n.setRole(Active)
			n.promotions.Add(1)
			n.log.Warn("promoted to active: the active server went away and this is the caught-up mirror with the lowest socket address",
				"self", n.self.String(), "mirrors", len(n.mirrors), "term", n.term.Load())
		}
	}
	if n.Role() != CatchingUp {
		return
	}
	from, ok := n.best()
	if n.catching != nil {
		if !ok || n.catching.from != from {
			// The active we copy from went away (or a lower one came):
			// start again from whoever is active next.
			n.catching.cancel()
		}
		return
	}
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &catchRun{from: from, cancel: cancel}
	n.catching = run
	cu := n.cu.Load()
	if cu == nil {
		cu = n.cfg.Server.StartCatchUp()
		n.cu.Store(cu)
	}
	n.log.Info("catching up with the active server", "active", from.String())
	go func() {
		finished <- catchDone{run: run, err: n.copyFrom(ctx, from, cu)}
	}()
}

// endCatchUp takes the result of a catch-up.
func (n *Node) endCatchUp(d catchDone) {
	d.run.cancel()
	n.catching = nil
	if d.err != nil {
		n.log.Warn("catch-up interrupted; it starts again when there is an active server", "from", d.run.from.String(), "err", d.err)
		return
	}
	cu := n.cu.Swap(nil)
	cu.Finish()
	c, del := cu.Counts()
	n.copied.Add(c)
	n.deleted.Add(del)
	n.catchUps.Add(1)
	if n.Role() != CatchingUp {
		return
	}
	if err := n.bind(MirrorType); err != nil {
		n.log.Error("cannot become an eligible mirror", "err", err)
		return
	}
	n.setRole(Mirror)
	n.log.Info("caught up: mirror, eligible to take over", "from", d.run.from.String(), "stored", c, "deleted", del)
}
