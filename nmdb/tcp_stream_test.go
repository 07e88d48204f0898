package nmdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// TestTCPStreamSplits: a pipelined stream of small and large frames is
// answered in order, however the client's writes split it (a byte at a
// time, a prefix cut in two, large frames straddling small ones), while the
// replies are read concurrently.
func TestTCPStreamSplits(t *testing.T) {
	ts := startServer(t, serverOpts{cfg: Config{Backend: "null"}})
	sizes := []int{0, 1, 30, 200, 300, 5000, 60000}
	type step struct {
		req wire.Request
		val string // expected value of a get
	}
	var steps []step
	for i := range 42 {
		key := fmt.Sprintf("k%d", i%7)
		val := string(bytes.Repeat([]byte{byte('a' + i%26)}, sizes[i%len(sizes)]))
		steps = append(steps,
			step{req: setReq(key, val, cOnly)},
			step{req: getReq(key, cOnly), val: val})
	}
	var stream []byte
	for i := range steps {
		steps[i].req.ID = uint32(i + 1)
		msg, err := wire.AppendRequest(nil, &steps[i].req)
		if err != nil {
			t.Fatal(err)
		}
		b, start := wire.BeginFrame(stream)
		stream = wire.EndFrame(append(b, msg...), start)
	}
	for _, mode := range []string{"bytes", "random", "whole"} {
		c := ts.dial()
		rng := rand.New(rand.NewPCG(1, 2))
		done := make(chan error, 1)
		go func() {
			rest := stream
			for len(rest) > 0 {
				n := len(rest)
				switch mode {
				case "bytes":
					n = min(n, 1+len(rest)%3)
					if len(stream)-len(rest) > 4000 {
						n = min(len(rest), 1000)
					}
				case "random":
					n = min(n, 1+rng.IntN(700))
				}
				_ = c.Conn.SetWriteDeadline(time.Now().Add(ioTimeout))
				if _, err := c.Conn.Write(rest[:n]); err != nil {
					done <- err
					return
				}
				rest = rest[n:]
			}
			done <- nil
		}()
		for i, st := range steps {
			r, err := c.TryRecv(ioTimeout)
			if err != nil {
				t.Fatalf("%s: reply %d: %v", mode, i+1, err)
			}
			if r.ID != st.req.ID {
				t.Fatalf("%s: reply id %d, want %d", mode, r.ID, st.req.ID)
			}
			if st.req.Op == wire.OpGet {
				expect(t, mode+" get", r, wire.CodeCacheHit, st.val)
			} else {
				expect(t, mode+" set", r, wire.CodeOK)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("%s: write: %v", mode, err)
		}
	}
	ts.stillServes()
}
