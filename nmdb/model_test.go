package nmdb

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nmdb-go/nmdb/internal/testkit"
	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestOrderingModel runs random concurrent operations against a map model:
// each goroutine owns its keys, so it knows what every answer must be. The
// cache is tiny so that keys are evicted all the time and reads go to the
// queue; some writes are followed by a read without waiting for the
// write's reply.
func TestOrderingModel(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{CacheObjects: 5}})
	const workers, keys = 6, 6
	ops := 400
	if testing.Short() {
		ops = 100
	}
	t.Run("workers", func(t *testing.T) {
		for w := range workers {
			t.Run(fmt.Sprint(w), func(t *testing.T) {
				t.Parallel()
				c := testkit.Dial(t, "tcp", ts.tcp)
				modelWorker(t, c, w, keys, ops)
			})
		}
	})
	if ts.stat(wire.StatDBHits) == 0 || ts.stat(wire.StatCacheHits) == 0 {
		t.Fatalf("model run missed the cache or the database entirely: %v", ts.s.Stats())
	}
}

// modelWorker does ops random operations on its own keys.
func modelWorker(t *testing.T, c *client, w, keys, ops int) {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	model := map[string]string{}
	randVal := func() string {
		if rng.IntN(2) == 0 {
			return counterVal(rng.Int64N(1000) - 500)
		}
		return fmt.Sprintf("text-%d", rng.IntN(1000))
	}
	for i := range ops {
		k := fmt.Sprintf("w%d-k%d", w, rng.IntN(keys))
		cur, present := model[k]
		what := fmt.Sprintf("worker %d op %d key %s", w, i, k)
		wantGet := func(r wire.Reply, cacheOnly bool) {
			t.Helper()
			switch {
			case cacheOnly && r.Code == wire.CodeCacheMiss:
			case present && (r.Code == wire.CodeOK && !cacheOnly || r.Code == wire.CodeCacheHit) && string(r.Val) == cur:
			case !present && r.Code == wire.CodeNotIn && !cacheOnly:
			default:
				t.Fatalf("%s: get%s got %v %q, model has %q (present %v)",
					what, map[bool]string{true: " (cache only)"}[cacheOnly], r.Code, r.Val, cur, present)
			}
		}
		switch op := rng.IntN(11); op {
		case 0, 1:
			v := randVal()
			f := normal
			if op == 1 {
				f = syncF
			}
			expect(t, what+" set", c.Do(setReq(k, v, f)), wire.CodeOK)
			model[k] = v
		case 2:
			expect(t, what+" del", c.Do(delReq(k, normal)), wire.CodeOK)
			delete(model, k)
		case 3:
			want := wire.CodeNotIn
			if present {
				want = wire.CodeOK
			}
			expect(t, what+" del sync", c.Do(delReq(k, syncF)), want)
			delete(model, k)
		case 4:
			wantGet(c.Do(getReq(k, normal)), false)
		case 5:
			wantGet(c.Do(getReq(k, cOnly)), true)
		case 6:
			old := cur
			if rng.IntN(3) == 0 {
				old = randVal()
			}
			v := randVal()
			r := c.Do(casReq(k, old, v, normal))
			switch {
			case !present:
				expect(t, what+" cas absent", r, wire.CodeNotIn)
			case old != cur:
				expect(t, what+" cas differs", r, wire.CodeNoMatch)
			default:
				expect(t, what+" cas", r, wire.CodeOK)
				model[k] = v
			}
		case 7:
			d := rng.Int64N(100) - 50
			r := c.Do(incrReq(k, d, normal))
			n, isNum := wire.ParseCounter([]byte(cur))
			switch {
			case !present:
				expect(t, what+" incr absent", r, wire.CodeNotIn)
			case !isNum:
				expect(t, what+" incr text", r, wire.CodeNoMatch)
			default:
				expect(t, what+" incr", r, wire.CodeOK)
				if got, _ := r.Int64(); got != n+d {
					t.Fatalf("%s: incr gave %d, want %d", what, got, n+d)
				}
				model[k] = counterVal(n + d)
			}
		case 10:
			// A read that misses, then a write and a read behind it, all
			// in flight: the first read's answer must not be cached over
			// the write.
			v := randVal()
			g1 := c.Send(getReq(k, normal))
			sid := c.Send(setReq(k, v, normal))
			g2 := c.Send(getReq(k, normal))
			for range 3 {
				r := c.Recv()
				switch r.ID {
				case g1:
					wantGet(r, false)
				case sid:
					expect(t, what+" pipelined set", r, wire.CodeOK)
				case g2:
					expectVal(t, what+" get after pipelined set", r, v)
				default:
					t.Fatalf("%s: unexpected reply id %d", what, r.ID)
				}
			}
			model[k] = v
		case 8, 9:
			// A write and a read in flight together: the read must see
			// the write whatever order the replies come in.
			var wid uint32
			if op == 8 {
				v := randVal()
				wid = c.Send(setReq(k, v, normal))
				model[k] = v
			} else {
				wid = c.Send(delReq(k, normal))
				delete(model, k)
			}
			cur, present = model[k]
			gid := c.Send(getReq(k, normal))
			for range 2 {
				r := c.Recv()
				switch r.ID {
				case wid:
					expect(t, what+" pipelined write", r, wire.CodeOK)
				case gid:
					wantGet(r, false)
				default:
					t.Fatalf("%s: unexpected reply id %d", what, r.ID)
				}
			}
		}
	}
}
