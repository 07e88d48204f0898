package cluster

import (
	"testing"

	"github.com/nmdb-go/nmdb/tipc"
)

// Every node must compute the same winner between two actives, whichever
// side it looks from.
func TestBeats(t *testing.T) {
	a := *tipc.SocketAddr(5, 0x100)
	b := *tipc.SocketAddr(1, 0x200)
	for _, c := range []struct {
		ta, tb uint64
		aWins  bool
	}{
		{1, 1, true},  // equal terms: the lower node address
		{1, 2, false}, // the newer term, whatever the address
		{3, 2, true},
	} {
		if got := beats(a, c.ta, b, c.tb); got != c.aWins {
			t.Errorf("beats(a@%d, b@%d) = %v, want %v", c.ta, c.tb, got, c.aWins)
		}
		if got := beats(b, c.tb, a, c.ta); got == c.aWins {
			t.Errorf("beats(b@%d, a@%d) = %v: both sides would win or both lose", c.tb, c.ta, got)
		}
	}
	n := &Node{
		actives: map[tipc.Addr]bool{a: true, b: true},
		terms:   map[tipc.Addr]uint64{a: 2},
	}
	if _, ok := n.best(); ok {
		t.Error("best chose before every term was known")
	}
	n.terms[b] = 2
	if w, ok := n.best(); !ok || w != a {
		t.Errorf("best = %v, %v; want %v", &w, ok, &a)
	}
	if w, ok := lowest(map[tipc.Addr]bool{a: true, b: true}); !ok || w != a {
		t.Errorf("lowest = %v", &w)
	}
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{None: "none", Active: "active", Mirror: "mirror", CatchingUp: "catching up", Role(9): "Role(9)"} {
		if r.String() != want {
			t.Errorf("%d: %q, want %q", uint32(r), r.String(), want)
		}
	}
}
